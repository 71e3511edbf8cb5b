"""Public self-check for autodiff.py: a few computations built with your Value and Dual
classes, compared with PyTorch autograd (float64).

A computation is written as a small program (see grader.harness_autodiff): the inputs,
then one operation per line, each making a new node; the last node is the output. The
hidden suite checks much more (every operation, both orders of a number and a Value,
deep and wide graphs, the gradient functions); passing these is a start, not a guarantee.
"""

from __future__ import annotations

import pytest
import torch

F64 = torch.float64


def torch_grads(program):
    """The value of the output and d out / d input for every input, by torch autograd."""
    nodes = [torch.tensor(float(x), dtype=F64, requires_grad=True) for x in program["inputs"]]
    leaves = list(nodes)
    for op in program["ops"]:
        name = op[0]
        if name in ("add", "sub", "mul", "div"):
            a, b = nodes[op[1]], nodes[op[2]]
            node = {"add": a + b, "sub": a - b, "mul": a * b, "div": a / b}[name]
        elif name in ("add_c", "sub_c", "mul_c", "div_c", "pow"):
            a, c = nodes[op[1]], op[2]
            node = {"add_c": a + c, "sub_c": a - c, "mul_c": a * c, "div_c": a / c, "pow": a**c}[name]
        elif name in ("radd", "rsub", "rmul", "rdiv"):
            c, a = op[1], nodes[op[2]]
            node = {"radd": c + a, "rsub": c - a, "rmul": c * a, "rdiv": c / a}[name]
        elif name == "neg":
            node = -nodes[op[1]]
        else:
            node = getattr(torch, name)(nodes[op[1]])
        nodes.append(node)
    grads = torch.autograd.grad(nodes[-1], leaves, allow_unused=True)
    return float(nodes[-1]), [0.0 if g is None else float(g) for g in grads]


def failure(out):
    err = out.get("error") if isinstance(out, dict) else {"type": "no result", "message": ""}
    if not err:
        return None
    where = f" ({err['where']})" if err.get("where") else ""
    return f"{err.get('stage', '')} failed with {err.get('type')}: {err.get('message')}{where}"


def run_value(student, check, program):
    out = student.harness.run_value_program(student.autodiff.Value, program)
    check.that(failure(out) is None, f"building the graph or calling backward(): {failure(out)}")
    return out


def worked_example(x1, x2):
    # f(x1, x2) = x1*x2 + exp(x1*x2) - sin(x2), with v = x1*x2 computed once
    return {"inputs": [x1, x2], "ops": [["mul", 0, 1], ["exp", 2], ["add", 2, 3], ["sin", 1], ["sub", 4, 5]]}


OPS = [
    ["add", 0, 1], ["sub", 0, 1], ["mul", 0, 1], ["div", 0, 1], ["neg", 0],
    ["pow", 0, 3], ["pow", 0, 0.5], ["exp", 0], ["log", 0], ["sin", 0], ["cos", 0], ["tanh", 0],
    ["sigmoid", 0], ["relu", 0], ["rsub", 2, 0], ["rdiv", 1, 0], ["add_c", 0, 1.5], ["rmul", 3, 0],
]


@pytest.mark.parametrize("op", OPS, ids=[f"{op[0]}-{i}" for i, op in enumerate(OPS)])
def test_value_operations(student, check, op):
    # the operation, then a product with 1.7, so the gradient arriving at it is not 1
    program = {"inputs": [1.3, -0.6], "ops": [op, ["mul_c", 2, 1.7]]}
    value, grads = torch_grads(program)
    out = run_value(student, check, program)
    check.close(out["data"][-1], value, what=f"the value of ({op[0]} ...) * 1.7")
    check.close(out["grads"][:2], grads, what=f"[x0.grad, x1.grad] for ({op[0]} ...) * 1.7")


def test_value_relu_at_zero(student, check):
    out = run_value(student, check, {"inputs": [0.0], "ops": [["relu", 0]]})
    check.close(out["grads"][0], 0.0, what="x.grad for relu(x) at x = 0",
                hint="the derivative of relu at 0 is 0, as in torch")


def test_value_reused_node(student, check):
    # f(x) = x*x + x: x is used three times, f'(x) = 2x + 1
    out = run_value(student, check, {"inputs": [1.5], "ops": [["mul", 0, 0], ["add", 1, 0]]})
    check.close(out["grads"][0], 4.0, what="x.grad for x*x + x at x = 1.5",
                hint="accumulate with +=: every use of a node adds its contribution")


def test_value_diamond(student, check):
    # b = sin(x) feeds both c = 2b and d = exp(b); e = c * d
    program = {"inputs": [0.6], "ops": [["sin", 0], ["mul_c", 1, 2], ["exp", 1], ["mul", 2, 3]]}
    _, grads = torch_grads(program)
    out = run_value(student, check, program)
    check.close(out["grads"][0], grads[0], what="x.grad for e = 2 sin(x) * exp(sin(x)) at x = 0.6",
                hint="process the nodes in reverse topological order")


@pytest.mark.parametrize("x1,x2", [(0.5, -1.2), (1.0, 2.0)])
def test_value_worked_example(student, check, x1, x2):
    program = worked_example(x1, x2)
    value, grads = torch_grads(program)
    out = run_value(student, check, program)
    check.close(out["data"][-1], value, what="f(x1, x2)")
    check.close(out["grads"][:2], grads, what="[x1.grad, x2.grad]")


def test_value_deep_chain(student, check):
    # 500 operations in a row: v <- -v + 0.3, then v * 1.002, ...
    ops, last = [], 0
    while len(ops) < 498:
        ops += [["neg", last], ["add_c", last + 1, 0.3], ["mul_c", last + 2, 1.002]]
        last += 3
    program = {"inputs": [0.7], "ops": ops}
    _, grads = torch_grads(program)
    out = run_value(student, check, program)
    check.close(out["grads"][0], grads[0], what="x.grad after a chain of 498 operations",
                hint="build the topological order without deep recursion (a loop with a stack)")


def test_dual_worked_example(student, check):
    program = worked_example(0.5, -1.2)
    _, grads = torch_grads(program)
    for i, seeds in enumerate(([1.0, 0.0], [0.0, 1.0])):
        out = student.harness.run_dual_program(student.autodiff.Dual, program, seeds)
        check.that(failure(out) is None, f"building the graph with Duals: {failure(out)}")
        check.close(out["tangent"][-1], grads[i], what=f"the output's tangent with tangents {seeds} on (x1, x2)")


def test_reverse_and_forward_grad(student, check):
    program = worked_example(0.5, -1.2)
    _, grads = torch_grads(program)
    rev = student.harness.run_reverse_grad(student.autodiff.reverse_grad, program)
    check.that(failure(rev) is None, f"reverse_grad: {failure(rev)}")
    check.close(rev["result"], grads, what="reverse_grad(f, [0.5, -1.2])")
    check.that(len(rev["calls"]) == 1, f"reverse_grad called f {len(rev['calls'])} times; call it once")
    fwd = student.harness.run_forward_grad(student.autodiff.forward_grad, program)
    check.that(failure(fwd) is None, f"forward_grad: {failure(fwd)}")
    check.close(fwd["result"], grads, what="forward_grad(f, [0.5, -1.2])")
    check.that(len(fwd["calls"]) == 2, f"forward_grad called f {len(fwd['calls'])} times; call it once per input")
