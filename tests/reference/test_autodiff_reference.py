"""Proof tests for reference/autodiff.py: torch autograd in float64 is the oracle, for
reverse mode (backward with retain_grad on every node) and forward mode
(torch.autograd.functional.jvp, tangents of every node).

Value and Dual hold Python floats (IEEE double), so float64 is the only precision that
applies; float32 has no counterpart in this topic.
"""

from __future__ import annotations

import math
import sys

import pytest
import torch

from grader import harness_autodiff as H
from grader.static_check import check_source
from grader.stubgen import make_stub
from reference import autodiff as ref

F64 = torch.float64
TOL = dict(rel=1e-12, abs=1e-12)


# ----------------------------------------------------------------------------- oracle


def _torch_op(op, nodes):
    name = op[0]
    if name in ("add", "sub", "mul", "div"):
        a, b = nodes[op[1]], nodes[op[2]]
        return {"add": a + b, "sub": a - b, "mul": a * b, "div": a / b}[name]
    if name in ("add_c", "sub_c", "mul_c", "div_c", "pow"):
        a, c = nodes[op[1]], op[2]
        return {"add_c": lambda: a + c, "sub_c": lambda: a - c, "mul_c": lambda: a * c,
                "div_c": lambda: a / c, "pow": lambda: a**c}[name]()
    if name in ("radd", "rsub", "rmul", "rdiv"):
        c, a = op[1], nodes[op[2]]
        return {"radd": lambda: c + a, "rsub": lambda: c - a, "rmul": lambda: c * a,
                "rdiv": lambda: c / a}[name]()
    a = nodes[op[1]]
    if name == "neg":
        return -a
    return getattr(torch, name)(a)


def torch_reverse(program):
    """Values and d out / d node of every node, by torch autograd (retain_grad)."""
    nodes = [torch.tensor(float(x), dtype=F64, requires_grad=True) for x in program["inputs"]]
    for op in program["ops"]:
        node = _torch_op(op, nodes)
        node.retain_grad()
        nodes.append(node)
    nodes[-1].backward()
    grads = [0.0 if n.grad is None else float(n.grad) for n in nodes]
    return [float(n.detach()) for n in nodes], grads


def torch_forward(program, seeds):
    """Values and tangents of every node along ``seeds``, by torch's Jacobian-vector
    product (torch.autograd.functional.jvp: the double-backward form of forward mode)."""

    def all_nodes(*leaves):
        nodes = list(leaves)
        for op in program["ops"]:
            nodes.append(_torch_op(op, nodes))
        return tuple(n * 1.0 for n in nodes)  # inputs too, as outputs of their own

    xs = tuple(torch.tensor(float(x), dtype=F64) for x in program["inputs"])
    vs = tuple(torch.tensor(float(s), dtype=F64) for s in seeds)
    values, tangents = torch.autograd.functional.jvp(all_nodes, xs, vs)
    return [float(v) for v in values], [float(t) for t in tangents]


def ref_reverse(program):
    r = H.run_value_program(ref.Value, program)
    assert r["error"] is None, r["error"]
    return r["data"], r["grads"]


def ref_forward(program, seeds):
    r = H.run_dual_program(ref.Dual, program, seeds)
    assert r["error"] is None, r["error"]
    return r["value"], r["tangent"]


def assert_close_lists(got, want, scale=1.0):
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert isinstance(g, float), (k, g)
        assert g == pytest.approx(w, rel=TOL["rel"], abs=TOL["abs"] * scale), (k, g, w)


def check_program(program, seeds=None, scale=1.0, one_hot=True):
    """Reference values and gradients of every node against torch; tangents along
    ``seeds`` and (with ``one_hot``) along every coordinate direction."""
    data, grads = ref_reverse(program)
    t_data, t_grads = torch_reverse(program)
    assert_close_lists(data, t_data, scale)
    assert_close_lists(grads, t_grads, scale)
    n = len(program["inputs"])
    directions = [[1.0 if j == i else 0.0 for j in range(n)] for i in range(n)] if one_hot else []
    for s in ([seeds] if seeds is not None else []) + directions:
        value, tangent = ref_forward(program, s)
        t_value, t_tangent = torch_forward(program, s)
        assert_close_lists(value, t_value, scale)
        assert_close_lists(tangent, t_tangent, scale)


# ----------------------------------------------------------------------------- single operations

POINTS = [-1.7, -0.4, 0.3, 1.25, 2.9]

UNARY = ["neg", "exp", "sin", "cos", "tanh", "sigmoid", "relu"]


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("x", POINTS)
def test_unary_ops(name, x):
    # the op, then a product with a second input so the upstream gradient is not 1
    check_program({"inputs": [x, -0.8], "ops": [[name, 0], ["mul", 2, 1]]}, seeds=[0.7, -1.3])


@pytest.mark.parametrize("x", [0.05, 0.3, 1.25, 7.5])
def test_log(x):
    check_program({"inputs": [x, 1.6], "ops": [["log", 0], ["mul", 2, 1]]}, seeds=[0.7, -1.3])


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("a,b", [(0.7, -1.3), (-2.2, 0.45), (1.5, 1.5)])
def test_binary_ops(name, a, b):
    check_program({"inputs": [a, b, 1.9], "ops": [[name, 0, 1], ["mul", 3, 2]]}, seeds=[0.3, -2.0, 0.5])


@pytest.mark.parametrize("name", ["add_c", "sub_c", "mul_c", "div_c", "radd", "rsub", "rmul", "rdiv"])
@pytest.mark.parametrize("c", [2, -3, 0.5, -2.75])
def test_number_operands(name, c):
    op = [name, 0, c] if name.endswith("_c") else [name, c, 0]
    for x in (-1.3, 0.8):
        check_program({"inputs": [x, -1.1], "ops": [op, ["mul", 2, 1]]}, seeds=[1.4, 0.2])


def test_reflected_forms_compute_c_op_x():
    x = ref.Value(0.5)
    assert (2 - x).data == 1.5
    assert (1 / x).data == 2.0
    assert (3 + x).data == 3.5 and (3 * x).data == 1.5
    d = ref.Dual(0.5, 1.0)
    assert (2 - d).value == 1.5 and (2 - d).tangent == -1.0
    assert (1 / d).value == 2.0 and (1 / d).tangent == -4.0


@pytest.mark.parametrize("n", [2, 3, -1, -2, 0.5, 1.5, -0.5, 1, 0])
@pytest.mark.parametrize("x", [0.35, 1.0, 2.4])
def test_pow_positive_base(n, x):
    check_program({"inputs": [x, 1.3], "ops": [["pow", 0, n], ["mul", 2, 1]]}, seeds=[1.0, 0.5])


@pytest.mark.parametrize("n", [2, 3, -1, -2, 1, 0])
def test_pow_negative_base_integer_exponent(n):
    check_program({"inputs": [-1.6, 1.3], "ops": [["pow", 0, n], ["mul", 2, 1]]}, seeds=[1.0, 0.5])


def test_pow_zero_exponent_at_zero_has_zero_derivative():
    # torch: d/dx x**0 = 0 everywhere, also at x = 0
    check_program({"inputs": [0.0], "ops": [["pow", 0, 0]]})
    check_program({"inputs": [0.0], "ops": [["pow", 0, 2]]})


def test_relu_at_zero_has_zero_derivative():
    check_program({"inputs": [0.0, 2.0], "ops": [["relu", 0], ["mul", 2, 1]]}, seeds=[1.0, 0.0])
    x = ref.Value(0.0)
    y = x.relu()
    y.backward()
    assert y.data == 0.0 and x.grad == 0.0
    assert ref.Dual(0.0, 1.0).relu().tangent == 0.0


@pytest.mark.parametrize("x", [-745.0, -700.0, -50.0, 50.0, 700.0, 1e4])
def test_sigmoid_large_inputs(x):
    check_program({"inputs": [x], "ops": [["sigmoid", 0]]}, scale=1.0)


def test_tanh_large_inputs():
    for x in (-30.0, 25.0):
        check_program({"inputs": [x], "ops": [["tanh", 0]]})


# ----------------------------------------------------------------------------- graph structure


@pytest.mark.parametrize("ops,expected", [
    ([["mul", 0, 0]], [2 * 1.5, 0.0]),  # x*x
    ([["add", 0, 0]], [2.0, 0.0]),  # x+x
    ([["mul", 0, 0], ["mul", 2, 0]], [3 * 1.5**2, 0.0]),  # x*x*x
    ([["mul", 0, 1], ["mul", 0, 1], ["add", 2, 3]], [2 * -0.5, 2 * 1.5]),  # x*y + x*y
])
def test_reused_nodes_accumulate(ops, expected):
    program = {"inputs": [1.5, -0.5], "ops": ops}
    check_program(program)
    _, grads = ref_reverse(program)
    assert grads[:2] == pytest.approx(expected, rel=1e-15)


def test_diamonds():
    # a = sin(x), b = exp(x), c = a * b; and a fork at an inner node: b = sin(x),
    # c = 2b, d = exp(b), e = c * d
    check_program({"inputs": [0.6], "ops": [["sin", 0], ["exp", 0], ["mul", 1, 2]]})
    check_program({"inputs": [0.6], "ops": [["sin", 0], ["mul_c", 1, 2], ["exp", 1], ["mul", 2, 3]]})
    x = ref.Value(0.6)
    b = x.sin()
    e = (b * 2) * b.exp()
    e.backward()
    expected = 2 * math.exp(math.sin(0.6)) * (1 + math.sin(0.6)) * math.cos(0.6)
    assert x.grad == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("x1,x2", [(0.5, -1.2), (1.0, 2.0), (-0.7, 0.3)])
def test_worked_example(x1, x2):
    program = H.worked_example(x1, x2)
    check_program(program)
    v = x1 * x2
    want = [x2 + x2 * math.exp(v), x1 + x1 * math.exp(v) - math.cos(x2)]
    got = ref.reverse_grad(lambda a, b: a * b + (a * b).exp() - b.sin(), [x1, x2])
    assert got == pytest.approx(want, rel=1e-14)
    got = ref.forward_grad(lambda a, b: a * b + (a * b).exp() - b.sin(), [x1, x2])
    assert got == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize("seed", range(24))
def test_random_programs(seed):
    gen = torch.Generator().manual_seed(seed)
    program = H.random_program(gen, 1 + seed % 4, 10 + seed)
    seeds = [float(s) for s in torch.randn(len(program["inputs"]), generator=gen, dtype=F64)]
    _, grads = torch_reverse(program)
    check_program(program, seeds, scale=max(1.0, max(abs(g) for g in grads)), one_hot=False)


def test_random_programs_use_every_operation_and_reuse_nodes():
    gen = torch.Generator().manual_seed(0)
    seen, reused = set(), 0
    for _ in range(30):
        program = H.random_program(gen, 3, 30)
        uses: dict[int, int] = {}
        for op in program["ops"]:
            seen.add(op[0])
            for a in H.node_args(op):
                uses[a] = uses.get(a, 0) + 1
        reused += sum(1 for c in uses.values() if c > 1)
        assert set(range(len(program["inputs"]) + len(program["ops"]) - 1)) <= set(uses)
    assert seen == set(H.AUTODIFF_OPS)
    assert reused > 30


@pytest.mark.parametrize("reuse", [True, False], ids=["reuse", "chain"])
@pytest.mark.parametrize("depth", [500, 3000])
def test_deep_chains(reuse, depth):
    program = H.deep_chain(0.7, depth, reuse)
    assert len(program["ops"]) == depth
    if depth == 500:
        check_program(program)
    else:  # far beyond the recursion limit: the reference's pass is iterative
        assert depth > sys.getrecursionlimit()
        data, grads = ref_reverse(program)
        t_data, t_grads = torch_reverse(program)
        assert_close_lists(grads, t_grads)
        assert_close_lists(data, t_data)


def test_wide_graph():
    xs = [round(0.01 * i - 1.5, 3) for i in range(300)]
    program = H.wide_program(xs)
    _, grads = torch_reverse(program)
    scale = max(abs(g) for g in grads)
    data, grads_ref = ref_reverse(program)
    assert_close_lists(grads_ref, grads, scale)
    value, tangent = ref_forward(program, [1.0] + [0.0] * 299)
    assert_close_lists(value, data, scale)
    assert tangent[-1] == pytest.approx(grads[0], rel=1e-12)


# ----------------------------------------------------------------------------- functions


@pytest.mark.parametrize("seed", range(6))
def test_reverse_and_forward_grad_match_torch(seed):
    gen = torch.Generator().manual_seed(100 + seed)
    program = H.random_program(gen, 2 + seed % 3, 20)
    _, grads = torch_reverse(program)
    n = len(program["inputs"])
    want = grads[:n]
    scale = max(1.0, max(abs(g) for g in want))
    r = H.run_reverse_grad(ref.reverse_grad, program)
    assert r["error"] is None and len(r["calls"]) == 1
    assert_close_lists(r["result"], want, scale)
    f = H.run_forward_grad(ref.forward_grad, program)
    assert f["error"] is None and len(f["calls"]) == n
    assert [c["seeds"] for c in f["calls"]] == [[1.0 if j == i else 0.0 for j in range(n)] for i in range(n)]
    assert_close_lists(f["result"], want, scale)


def test_unused_input_gets_zero():
    program = {"inputs": [0.4, 1.1, -0.3], "ops": [["mul", 0, 2], ["exp", 3]]}
    assert ref.reverse_grad(lambda a, b, c: (a * c).exp(), [0.4, 1.1, -0.3])[1] == 0.0
    assert ref.forward_grad(lambda a, b, c: (a * c).exp(), [0.4, 1.1, -0.3])[1] == 0.0
    check_program(program)


def test_output_is_an_input():
    check_program({"inputs": [0.4, 1.1], "ops": []})
    assert ref.reverse_grad(lambda a, b: b, [0.4, 1.1]) == [0.0, 1.0]
    assert ref.forward_grad(lambda a, b: b, [0.4, 1.1]) == [0.0, 1.0]


def test_grad_functions_return_floats_and_leave_xs_alone():
    xs = [1, 2.5]
    for fn in (ref.reverse_grad, ref.forward_grad):
        out = fn(lambda a, b: a * b + 1, xs)
        assert out == [2.5, 1.0] and all(type(v) is float for v in out)
        assert xs == [1, 2.5]


def test_constant_function_has_zero_gradient():
    assert ref.reverse_grad(lambda a: 3.0, [1.0]) == [0.0]
    assert ref.forward_grad(lambda a: 3.0, [1.0]) == [0.0]


# ----------------------------------------------------------------------------- attributes and errors


def test_attributes():
    v = ref.Value(2)
    assert v.data == 2.0 and v.grad == 0.0
    d = ref.Dual(3)
    assert d.value == 3.0 and d.tangent == 0.0
    assert ref.Dual(3, 2).tangent == 2.0
    y = v * v
    y.backward()
    assert y.grad == 1.0 and v.grad == 4.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="data"):
        ref.Value("1.0")
    with pytest.raises(ValueError, match="value"):
        ref.Dual(None)
    with pytest.raises(ValueError, match="tangent"):
        ref.Dual(1.0, "1")
    with pytest.raises(TypeError):
        ref.Value(2.0) ** ref.Value(2.0)
    with pytest.raises(TypeError):
        ref.Value(2.0) + ref.Dual(1.0)
    with pytest.raises(TypeError):
        ref.Dual(2.0) * "x"


def test_harness_reports_student_failures():
    class NoRsub(ref.Value):
        def __rsub__(self, other):
            raise TypeError("boom")

    r = H.run_value_program(NoRsub, {"inputs": [1.0], "ops": [["rsub", 2, 0]]})
    assert r["error"]["stage"] == "op" and r["error"]["index"] == 1
    r = H.run_value_program(ref.Value, {"inputs": [1.0], "ops": [["relu", 0]]})
    assert r["error"] is None
    r = H.run_reverse_grad(lambda f, xs: [ref.Value(1.0)], {"inputs": [1.0], "ops": []})
    assert r["result"] == [{"not_a_number": "Value"}]


def test_reference_passes_static_check_and_stub_is_empty():
    from pathlib import Path

    source = Path(ref.__file__).read_text(encoding="utf-8")
    assert check_source(source, "autodiff") == []
    stub = make_stub(source, "autodiff")
    namespace: dict = {}
    exec(compile(stub, "autodiff.py", "exec"), namespace)
    with pytest.raises(NotImplementedError):
        namespace["Value"](1.0)
    with pytest.raises(NotImplementedError):
        namespace["Dual"](1.0)
    with pytest.raises(NotImplementedError):
        namespace["reverse_grad"](lambda a: a, [1.0])
