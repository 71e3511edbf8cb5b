"""Hidden suite for autodiff.py: reverse mode (Value), forward mode (Dual), reverse_grad
and forward_grad.

Every case describes a computation as a data-only program (see grader.harness_autodiff)
that the worker builds with the student's class and the grader builds with the
reference's; the two are compared node by node (values, gradients, tangents). The
reference is proven against torch autograd in tests/reference/test_autodiff_reference.py.

Known slips are re-implemented below: a small interpreter with a ``bug`` switch for one
local derivative and a ``pass_`` switch for the order of the backward pass. When a
student's numbers match a slip's, the feedback names it.
"""

from __future__ import annotations

import math

import pytest
import torch

from grader import harness_autodiff as H
from grader.compare import Tolerance, compare
from grader.diagnosis import Mistake, error_hint
from grader.errors import StudentError, StudentTimeout
from grader.session import RemoteObject

pytestmark = pytest.mark.topic("autodiff")

DEPTH = 500
F64 = torch.float64


# ============================================================================ slips
# The value and the local derivatives [(parent, d node / d parent)] of one operation,
# with an optional slip in the derivative (for rsub / rdiv, in the value too).


def _rule(op, vals, bug=None):
    name = op[0]
    if name in ("add", "sub", "mul", "div"):
        i, j = int(op[1]), int(op[2])
        a, b = vals[i], vals[j]
        if name == "add":
            return a + b, [(i, 1.0), (j, 1.0)]
        if name == "sub":
            return a - b, [(i, 1.0), (j, 1.0 if bug == "sub_sign" else -1.0)]
        if name == "mul":
            return a * b, ([(i, a), (j, b)] if bug == "mul_swapped" else [(i, b), (j, a)])
        db = {"div_sign": a / (b * b), "div_no_square": -a / b}.get(bug, -a / (b * b))
        return a / b, [(i, 1.0 / b), (j, db)]
    if name in ("add_c", "sub_c", "mul_c", "div_c", "pow"):
        i, c = int(op[1]), op[2]
        a = vals[i]
        if name == "add_c":
            return a + c, [(i, 1.0)]
        if name == "sub_c":
            return a - c, [(i, 1.0)]
        if name == "mul_c":
            return a * c, [(i, float(c))]
        if name == "div_c":
            return a / c, [(i, float(c) if bug == "div_c_times" else 1.0 / c)]
        if bug == "pow_n_x_n":
            d = c * a**c
        elif bug == "pow_no_n":
            d = a ** (c - 1)
        else:
            d = 0.0 if c == 0 else c * a ** (c - 1)
        return a**c, [(i, d)]
    if name in ("radd", "rsub", "rmul", "rdiv"):
        c, i = op[1], int(op[2])
        a = vals[i]
        if name == "radd":
            return c + a, [(i, 1.0)]
        if name == "rmul":
            return c * a, [(i, float(c))]
        if name == "rsub":
            return (a - c, [(i, 1.0)]) if bug == "rsub_as_sub" else (c - a, [(i, -1.0)])
        if bug == "rdiv_as_div":
            return a / c, [(i, 1.0 / c)]
        d = {"rdiv_no_c": -1.0 / (a * a), "rdiv_sign": c / (a * a)}.get(bug, -c / (a * a))
        return c / a, [(i, d)]
    i = int(op[1])
    a = vals[i]
    if name == "neg":
        return -a, [(i, -1.0)]
    if name == "exp":
        return math.exp(a), [(i, math.exp(a))]
    if name == "log":
        d = {"log_square": 1.0 / (a * a), "log_sign": -1.0 / a}.get(bug, 1.0 / a)
        return math.log(a), [(i, d)]
    if name == "sin":
        return math.sin(a), [(i, -math.cos(a) if bug == "sin_sign" else math.cos(a))]
    if name == "cos":
        return math.cos(a), [(i, math.sin(a) if bug == "cos_sign" else -math.sin(a))]
    if name == "tanh":
        t = math.tanh(a)
        d = {"tanh_input": 1.0 - a * a, "tanh_no_square": 1.0 - t}.get(bug, 1.0 - t * t)
        return t, [(i, d)]
    if name == "sigmoid":
        s = H.float_op(op, vals)
        d = {"sigmoid_input": a * (1.0 - a), "sigmoid_plain": s}.get(bug, s * (1.0 - s))
        return s, [(i, d)]
    if name == "relu":
        slope = a >= 0 if bug == "relu_at_zero" else a > 0
        return (a if a > 0 else 0.0), [(i, 1.0 if slope else 0.0)]
    raise ValueError(name)


def _forward(program, bug=None):
    vals = [float(x) for x in program["inputs"]]
    edges = [[] for _ in vals]
    for op in program["ops"]:
        v, e = _rule(op, vals, bug)
        vals.append(v)
        edges.append(e)
    return vals, edges


def slip_reverse(program, bug=None, pass_="topo"):
    """(data, grads) of every node for a Value with derivative slip ``bug`` and backward
    pass ``pass_``: "topo" (the right order), "no_seed" (out.grad left at 0), "no_chain"
    (parent.grad += local, not local * node.grad; "no_chain:mul" for products only),
    "overwrite" (parent.grad = ...), "preorder" (depth-first from the output, no visited
    set), "preorder_visited" (depth-first, each node once), "bfs" (breadth-first from the
    output, each node once); a "_rev" suffix visits the parents in the other order. None
    when the pass would take too long (exponentially many paths)."""
    vals, edges = _forward(program, bug)
    n = len(vals)
    n_in = len(program["inputs"])
    grads = [0.0] * n
    out = n - 1
    if pass_ == "no_seed":
        return vals, grads
    grads[out] = 1.0
    pass_, _, only = pass_.partition(":")
    flip = pass_.endswith("_rev")
    pass_ = pass_[:-4] if flip else pass_

    def propagate(k):
        chain = not (pass_ == "no_chain" and (not only or (k >= n_in and program["ops"][k - n_in][0] == only)))
        for p, local in edges[k]:
            if pass_ == "overwrite":
                grads[p] = local * grads[k]
            elif chain:
                grads[p] += local * grads[k]
            else:
                grads[p] += local

    def parents(k):
        ps = [p for p, _ in edges[k]]
        return ps[::-1] if flip else ps

    if pass_ in ("topo", "no_chain", "overwrite"):
        for k in reversed(range(n)):
            propagate(k)
    elif pass_ == "preorder":
        budget = 20000
        stack = [out]
        while stack:
            budget -= 1
            if budget < 0:
                return None
            k = stack.pop()
            propagate(k)
            stack.extend(reversed(parents(k)))
    elif pass_ in ("preorder_visited", "bfs"):
        seen = {out}
        queue = [out]
        while queue:
            k = queue.pop(0) if pass_ == "bfs" else queue.pop()
            propagate(k)
            for p in (parents(k) if pass_ == "bfs" else reversed(parents(k))):
                if p not in seen:
                    seen.add(p)
                    queue.append(p)
    else:
        raise ValueError(pass_)
    return vals, grads


def slip_forward(program, seeds, bug=None, no_chain=False):
    """(values, tangents) of every node for a Dual with derivative slip ``bug``;
    ``no_chain``: one-input operations forget to multiply by the input's tangent."""
    vals, edges = _forward(program, bug)
    tangents = [0.0 if s is None else float(s) for s in seeds]
    for k in range(len(tangents), len(vals)):
        terms = edges[k]
        if no_chain and len(terms) == 1:
            tangents.append(terms[0][1])
        else:
            tangents.append(sum(local * tangents[p] for p, local in terms))
    return vals, tangents


SLIP_HINTS = {
    "sub_sign": "d(a - b)/db is -1: the gradient flowing into the right operand of a subtraction changes sign",
    "mul_swapped": "d(a * b)/da is b (the OTHER operand): a.grad += b.data * out.grad",
    "div_sign": "d(a / b)/db = -a / b**2 (a minus sign)",
    "div_no_square": "d(a / b)/db = -a / b**2 (b squared)",
    "div_c_times": "d(x / c)/dx = 1 / c for a number c, not c",
    "pow_n_x_n": "d(x**n)/dx = n * x**(n - 1): the exponent drops by one",
    "pow_no_n": "d(x**n)/dx = n * x**(n - 1): the factor n is missing",
    "rsub_as_sub": "`c - x` computed x - c: __rsub__(self, other) is called for other - self, so "
                   "return other - self (a number minus a Value), not self - other",
    "rdiv_as_div": "`c / x` computed x / c: __rtruediv__(self, other) is called for other / self, "
                   "so return other / self, not self / other",
    "rdiv_no_c": "d(c / x)/dx = -c / x**2: the factor c is missing",
    "rdiv_sign": "d(c / x)/dx = -c / x**2 (a minus sign)",
    "log_square": "d(log x)/dx = 1 / x, not 1 / x**2",
    "log_sign": "d(log x)/dx = 1 / x (positive)",
    "sin_sign": "d(sin x)/dx = +cos x",
    "cos_sign": "d(cos x)/dx = -sin x (a minus sign)",
    "tanh_input": "d(tanh x)/dx = 1 - tanh(x)**2: use the OUTPUT t = tanh(x), not the input x",
    "tanh_no_square": "d(tanh x)/dx = 1 - t**2 with t = tanh(x): t is squared",
    "sigmoid_input": "d(sigmoid x)/dx = s * (1 - s) with s = sigmoid(x), the OUTPUT; x * (1 - x) uses the input",
    "sigmoid_plain": "d(sigmoid x)/dx = s * (1 - s), not s",
    "relu_at_zero": "the derivative of relu at exactly 0 is 0 (as torch): use x > 0, not x >= 0",
}
ALL_BUGS = tuple(SLIP_HINTS)

PASS_HINTS = {
    "no_seed": "backward() must first set self.grad = 1.0 (d out / d out = 1); every gradient came back 0",
    "no_chain": "the chain rule multiplies by the gradient of the result: parent.grad += local * self.grad, "
                "not just the local derivative",
    "overwrite": "a node used more than once must receive the SUM of the gradients from all its uses: "
                 "accumulate with parent.grad += ..., never assign with =",
    "preorder": "a node passed its gradient on before all the nodes that use it had added theirs (and then "
                "again): visit the nodes in reverse TOPOLOGICAL order, each exactly once",
    "preorder_visited": "a node passed its gradient on before all the nodes that use it had added theirs: "
                        "visiting nodes depth-first from the output is not enough; build a topological order "
                        "(a node after all of its parents) and process it in reverse",
    "bfs": "breadth-first order from the output is not a topological order (a node can be reached again by a "
           "longer path): build a topological order (a node after all of its parents) and process it in reverse",
}
ALL_PASSES = ("no_seed", "overwrite", "no_chain", "preorder", "preorder_visited", "bfs", "preorder_rev",
              "preorder_visited_rev", "bfs_rev")

TOPO_HINT = ("if the single-operation tests pass, the backward pass is the problem: every node must receive "
             "the sum of all its uses' contributions (+=) before passing its gradient on, i.e. process the "
             "nodes in reverse topological order, each exactly once")
GRAPH_HINT = ("the operations combine wrongly here: fix what the single-operation tests report first, then "
              "check that every node sums the contributions of all its uses and that backward() processes "
              "the nodes in reverse topological order")
DUAL_GRAPH_HINT = ("the operations combine wrongly here: fix what the single-operation Dual tests report "
                   "first; every operation's tangent is the chain rule applied to its inputs' tangents")
RECURSION_HINT = ("the recursion is too deep: the graph is 500 operations deep, over 1000 nodes when c - v or "
                  "c / v is built from two operations (c + (-v), c * v**-1), beyond Python's recursion limit "
                  "(about 1000 nested calls); build the topological order with a loop and an explicit stack "
                  "(an iterative traversal) instead of a recursive function")
EXPONENTIAL_HINT = ("on a 500-operation chain where every node is used twice, a backward pass that recurses "
                    "into the parents once per PATH makes exponentially many calls: build a topological order "
                    "(each node once) and process it in reverse")


# ============================================================================ describing programs


def _fmt(x):
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    x = float(x)
    return str(int(x)) if x == int(x) and abs(x) < 1e6 else f"{x:.4g}"


def _names(program, names=None):
    return list(names) if names else [f"x{i}" for i in range(len(program["inputs"]))]


_SYM = {"add": "+", "sub": "-", "mul": "*", "div": "/", "add_c": "+", "sub_c": "-", "mul_c": "*",
        "div_c": "/", "pow": "**", "radd": "+", "rsub": "-", "rmul": "*", "rdiv": "/"}


class _TooLong(Exception):
    pass


def expr(program, k=None, names=None, limit=140):
    """Node k (default: the output) as a formula in the inputs, or None when too long."""
    labels = _names(program, names)
    n = len(labels)
    ops = program["ops"]
    if len(ops) > 40:
        return None

    def text(j, top=False):
        if j < n:
            return labels[j]
        op = ops[j - n]
        name = op[0]
        if name in ("add", "sub", "mul", "div"):
            s = f"{text(int(op[1]))} {_SYM[name]} {text(int(op[2]))}"
        elif name in ("add_c", "sub_c", "mul_c", "div_c", "pow"):
            s = f"{text(int(op[1]))} {_SYM[name]} {_fmt(op[2])}"
        elif name in ("radd", "rsub", "rmul", "rdiv"):
            s = f"{_fmt(op[1])} {_SYM[name]} {text(int(op[2]))}"
        elif name == "neg":
            s = f"-{text(int(op[1]))}"
        else:
            s = f"{name}({text(int(op[1]), top=True)})"
            top = True
        if len(s) > limit:
            raise _TooLong
        return s if top else f"({s})"

    try:
        return text(len(labels) + len(ops) - 1 if k is None else k, top=True)
    except _TooLong:
        return None


def at(program, names=None):
    labels = _names(program, names)
    xs = program["inputs"]
    if len(xs) > 4:
        return f"{len(xs)} inputs"
    return ", ".join(f"{a} = {_fmt(x)}" for a, x in zip(labels, xs))


def describe(program, names=None):
    """``out = (x0 * x1) + exp(x0 * x1) at x0 = 0.5, x1 = -1.2`` (a summary for big graphs)."""
    formula = expr(program, names=names)
    if formula is None:
        n = len(program["inputs"])
        plural = "" if n == 1 else "s"
        return f"a graph of {len(program['ops'])} operations on {n} input{plural}"
    return f"out = {formula} at {at(program, names)}"


def _op_kind(op):
    name = op[0]
    if name in ("add", "sub", "mul", "div"):
        return f"a {_SYM[name]} b"
    if name in ("add_c", "sub_c", "mul_c", "div_c", "pow"):
        return f"x {_SYM[name]} {_fmt(op[2])}"
    if name in ("radd", "rsub", "rmul", "rdiv"):
        return f"{_fmt(op[1])} {_SYM[name]} x"
    return "-x" if name == "neg" else f"{name}(x)"


def _node_name(program, k, names):
    labels = _names(program, names)
    n = len(labels)
    if k < n:
        return labels[k]
    e = expr(program, k, names, limit=60)
    if e is None:
        return f"the result of operation {k - n + 1} ({_op_kind(program['ops'][k - n])})"
    return e if _is_call(e) else f"({e})"


def _is_call(e):
    """``exp(x0 * x1)``: a function name whose first parenthesis closes at the very end."""
    head, _, rest = e.partition("(")
    if not head.isalpha() or not rest:
        return False
    depth = 1
    for i, ch in enumerate(rest):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return i == len(rest) - 1
    return False


def _labels(program, names, attr, nodes):
    out = []
    for k in nodes:
        name = _node_name(program, k, names)
        out.append(f"the {attr[1:]} of {name}" if name.startswith("the result") else f"{name}{attr}")
    return out


# ============================================================================ running


_REFLECTED_DUNDER = {"radd": "__radd__", "rsub": "__rsub__", "rmul": "__rmul__", "rdiv": "__rtruediv__"}
_CONST_DUNDER = {"add_c": "__add__", "sub_c": "__sub__", "mul_c": "__mul__", "div_c": "__truediv__",
                 "pow": "__pow__"}


def _fail_on_error(check, got, program, names, cls, keys):
    """Fail with a message naming the operation when the run did not complete."""
    if not isinstance(got, dict) or not all(isinstance(got.get(k), list) for k in keys):
        check.fail(f"running {describe(program, names)} with your {cls} did not produce its results")
    err = got.get("error")
    if not err:
        return
    if not isinstance(err, dict):
        check.fail(f"running {describe(program, names)} with your {cls} failed")
    stage, index = err.get("stage"), err.get("index")
    kind, message, where = str(err.get("type")), str(err.get("message", "")), str(err.get("where", ""))
    location = f" ({where})" if where else ""
    n = len(program["inputs"])
    op = program["ops"][index - n] if isinstance(index, int) and n <= index < n + len(program["ops"]) else None
    raised = f"raised {kind}: {message}{location}" if message else f"raised {kind}{location}"
    hint = error_hint(kind, message)
    if stage == "create" and isinstance(index, int) and 0 <= index < n:
        check.fail(f"{cls}({_fmt(program['inputs'][index])}) {raised}", hint)
    if stage == "type" and op is not None:
        dunder = _REFLECTED_DUNDER.get(op[0])
        hint = (f"{dunder} must return a new {cls} (it handles a number on the left)" if dunder
                else f"every operation must return a new {cls}")
        check.fail(f"{_node_name(program, index, names)} returned a {kind} instead of a {cls}, in "
                   f"{describe(program, names)}", hint)
    if stage == "backward":
        if kind == "RecursionError":
            hint = RECURSION_HINT
        check.fail(f"out.backward() {raised}, for {describe(program, names)}", hint)
    if op is not None:
        name = op[0]
        if kind != "NotImplementedError":
            if name in _REFLECTED_DUNDER and kind == "TypeError":
                hint = (f"Python evaluates {_fmt(op[1])} {_SYM[name]} x as x.{_REFLECTED_DUNDER[name]}"
                        f"({_fmt(op[1])}) for a number on the left: define {_REFLECTED_DUNDER[name]} on {cls}")
            elif name in _CONST_DUNDER and kind in ("TypeError", "AttributeError"):
                hint = (f"{_CONST_DUNDER[name]} must also accept a Python number (int or float) as the other "
                        f"operand: treat it as a constant")
            elif name not in _SYM and name != "neg" and kind == "AttributeError":
                hint = f"define the method .{name}() on {cls}"
        check.fail(f"computing {_node_name(program, index, names)} {raised}, in {describe(program, names)}", hint)
    check.fail(f"running {describe(program, names)} with your {cls} {raised}", hint)


def _call(check, what, call, *args, **kwargs):
    """A student run; a time-out becomes a failure with a hint about exponential passes."""
    try:
        return call(*args, **kwargs)
    except StudentTimeout as exc:
        check.fail(f"{exc.message} ({what})", EXPONENTIAL_HINT)


def run_value(student, reference, check, program, names=None, backward=True):
    got = _call(check, f"building {describe(program, names)} and calling out.backward()",
                student.harness.run_value_program, student.autodiff.Value, program, backward=backward)
    want = H.run_value_program(reference.autodiff.Value, program, backward=backward)
    assert want["error"] is None, want["error"]
    _fail_on_error(check, got, program, names, "Value", ("data", "grads", "grad_before"))
    return got, want


def run_dual(student, reference, check, program, seeds, names=None):
    got = _call(check, f"building {describe(program, names)} with Duals",
                student.harness.run_dual_program, student.autodiff.Dual, program, list(seeds))
    want = H.run_dual_program(reference.autodiff.Dual, program, list(seeds))
    assert want["error"] is None, want["error"]
    _fail_on_error(check, got, program, names, "Dual", ("value", "tangent"))
    return got, want


# ============================================================================ checking


def _require_numbers(check, values, labels):
    for v, label in zip(values, labels):
        if isinstance(v, dict):
            if "missing" in v:
                check.fail(f"{label}: the object has no attribute .{v['missing']}",
                           "keep the attributes the SPEC names (.data and .grad; .value and .tangent)")
            check.fail(f"{label} is a {v.get('not_a_number', '?')}, not a Python number",
                       "store plain Python floats (use the math module for the maths)")


def _scale(values):
    return max([1.0] + [abs(v) for v in values if isinstance(v, float) and math.isfinite(v)])


def _as_tensor(values):
    if values is None:
        return None
    try:
        return torch.tensor([float(v) for v in values], dtype=F64)
    except (TypeError, ValueError):
        return None


def _matching_hint(actual, want, tol, mistakes, fallback):
    """The hints of every listed slip the student's numbers match (the first two, joined),
    else ``fallback``. Candidates are lists of numbers (or functions returning them)."""
    comparison = compare(actual, want, tol)
    if comparison.ok:
        return None
    hints = []
    for m in mistakes:
        if m.value is not None:
            try:  # a slip may leave an operation's domain further on (log of a negative, ...)
                candidate = _as_tensor(m.value() if callable(m.value) else m.value)
            except (ArithmeticError, ValueError):
                continue
            ok = candidate is not None and candidate.shape == actual.shape and compare(actual, candidate, tol).ok
        else:
            ok = m.matches(actual, comparison, tol)
        if ok and m.hint not in hints:
            hints.append(m.hint)
    if hints:
        return " -- or: ".join(hints[:3])
    return fallback


def close_nodes(check, program, names, nodes, values, expected, attr, context, mistakes=(), fallback=None):
    """Compare one attribute over several nodes (as float64 tensors), naming the nodes in
    the message: all of them when there are few, else the first wrong one."""
    n = len(nodes)
    if n <= 4:
        labels = _labels(program, names, attr, nodes)
        _require_numbers(check, values, labels)
        shown = labels[0] if n == 1 else "[" + ", ".join(labels) + "]"
    else:
        bad = [i for i, v in enumerate(values) if isinstance(v, dict)]
        if bad:
            _require_numbers(check, [values[bad[0]]], _labels(program, names, attr, [nodes[bad[0]]]))
        shown = f"the {attr} of {n} nodes"
    actual, want = _as_tensor(values), _as_tensor(expected)
    scale = _scale(expected)
    tol = Tolerance(1e-7, 1e-10 * scale)
    if n > 4:
        off = ((actual - want).abs() > tol.atol + tol.rtol * want.abs()) | (actual.isnan() != want.isnan())
        if bool(off.any()):
            first = int(off.nonzero()[0])
            shown += f" (first wrong: {_labels(program, names, attr, [nodes[first]])[0]}, index {first})"
    hint = _matching_hint(actual, want, tol, mistakes, fallback)
    check.close(actual, want, scale=scale, what=f"{shown} {context}",
                mistakes=[Mistake(hint, when=lambda a: True)] if hint else [])


def check_data(check, got, want, program, names, nodes, attr=".data", mistakes=(), fallback=None):
    key = attr.strip(".")
    close_nodes(check, program, names, nodes, [got[key][k] for k in nodes], [want[key][k] for k in nodes], attr,
                f"for {describe(program, names)}" if len(nodes) > 1 else f"at {at(program, names)}",
                mistakes, fallback)


def check_grads(check, got, want, program, names, nodes, mistakes=(), fallback=None, intro="after out.backward()"):
    close_nodes(check, program, names, nodes, [got["grads"][k] for k in nodes], [want["grads"][k] for k in nodes],
                ".grad", f"{intro}, {describe(program, names)}", mistakes, fallback)


def check_tangents(check, got, want, program, names, seeds, nodes, mistakes=(), fallback=None):
    seeded = ", ".join(f"{a}.tangent = {_fmt(0.0 if s is None else s)}"
                       for a, s in zip(_names(program, names), seeds))
    if len(seeds) > 4:
        seeded = "given input tangents"
    close_nodes(check, program, names, nodes, [got["tangent"][k] for k in nodes],
                [want["tangent"][k] for k in nodes], ".tangent", f"with {seeded}, {describe(program, names)}",
                mistakes, fallback)


# ---------------------------------------------------------------------------- naming slips


def overwrite_signature(program, got_grads, want_grads):
    """Some node used more than once got the contribution of only ONE of its uses, while
    everything downstream of it is right: the symptom of grad = ... instead of +=."""
    _, edges = _forward(program)
    contributions: dict[int, list] = {}
    consumers: dict[int, set] = {}
    for k, es in enumerate(edges):
        for p, local in es:
            contributions.setdefault(p, []).append(local * want_grads[k])
            consumers.setdefault(p, set()).add(k)

    def close(a, b):
        return isinstance(a, float) and abs(a - b) <= 1e-9 + 1e-7 * abs(b)

    for p, contribs in contributions.items():
        if len(contribs) < 2 or close(got_grads[p], want_grads[p]):
            continue
        if all(close(got_grads[c], want_grads[c]) for c in consumers[p]) and any(
                close(got_grads[p], c) for c in contribs):
            return True
    return False


def reverse_slips(program, nodes, got_grads=None, want_grads=None, bugs=ALL_BUGS, passes=ALL_PASSES):
    """Mistakes for derivative slips (``bugs``) and wrong backward passes (``passes``; with
    "no_chain", also the chain rule forgotten in one kind of operation only)."""
    expanded = []
    for p in passes:
        expanded.append(p)
        if p == "no_chain":
            expanded += [f"no_chain:{name}" for name in sorted({op[0] for op in program["ops"]})]
    out = []
    for p in expanded:
        hint = PASS_HINTS[p.split(":")[0].removesuffix("_rev")]
        if p == "overwrite":
            if got_grads is not None:
                out.append(Mistake(hint, when=lambda _a: overwrite_signature(program, got_grads, want_grads)))
            continue

        def by_pass(p=p):
            r = slip_reverse(program, pass_=p)
            return None if r is None else [r[1][k] for k in nodes]

        out.append(Mistake(hint, value=by_pass))
    for bug in bugs:
        out.append(Mistake(SLIP_HINTS[bug], value=lambda bug=bug: _pick(slip_reverse(program, bug)[1], nodes)))
    return out


def _pick(values, nodes):
    """The values of ``nodes``, from one evaluation of the whole program (evaluating it
    once per node would be quadratic in the graph's size)."""
    return [values[k] for k in nodes]


def data_slips(program, nodes, bugs):
    return [Mistake(SLIP_HINTS[bug], value=lambda bug=bug: _pick(_forward(program, bug)[0], nodes))
            for bug in bugs]


def forward_slips(program, seeds, nodes, bugs=ALL_BUGS, no_chain=True):
    out = [Mistake(SLIP_HINTS[bug], value=lambda bug=bug: _pick(slip_forward(program, seeds, bug)[1], nodes))
           for bug in bugs]
    if no_chain:
        out.append(Mistake("f((a, a')) = (f(a), f'(a) * a'): multiply the local derivative by the input's tangent",
                           value=lambda: _pick(slip_forward(program, seeds, no_chain=True)[1], nodes)))
    return out


def local_only(program, op_node, got_grads):
    """For a one-operation program followed by a product with w: some input's grad equals
    the bare local derivative, as if out.grad had not been multiplied in."""
    _, edges = _forward(program)

    def check(_actual):
        for p, local in edges[op_node]:
            g = got_grads[p]
            if isinstance(g, float) and abs(g - local) <= 1e-9 + 1e-7 * abs(local):
                return True
        return False

    return Mistake(PASS_HINTS["no_chain"], when=check)


def _draw(gen, lo, hi):
    return round(lo + (hi - lo) * float(torch.rand((), generator=gen, dtype=F64)), 4)


def _nonzero(gen, lo, hi):
    x = _draw(gen, lo, hi)
    return x if abs(x) > 0.2 else x + 0.5


def _op_fallback(op_text):
    return (f"check the derivative of {op_text} and that backward multiplies it by the gradient of the "
            f"result (parent.grad += local * out.grad)")


# ============================================================================ Value: single operations
# Each operation is followed by a product with another input w, so the gradient flowing
# into it is not 1 and a forgotten factor out.grad shows.

BINARY = ["add", "sub", "mul", "div", "neg"]
BINARY_BUGS = {"sub": ["sub_sign"], "mul": ["mul_swapped"], "div": ["div_sign", "div_no_square"]}


def _binary_program(gen, name):
    a, b, w = _nonzero(gen, -2, 2), _nonzero(gen, -2, 2), _nonzero(gen, -2, 2)
    if name == "neg":
        return {"inputs": [a, w], "ops": [["neg", 0], ["mul", 2, 1]]}, ["a", "w"]
    return {"inputs": [a, b, w], "ops": [[name, 0, 1], ["mul", 3, 2]]}, ["a", "b", "w"]


def _single_op_check(check, got, want, program, names, op_node, bugs, op_text):
    """Value of the operation, then the inputs' gradients, naming the usual slips."""
    n = len(names)
    check_data(check, got, want, program, names, [op_node], mistakes=data_slips(program, [op_node], bugs),
               fallback=f"check the value of {op_text}")
    nodes = list(range(n))
    check_grads(check, got, want, program, names, nodes, mistakes=[
        *reverse_slips(program, nodes, bugs=bugs, passes=("no_seed",)),
        local_only(program, op_node, got["grads"]),
    ], fallback=_op_fallback(op_text))


@pytest.mark.parametrize("name", BINARY)
def test_value_arithmetic(student, reference, check, gen, name):
    program, names = _binary_program(gen, name)
    got, want = run_value(student, reference, check, program, names)
    _single_op_check(check, got, want, program, names, len(names), BINARY_BUGS.get(name, []),
                     "-a" if name == "neg" else f"a {_SYM[name]} b")


NUMBER_CASES = [("add_c", 3), ("sub_c", 1.5), ("mul_c", -2), ("div_c", 4), ("div_c", -0.5),
                ("radd", 2.5), ("rsub", 2), ("rsub", -0.75), ("rmul", -1.5), ("rdiv", 1), ("rdiv", -2.5)]
NUMBER_BUGS = {"div_c": ["div_c_times"], "rsub": ["rsub_as_sub"], "rdiv": ["rdiv_as_div", "rdiv_no_c", "rdiv_sign"]}


def _number_program(gen, name, c, with_w=True):
    x, w = _nonzero(gen, -2, 2), _nonzero(gen, -2, 2)
    op = [name, 0, c] if name.endswith("_c") else [name, c, 0]
    if not with_w:
        return {"inputs": [x], "ops": [op]}, ["x"]
    return {"inputs": [x, w], "ops": [op, ["mul", 2, 1]]}, ["x", "w"]


@pytest.mark.parametrize("name,c", NUMBER_CASES, ids=[f"{n}{c}" for n, c in NUMBER_CASES])
def test_value_number_operands(student, reference, check, gen, name, c):
    program, names = _number_program(gen, name, c)
    got, want = run_value(student, reference, check, program, names)
    _single_op_check(check, got, want, program, names, 2, NUMBER_BUGS.get(name, []), _op_kind(program["ops"][0]))


POW_CASES = [(2, "pos"), (3, "neg"), (-1, "pos"), (0.5, "pos"), (1.5, "pos"), (-2, "neg"), (0, "pos"), (-0.5, "pos")]


def _pow_program(gen, n, sign, with_w=True):
    x = _draw(gen, 0.4, 2.0) * (1 if sign == "pos" else -1)
    if not with_w:
        return {"inputs": [x], "ops": [["pow", 0, n]]}, ["x"]
    return {"inputs": [x, _nonzero(gen, -2, 2)], "ops": [["pow", 0, n], ["mul", 2, 1]]}, ["x", "w"]


@pytest.mark.parametrize("n,sign", POW_CASES, ids=[f"{n}-{s}" for n, s in POW_CASES])
def test_value_pow(student, reference, check, gen, n, sign):
    program, names = _pow_program(gen, n, sign)
    got, want = run_value(student, reference, check, program, names)
    _single_op_check(check, got, want, program, names, 2, ["pow_n_x_n", "pow_no_n"], f"x ** {_fmt(n)}")


ELEMENTARY = ["exp", "log", "sin", "cos", "tanh", "sigmoid"]
ELEMENTARY_BUGS = {"log": ["log_square", "log_sign"], "sin": ["sin_sign"], "cos": ["cos_sign"],
                   "tanh": ["tanh_input", "tanh_no_square"], "sigmoid": ["sigmoid_input", "sigmoid_plain"]}


def _unary_program(gen, name, x=None, with_w=True):
    if x is None:
        x = _draw(gen, 0.2, 2.5) if name == "log" else _nonzero(gen, -2.5, 2.5)
    if not with_w:
        return {"inputs": [x], "ops": [[name, 0]]}, ["x"]
    return {"inputs": [x, _nonzero(gen, -2, 2)], "ops": [[name, 0], ["mul", 2, 1]]}, ["x", "w"]


@pytest.mark.parametrize("name", ELEMENTARY)
def test_value_elementary(student, reference, check, gen, name):
    program, names = _unary_program(gen, name)
    got, want = run_value(student, reference, check, program, names)
    _single_op_check(check, got, want, program, names, 2, ELEMENTARY_BUGS.get(name, []), f"{name}(x)")


RELU_POINTS = {"negative": -1.3, "zero": 0.0, "positive": 0.8}


@pytest.mark.parametrize("where", list(RELU_POINTS))
def test_value_relu(student, reference, check, gen, where):
    program, names = _unary_program(gen, "relu", RELU_POINTS[where] * (1 + _draw(gen, 0, 1)))
    got, want = run_value(student, reference, check, program, names)
    _single_op_check(check, got, want, program, names, 2, ["relu_at_zero"], "relu(x)")


# ============================================================================ Value: the backward pass


@pytest.mark.parametrize("case", ["fresh", "seed", "leaf"])
def test_value_backward_basics(student, reference, check, gen, case):
    x0, x1 = _nonzero(gen, -2, 2), _nonzero(gen, -2, 2)
    program = {"inputs": [x0, x1], "ops": [["mul", 0, 1], ["exp", 2], ["neg", 3]]}
    if case == "fresh":  # .grad is 0.0 on every node until backward() is called
        got, want = run_value(student, reference, check, program, backward=False)
        close_nodes(check, program, None, [0, 1], got["grad_before"], want["grad_before"], ".grad",
                    "of new Values", fallback="a new Value starts with grad = 0.0")
        check_grads(check, got, want, program, None, list(range(5)), intro="before any backward()",
                    fallback="building the graph must not touch the gradients: only backward() fills them")
        return
    if case == "seed":  # out.grad is 1 after out.backward(), and the inputs' grads follow
        nodes = [4, 0, 1]
        intro = "after out.backward()"
    else:  # backward() on an input: its own grad is 1, the other input's 0
        program = {"inputs": [x0, x1], "ops": []}
        nodes = [1, 0]
        intro = "after x1.backward()"
    got, want = run_value(student, reference, check, program)
    check_grads(check, got, want, program, None, nodes, intro=intro,
                mistakes=reverse_slips(program, nodes, passes=("no_seed", "no_chain"), bugs=()),
                fallback="backward() sets the node's own grad to 1.0, then passes gradients to the nodes it "
                         "depends on")


def _structure_check(check, got, want, program, names, fallback, values=True):
    """The output's value (or every node's), then the inputs' and the intermediate nodes'
    gradients, naming wrong backward passes and derivative slips."""
    n = len(program["inputs"])
    last = len(want["data"]) - 1
    if values:
        check_data(check, got, want, program, names, list(range(last + 1)),
                   mistakes=data_slips(program, list(range(last + 1)), ("rsub_as_sub", "rdiv_as_div")),
                   fallback="check the values each operation computes (the single-operation tests say which)")
    everything = list(range(last + 1))
    for nodes, intro in ((everything[:n], "after out.backward()"),
                         (everything[n:], "(the intermediate nodes) after out.backward()")):
        if nodes:
            check_grads(check, got, want, program, names, nodes, intro=intro, fallback=fallback,
                        mistakes=reverse_slips(program, nodes, got["grads"], want["grads"]))


def _reused(gen, case):
    x, y, z, w = (_nonzero(gen, -2, 2) for _ in range(4))
    programs = {
        "x*x": ({"inputs": [x, w], "ops": [["mul", 0, 0], ["mul", 2, 1]]}, ["x", "w"]),
        "x+x": ({"inputs": [x, w], "ops": [["add", 0, 0], ["mul", 2, 1]]}, ["x", "w"]),
        "x*x*x": ({"inputs": [x, w], "ops": [["mul", 0, 0], ["mul", 2, 0], ["mul", 3, 1]]}, ["x", "w"]),
        "x-x": ({"inputs": [x, w], "ops": [["sub", 0, 0], ["add", 2, 1], ["mul", 3, 1]]}, ["x", "w"]),
        "branches": ({"inputs": [x, y], "ops": [["exp", 0], ["sin", 0], ["mul", 0, 1], ["add", 2, 3],
                                                ["add", 5, 4]]}, ["x", "y"]),
        "x*y+x*z": ({"inputs": [x, y, z], "ops": [["mul", 0, 1], ["mul", 0, 2], ["add", 3, 4]]}, ["x", "y", "z"]),
        "y=x*w;y*y+y": ({"inputs": [x, w], "ops": [["mul", 0, 1], ["mul", 2, 2], ["add", 3, 2]]}, ["x", "w"]),
    }
    return programs[case]


@pytest.mark.parametrize("case", ["x*x", "x+x", "x*x*x", "x-x", "branches", "x*y+x*z", "y=x*w;y*y+y"])
def test_value_reused_nodes(student, reference, check, gen, case):
    program, names = _reused(gen, case)
    got, want = run_value(student, reference, check, program, names)
    _structure_check(check, got, want, program, names, PASS_HINTS["overwrite"])


def _diamond(gen, case):
    x, y = _nonzero(gen, -1.5, 1.5), _nonzero(gen, -1.5, 1.5)
    programs = {
        # a = sin(x), b = exp(x), c = a * b
        "a*b": ({"inputs": [x], "ops": [["sin", 0], ["exp", 0], ["mul", 1, 2]]}, ["x"]),
        # the fork at an inner node: b = sin(x), c = 2b, d = exp(b), e = c * d
        "inner": ({"inputs": [x], "ops": [["sin", 0], ["mul_c", 1, 2], ["exp", 1], ["mul", 2, 3]]}, ["x"]),
        # u = sin(x) feeds the output directly and through a longer chain
        "long-and-short": ({"inputs": [x], "ops": [["sin", 0], ["exp", 1], ["mul_c", 2, 2], ["add_c", 3, 1],
                                                   ["mul", 4, 1]]}, ["x"]),
        # v = x*y used by sin, exp and the output
        "three-uses": ({"inputs": [x, y], "ops": [["mul", 0, 1], ["sin", 2], ["exp", 2], ["mul", 3, 4],
                                                  ["add", 5, 2]]}, ["x", "y"]),
        # four stacked diamonds: v <- sin(v) * cos(v) + v
        "stacked": ({"inputs": [x], "ops": [op for k in range(4) for op in (
            ["sin", 4 * k], ["cos", 4 * k], ["mul", 4 * k + 1, 4 * k + 2], ["add", 4 * k + 3, 4 * k])]}, ["x"]),
    }
    return programs[case]


@pytest.mark.parametrize("case", ["a*b", "inner", "long-and-short", "three-uses", "stacked"])
def test_value_diamond(student, reference, check, gen, case):
    program, names = _diamond(gen, case)
    got, want = run_value(student, reference, check, program, names)
    _structure_check(check, got, want, program, names, TOPO_HINT)


WORKED_POINTS = {"notes": (0.5, -1.2), "random-1": None, "random-2": None}


@pytest.mark.parametrize("point", list(WORKED_POINTS))
def test_value_worked_example(student, reference, check, gen, point):
    """f(x1, x2) = x1*x2 + exp(x1*x2) - sin(x2), with v = x1*x2 used twice."""
    x1, x2 = WORKED_POINTS[point] or (_nonzero(gen, -1.5, 1.5), _nonzero(gen, -2, 2))
    program, names = H.worked_example(x1, x2), ["x1", "x2"]
    got, want = run_value(student, reference, check, program, names)
    _structure_check(check, got, want, program, names,
                     "v = x1*x2 is used twice (by the sum and by exp): its gradient is the sum of both uses' "
                     "contributions, complete before it reaches x1 and x2")


RANDOM_SIZES = {"1x12": (1, 12), "2x25": (2, 25), "3x40": (3, 40), "4x60": (4, 60)}


@pytest.mark.parametrize("size", list(RANDOM_SIZES))
def test_value_random_graphs(student, reference, check, gen, size):
    program = H.random_program(gen, *RANDOM_SIZES[size])
    got, want = run_value(student, reference, check, program)
    _structure_check(check, got, want, program, None, GRAPH_HINT)


def _deep_program(gen, kind):
    """A chain of DEPTH operations: "reuse" and "chain" (grader.harness_autodiff.deep_chain),
    "every-op" (every operation, each reading the node before) and "right-operand" (c - v
    and c / v with the chain on the right, two nodes per step in a c + (-v) design)."""
    x = _draw(gen, 0.2, 1.2)
    if kind in ("every-op", "right-operand"):
        return H.deep_mixed_chain(x, DEPTH, two_node=kind == "right-operand")
    return H.deep_chain(x, DEPTH, reuse=kind == "reuse")


@pytest.mark.parametrize("kind", ["reuse", "chain", "every-op", "right-operand"])
def test_value_deep_graph(student, reference, check, gen, kind):
    program = _deep_program(gen, kind)
    got, want = run_value(student, reference, check, program)
    _structure_check(check, got, want, program, None, GRAPH_HINT)


@pytest.mark.parametrize("n", [300, 37])
def test_value_wide_graph(student, reference, check, gen, n):
    program = H.wide_program([_draw(gen, -2, 2) for _ in range(n)])
    got, want = run_value(student, reference, check, program)
    _structure_check(check, got, want, program, None, GRAPH_HINT)


# ============================================================================ Dual


def _random_seeds(gen, n):
    return [_nonzero(gen, -1.5, 1.5) for _ in range(n)]


def _dual_single_check(check, got, want, program, names, seeds, bugs, op_text, extra_fallback=None):
    out = len(want["value"]) - 1
    check_data(check, got, want, program, names, [out], attr=".value",
               mistakes=data_slips(program, [out], bugs), fallback=f"check the value of {op_text}")
    check_tangents(check, got, want, program, names, seeds, [out], mistakes=forward_slips(program, seeds, [out], bugs),
                   fallback=extra_fallback or f"check the tangent rule of {op_text}")


@pytest.mark.parametrize("name", BINARY + ["default-tangent"])
def test_dual_arithmetic(student, reference, check, gen, name):
    fallback = None
    if name == "default-tangent":  # Dual(a) is the constant (a, 0)
        program = {"inputs": [_nonzero(gen, -2, 2), _nonzero(gen, -2, 2)], "ops": [["mul", 0, 1]]}
        names, seeds = ["a", "b"], [None, 1.0]
        fallback = "Dual(value) must default to tangent 0.0 (a constant), so only b's tangent counts"
    elif name == "neg":
        program, names = {"inputs": [_nonzero(gen, -2, 2)], "ops": [["neg", 0]]}, ["a"]
        seeds = _random_seeds(gen, 1)
    else:
        program = {"inputs": [_nonzero(gen, -2, 2), _nonzero(gen, -2, 2)], "ops": [[name, 0, 1]]}
        names, seeds = ["a", "b"], _random_seeds(gen, 2)
        if name == "div":
            fallback = "(a / b)' = (a' * b - a * b') / b**2: check the sign of a * b' and the square"
    got, want = run_dual(student, reference, check, program, seeds, names)
    op_text = "-a" if name == "neg" else "a * b" if name == "default-tangent" else f"a {_SYM[name]} b"
    _dual_single_check(check, got, want, program, names, seeds, BINARY_BUGS.get(name, []), op_text, fallback)


@pytest.mark.parametrize("name,c", NUMBER_CASES, ids=[f"{n}{c}" for n, c in NUMBER_CASES])
def test_dual_number_operands(student, reference, check, gen, name, c):
    program, names = _number_program(gen, name, c, with_w=False)
    seeds = _random_seeds(gen, 1)
    got, want = run_dual(student, reference, check, program, seeds, names)
    _dual_single_check(check, got, want, program, names, seeds, NUMBER_BUGS.get(name, []), _op_kind(program["ops"][0]),
                       "a Python number is a constant: its tangent is 0 (if you wrap it, use Dual(c, 0.0))")


@pytest.mark.parametrize("n,sign", POW_CASES, ids=[f"{n}-{s}" for n, s in POW_CASES])
def test_dual_pow(student, reference, check, gen, n, sign):
    program, names = _pow_program(gen, n, sign, with_w=False)
    seeds = _random_seeds(gen, 1)
    got, want = run_dual(student, reference, check, program, seeds, names)
    _dual_single_check(check, got, want, program, names, seeds, ["pow_n_x_n", "pow_no_n"], f"x ** {_fmt(n)}")


DUAL_UNARY = ELEMENTARY + ["relu-negative", "relu-zero", "relu-positive"]


@pytest.mark.parametrize("name", DUAL_UNARY)
def test_dual_elementary(student, reference, check, gen, name):
    if name.startswith("relu"):
        x = RELU_POINTS[name.split("-")[1]] * (1 + _draw(gen, 0, 1))
        program, names = _unary_program(gen, "relu", x, with_w=False)
        bugs, op_text = ["relu_at_zero"], "relu(x)"
    else:
        program, names = _unary_program(gen, name, with_w=False)
        bugs, op_text = ELEMENTARY_BUGS.get(name, []), f"{name}(x)"
    seeds = _random_seeds(gen, 1)
    got, want = run_dual(student, reference, check, program, seeds, names)
    _dual_single_check(check, got, want, program, names, seeds, bugs, op_text)


def _dual_structure_check(check, got, want, program, names, seeds):
    everything = list(range(len(want["value"])))
    check_data(check, got, want, program, names, everything, attr=".value",
               mistakes=data_slips(program, everything, ("rsub_as_sub", "rdiv_as_div")),
               fallback="check the values each operation computes (the single-operation tests say which)")
    for nodes in ([everything[-1]], everything):
        check_tangents(check, got, want, program, names, seeds, nodes,
                       mistakes=forward_slips(program, seeds, nodes), fallback=DUAL_GRAPH_HINT)


DUAL_GRAPHS = ["worked-x1", "worked-x2", "worked-both", "random-2x20", "random-3x40", "random-4x60"]


@pytest.mark.parametrize("case", DUAL_GRAPHS)
def test_dual_random_graphs(student, reference, check, gen, case):
    if case.startswith("worked"):
        program, names = H.worked_example(_nonzero(gen, -1.5, 1.5), _nonzero(gen, -2, 2)), ["x1", "x2"]
        seeds = {"worked-x1": [1.0, 0.0], "worked-x2": [0.0, 1.0]}.get(case) or _random_seeds(gen, 2)
    else:
        n_in, n_ops = (int(v) for v in case.split("-")[1].split("x"))
        program, names = H.random_program(gen, n_in, n_ops), None
        seeds = _random_seeds(gen, n_in)
    got, want = run_dual(student, reference, check, program, seeds, names)
    _dual_structure_check(check, got, want, program, names, seeds)


@pytest.mark.parametrize("kind", ["reuse", "chain", "wide", "every-op"])
def test_dual_deep_graph(student, reference, check, gen, kind):
    if kind == "wide":
        program = H.wide_program([_draw(gen, -2, 2) for _ in range(200)])
        seeds = _random_seeds(gen, 200)
    else:
        program = _deep_program(gen, kind)
        seeds = [1.0] + [0.0] * (len(program["inputs"]) - 1)
    got, want = run_dual(student, reference, check, program, seeds)
    _dual_structure_check(check, got, want, program, None, seeds)


# ============================================================================ reverse_grad and forward_grad


def _grad_program(gen, case):
    if case == "worked":
        return H.worked_example(_nonzero(gen, -1.5, 1.5), _nonzero(gen, -2, 2)), ["x1", "x2"]
    if case == "unused-input":  # f(x0, x1, x2) = exp(x0 * x2): d f / d x1 = 0
        return {"inputs": [_nonzero(gen, -1.5, 1.5) for _ in range(3)], "ops": [["mul", 0, 2], ["exp", 3]]}, None
    if case == "identity":  # f(x0, x1) = x1
        return {"inputs": [_nonzero(gen, -2, 2), _nonzero(gen, -2, 2)], "ops": []}, None
    n_in, n_ops = (int(v) for v in case.split("-")[1].split("x"))
    return H.random_program(gen, n_in, n_ops), None


def _f_text(program, names):
    labels = _names(program, names)
    formula = expr(program, names=names)
    head = f"f({', '.join(labels)})" if len(labels) <= 4 else f"f of {len(labels)} inputs"
    body = f" = {formula}" if formula else f" (a graph of {len(program['ops'])} operations)"
    return f"{head}{body} at {at(program, names)}"


def _run_grad(student, check, fn_name, program, names):
    """Call the student's reverse_grad / forward_grad with f, a function that lives here in
    the grader: the program never reaches the worker, each call of f is a callback counted
    here, and f builds the graph by asking the worker to apply the student's own Value /
    Dual operations to the objects it was given. What the worker reports plays no part."""
    fn = getattr(student.autodiff, fn_name)
    calls: list[dict] = []
    n = len(program["inputs"])

    def f(*args):
        info: dict = {"nargs": len(args)}
        if fn_name == "forward_grad":
            info["seeds"] = [_remote_number(a, "tangent") for a in args[:n]]
        calls.append(info)
        if len(calls) > 4 * n + 8:
            raise RuntimeError(f"f was called {len(calls)} times for {n} inputs")
        if len(args) != n:
            raise TypeError(f"f takes {n} arguments but {len(args)} were given")
        return H.build_program(program, list(args), unary=lambda node, name: _unary(node, name))[-1]

    f.__name__ = "f"
    got: dict = {"error": None, "result": None, "calls": calls}
    try:
        result = _call(check, f"{fn_name} for {_f_text(program, names)}", fn, f, [float(x) for x in program["inputs"]])
    except StudentError as err:
        got["error"] = {"type": err.type_name, "message": err.exc_message, "where": err.where}
    else:
        got["result"] = _plain_list(result)
    err = got.get("error")
    if err:
        kind, message = str(err.get("type")), str(err.get("message", ""))
        where = f" ({err['where']})" if err.get("where") else ""
        check.fail(f"{fn_name}(f, xs) raised {kind}: {message}{where}, for {_f_text(program, names)}",
                   error_hint(kind, message))
    return got


def _unary(node, name):
    """node.name(): one round trip for a Value or Dual in the worker."""
    return node.method(name)() if isinstance(node, RemoteObject) else getattr(node, name)()


def _remote_number(value, attr):
    """value.attr as a float (a remote object's attribute is read from the worker), or a
    record naming what it is."""
    got = getattr(value, attr, None) if not isinstance(value, (int, float)) else None
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        kind = got.remote_type if isinstance(got, RemoteObject) else type(got).__name__
        return {"not_a_number": kind}
    return float(got)


def _plain_list(result):
    if isinstance(result, (list, tuple)):
        return [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                else {"not_a_number": v.remote_type if isinstance(v, RemoteObject) else type(v).__name__}
                for v in result]
    return {"not_a_list": result.remote_type if isinstance(result, RemoteObject) else type(result).__name__}


def _check_result(check, fn_name, got, expected, program, names, mistakes, fallback):
    result = got.get("result")
    what = f"{fn_name}(f, xs) for {_f_text(program, names)}"
    if isinstance(result, dict):
        check.fail(f"{what} returned a {result.get('not_a_list', '?')}; return a list of floats, one per input")
    if isinstance(result, list):
        for i, v in enumerate(result):
            if isinstance(v, dict) and "not_a_number" in v:
                check.fail(f"{what} returned a list holding a {v['not_a_number']} (item {i}); return Python floats",
                           "return the numbers (each input's .grad, or the output's .tangent), not the "
                           "Value / Dual objects")
    hint = None
    if isinstance(result, list) and len(result) == len(expected):
        scale = _scale(expected)
        hint = _matching_hint(_as_tensor(result), _as_tensor(expected), Tolerance(1e-7, 1e-10 * scale),
                              mistakes, fallback)
    check.close(result, expected, scale=_scale(expected), what=what,
                mistakes=[Mistake(hint, when=lambda a: True)] if hint else [])


GRAD_CASES = ["worked", "unused-input", "identity", "random-2x15", "random-3x30"]


@pytest.mark.parametrize("case", GRAD_CASES)
def test_reverse_grad(student, reference, check, gen, case):
    program, names = _grad_program(gen, case)
    got = _run_grad(student, check, "reverse_grad", program, names)
    expected = H.run_reverse_grad(reference.autodiff.reverse_grad, program)["result"]
    n = len(expected)
    _check_result(check, "reverse_grad", got, expected, program, names, mistakes=[
        Mistake("the gradients were added up over several backward passes on the same input Values: "
                "call f once, then backward() once, on fresh Values",
                value=[(i + 1) * g for i, g in enumerate(expected)]),
        *reverse_slips(program, list(range(n)), passes=("no_seed", "preorder", "preorder_visited", "bfs")),
    ], fallback="reverse_grad returns what Value computes: fix what the Value tests report first")


@pytest.mark.parametrize("case", ["worked", "random-3x20"])
def test_reverse_grad_one_pass(student, reference, check, gen, case):
    program, names = _grad_program(gen, case)
    got = _run_grad(student, check, "reverse_grad", program, names)
    calls = got["calls"]
    n = len(program["inputs"])
    check.that(len(calls) == 1,
               f"reverse_grad called f {_times(len(calls))} for {_f_text(program, names)}; reverse mode needs "
               f"ONE call of f and ONE backward() for the whole gradient",
               "wrap every x in a Value, call f once with all of them, call backward() on the result once, and "
               "read every input's .grad")
    nargs = calls[0].get("nargs") if isinstance(calls[0], dict) else None
    check.that(nargs == n, f"reverse_grad called f with {nargs} arguments instead of {n} (one Value per input)",
               "call f(*values)")


def _all_at_once(expected):
    total = sum(expected)

    def matches(actual):
        values = actual.tolist() if isinstance(actual, torch.Tensor) else actual
        return (isinstance(values, list) and len(values) in (1, len(expected)) and len(expected) > 1
                and all(isinstance(v, float) and abs(v - total) <= 1e-9 + 1e-7 * abs(total) for v in values))

    return matches


@pytest.mark.parametrize("case", GRAD_CASES)
def test_forward_grad(student, reference, check, gen, case):
    program, names = _grad_program(gen, case)
    got = _run_grad(student, check, "forward_grad", program, names)
    expected = H.run_forward_grad(reference.autodiff.forward_grad, program)["result"]
    n = len(expected)
    out = len(program["inputs"]) + len(program["ops"]) - 1

    def slip(bug=None, no_chain=False):
        return [slip_forward(program, [1.0 if j == i else 0.0 for j in range(n)], bug, no_chain)[1][out]
                for i in range(n)]

    result = got.get("result")
    if isinstance(result, list) and len(result) == 1 and n > 1 and _all_at_once(expected)(result):
        check.fail(f"forward_grad(f, xs) for {_f_text(program, names)} returned 1 number instead of {n}",
                   "every input was seeded with tangent 1 at once, which gives the SUM of the partial "
                   "derivatives: call f once per input, with tangent 1 on that input and 0 on all the others")
    _check_result(check, "forward_grad", got, expected, program, names, mistakes=[
        Mistake("every input was seeded with tangent 1 at once, which gives the SUM of the partial derivatives: "
                "call f once per input, with tangent 1 on that input and 0 on all the others",
                when=_all_at_once(expected)),
        *[Mistake(SLIP_HINTS[bug], value=lambda bug=bug: slip(bug)) for bug in ALL_BUGS],
        Mistake("f((a, a')) = (f(a), f'(a) * a'): multiply the local derivative by the input's tangent",
                value=lambda: slip(no_chain=True)),
    ], fallback="forward_grad returns what Dual computes: fix what the Dual tests report first")


def _times(k):
    return {0: "no times", 1: "once", 2: "twice"}.get(k, f"{k} times")


@pytest.mark.parametrize("case", ["worked", "random-3x20"])
def test_forward_grad_passes(student, reference, check, gen, case):
    program, names = _grad_program(gen, case)
    got = _run_grad(student, check, "forward_grad", program, names)
    calls = got["calls"]
    n = len(program["inputs"])
    seeding = "call f(*duals) once for each input i, with Dual(x_i, 1.0) for input i and Dual(x_j, 0.0) for the others"
    one_hot = []
    for call in calls:
        seeds = call.get("seeds") if isinstance(call, dict) else None
        if not isinstance(seeds, list) or len(seeds) != n:
            check.fail(f"forward_grad called f with {len(seeds) if isinstance(seeds, list) else '?'} arguments "
                       f"instead of {n} (one Dual per input)", seeding)
        _require_numbers(check, seeds, [f"the tangent of argument {i}" for i in range(n)])
        hot = [i for i, s in enumerate(seeds) if s != 0.0]
        check.that(len(hot) == 1 and seeds[hot[0]] == 1.0,
                   f"forward_grad called f with tangents {[_fmt(s) for s in seeds]}: each call must seed ONE input "
                   f"with tangent 1 and the others with 0", seeding)
        one_hot.append(hot[0])
    check.that(len(calls) == n,
               f"forward_grad called f {_times(len(calls))} for {_f_text(program, names)}; forward mode needs one "
               f"call per input ({n})", seeding)
    check.that(sorted(one_hot) == list(range(n)),
               f"forward_grad seeded inputs {sorted(one_hot)} across its calls instead of each input once", seeding)
