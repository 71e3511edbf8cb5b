"""Drivers for the autodiff topic, run beside the student's classes in the worker.

A computation is described by data only, a *program*::

    {"inputs": [0.5, -1.2],
     "ops": [["mul", 0, 1], ["exp", 2], ["add", 2, 3], ["sin", 1], ["sub", 4, 5]]}

Nodes are numbered: the inputs first (0, 1, ...), then one node per operation in order;
the last node is the output. Operations:

* two nodes: ``["add" | "sub" | "mul" | "div", i, j]`` (node i OP node j; i == j is allowed);
* node and number: ``["add_c" | "sub_c" | "mul_c" | "div_c" | "pow", i, c]`` (node i OP c);
* number and node: ``["radd" | "rsub" | "rmul" | "rdiv", c, i]`` (c OP node i, so Python
  calls the reflected method of the node);
* one node: ``["neg" | "exp" | "log" | "sin" | "cos" | "tanh" | "sigmoid" | "relu", i]``.

The drivers build the graph with whatever class or function they are given and return
plain data (numbers, lists, dicts). A failure in student code is returned as an
``"error"`` record naming the operation instead of being raised, so the grader can say
which operation failed. Nothing here is secret: the grader runs the same drivers on the
reference and compares.
"""

from __future__ import annotations

import numbers
import os
import traceback
from typing import Any, Callable, Sequence

__all__ = [
    "AUTODIFF_OPS",
    "build_program",
    "run_value_program",
    "run_dual_program",
    "run_reverse_grad",
    "run_forward_grad",
]

_BINARY = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
_WITH_CONST = {"add_c": "+", "sub_c": "-", "mul_c": "*", "div_c": "/", "pow": "**"}
_REFLECTED = {"radd": "+", "rsub": "-", "rmul": "*", "rdiv": "/"}
_UNARY = ("neg", "exp", "log", "sin", "cos", "tanh", "sigmoid", "relu")
AUTODIFF_OPS = tuple(_BINARY) + tuple(_WITH_CONST) + tuple(_REFLECTED) + _UNARY

_GRADER_DIR = os.path.dirname(os.path.abspath(__file__))


def _apply(symbol: str, a: Any, b: Any) -> Any:
    if symbol == "+":
        return a + b
    if symbol == "-":
        return a - b
    if symbol == "*":
        return a * b
    if symbol == "/":
        return a / b
    return a**b


def build_program(program: dict, leaves: Sequence[Any], on_node: Callable[[int, Any], None] | None = None,
                  unary: Callable[[Any, str], Any] | None = None) -> list:
    """Apply ``program["ops"]`` to the ``leaves`` (one per input); returns every node.

    ``on_node(k, node)`` is called after node k is made (it may raise to stop).
    ``unary(node, name)`` applies a method such as ``exp`` (default: ``node.exp()``).
    An exception in an operation propagates unchanged.
    """
    nodes = list(leaves)
    for op in program["ops"]:
        name = op[0]
        if name in _BINARY:
            node = _apply(_BINARY[name], nodes[int(op[1])], nodes[int(op[2])])
        elif name in _WITH_CONST:
            node = _apply(_WITH_CONST[name], nodes[int(op[1])], op[2])
        elif name in _REFLECTED:
            node = _apply(_REFLECTED[name], op[1], nodes[int(op[2])])
        elif name == "neg":
            node = -nodes[int(op[1])]
        elif name in _UNARY:
            node = unary(nodes[int(op[1])], name) if unary else getattr(nodes[int(op[1])], name)()
        else:
            raise ValueError(f"unknown operation {name!r}")
        nodes.append(node)
        if on_node is not None:
            on_node(len(nodes) - 1, node)
    return nodes


def _where(exc: BaseException) -> str:
    """The innermost frame outside the grader package: the student's file and line."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = os.path.abspath(frame.filename)
        if not path.startswith(_GRADER_DIR + os.sep):
            return f"{os.path.basename(frame.filename)}:{frame.lineno} in {frame.name}"
    return ""


def _error(stage: str, index: int | None, exc: BaseException) -> dict:
    return {
        "stage": stage,
        "index": index,
        "type": type(exc).__name__,
        "message": str(exc)[:500],
        "where": _where(exc),
    }


def _num(x: Any) -> Any:
    """A float for a real number; otherwise a small record naming the type."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return {"not_a_number": type(x).__name__}
    return float(x)


def _read(obj: Any, attr: str) -> Any:
    try:
        return _num(getattr(obj, attr))
    except AttributeError:
        return {"missing": attr}


def _tracked_build(program: dict, leaves: list, cls: Any) -> tuple[list, dict | None]:
    done = [0]

    def on_node(k: int, node: Any) -> None:
        done[0] += 1
        if cls is not None and not isinstance(node, cls):
            raise _WrongType(k, type(node).__name__)

    try:
        return build_program(program, leaves, on_node), None
    except _WrongType as wt:
        return [], {"stage": "type", "index": wt.index, "type": wt.kind, "message": "", "where": ""}
    except Exception as exc:
        return [], _error("op", len(leaves) + done[0], exc)


class _WrongType(Exception):
    def __init__(self, index: int, kind: str):
        super().__init__(kind)
        self.index = index
        self.kind = kind


def run_value_program(value_cls: Callable[..., Any], program: dict, backward: bool = True) -> dict:
    """Build ``program`` from ``value_cls(x)`` leaves and call ``backward()`` on the output.

    Returns ``data`` and ``grads`` of every node (inputs first), ``grad_before`` (each
    input's ``.grad`` right after construction) and ``error`` (None, or which stage and
    node failed: ``"create"``, ``"op"``, ``"type"`` (an operation returned something that
    is not a ``value_cls``), ``"backward"``).
    """
    out: dict = {"error": None, "data": [], "grads": [], "grad_before": []}
    leaves = []
    for k, x in enumerate(program["inputs"]):
        try:
            leaves.append(value_cls(x))
        except Exception as exc:
            out["error"] = _error("create", k, exc)
            return out
    out["grad_before"] = [_read(v, "grad") for v in leaves]
    nodes, err = _tracked_build(program, leaves, value_cls)
    if err is not None:
        out["error"] = err
        return out
    out["data"] = [_read(v, "data") for v in nodes]
    if backward:
        try:
            nodes[-1].backward()
        except Exception as exc:
            out["error"] = _error("backward", len(nodes) - 1, exc)
            return out
    out["grads"] = [_read(v, "grad") for v in nodes]
    return out


def run_dual_program(dual_cls: Callable[..., Any], program: dict, seeds: Sequence[Any] | None = None) -> dict:
    """Build ``program`` from ``dual_cls(x, seed)`` leaves (``dual_cls(x)`` where the seed
    is None); returns ``value`` and ``tangent`` of every node and ``error`` as above."""
    out: dict = {"error": None, "value": [], "tangent": []}
    xs = list(program["inputs"])
    seeds = list(seeds) if seeds is not None else [None] * len(xs)
    leaves = []
    for k, (x, s) in enumerate(zip(xs, seeds)):
        try:
            leaves.append(dual_cls(x) if s is None else dual_cls(x, s))
        except Exception as exc:
            out["error"] = _error("create", k, exc)
            return out
    nodes, err = _tracked_build(program, leaves, dual_cls)
    if err is not None:
        out["error"] = err
        return out
    out["value"] = [_read(v, "value") for v in nodes]
    out["tangent"] = [_read(v, "tangent") for v in nodes]
    return out


def _plain_list(result: Any) -> Any:
    if isinstance(result, (list, tuple)):
        return [_num(v) for v in result]
    return {"not_a_list": type(result).__name__}


def _run_grad_fn(grad_fn: Callable[..., Any], program: dict, record_tangents: bool) -> dict:
    calls: list[dict] = []

    def f(*args: Any) -> Any:
        info: dict = {"nargs": len(args)}
        if record_tangents:
            info["seeds"] = [_read(a, "tangent") for a in args]
        calls.append(info)
        if len(args) != len(program["inputs"]):
            raise TypeError(f"f takes {len(program['inputs'])} arguments but {len(args)} were given")
        return build_program(program, list(args))[-1]

    out: dict = {"error": None, "result": None, "calls": calls}
    try:
        result = grad_fn(f, [float(x) for x in program["inputs"]])
    except Exception as exc:
        out["error"] = _error("call", None, exc)
        return out
    out["result"] = _plain_list(result)
    return out


def run_reverse_grad(reverse_grad: Callable[..., Any], program: dict) -> dict:
    """``reverse_grad(f, xs)`` for the program's function f at its inputs; returns the
    ``result`` (as plain numbers), ``calls`` (one record per call of f: the number of
    arguments) and ``error``."""
    return _run_grad_fn(reverse_grad, program, record_tangents=False)


def run_forward_grad(forward_grad: Callable[..., Any], program: dict) -> dict:
    """``forward_grad(f, xs)`` as :func:`run_reverse_grad`; each call record also holds
    the tangents of the arguments f received (``seeds``)."""
    return _run_grad_fn(forward_grad, program, record_tangents=True)


# --------------------------------------------------------------------------- programs
# Grader-side helpers (not exported to grader.harness): programs for the suites and the
# reference's proof tests, evaluated with plain floats to keep every operation in its
# domain.


def float_op(op: Sequence[Any], vals: Sequence[float]) -> float:
    """The value of one operation on plain floats (ValueError / ZeroDivisionError /
    OverflowError outside its domain)."""
    import math

    name = op[0]
    if name in _BINARY:
        return float(_apply(_BINARY[name], vals[int(op[1])], vals[int(op[2])]))
    if name in _WITH_CONST:
        r = _apply(_WITH_CONST[name], vals[int(op[1])], op[2])
        if isinstance(r, complex):
            raise ValueError("complex result")
        return float(r)
    if name in _REFLECTED:
        return float(_apply(_REFLECTED[name], op[1], vals[int(op[2])]))
    a = vals[int(op[1])]
    if name == "neg":
        return -a
    if name == "sigmoid":
        return 1.0 / (1.0 + math.exp(-a)) if a >= 0 else math.exp(a) / (1.0 + math.exp(a))
    if name == "relu":
        return a if a > 0 else 0.0
    return float(getattr(math, name)(a))


def evaluate_program(program: dict) -> list[float]:
    """Every node's value, computed with plain floats."""
    vals = [float(x) for x in program["inputs"]]
    for op in program["ops"]:
        vals.append(float_op(op, vals))
    return vals


def _in_domain(op: Sequence[Any], vals: Sequence[float], limit: float) -> bool:
    """The operation is well inside its domain (no division by ~0, log of ~0, ...)."""
    import math

    name = op[0]
    if name == "div" and abs(vals[int(op[2])]) < 0.25:
        return False
    if name == "rdiv" and abs(vals[int(op[2])]) < 0.25:
        return False
    if name == "log" and vals[int(op[1])] < 0.1:
        return False
    if name == "exp" and vals[int(op[1])] > 3.0:
        return False
    if name == "pow":
        base, n = vals[int(op[1])], op[2]
        if n != int(n) and base < 0.1:
            return False
        if n < 0 and abs(base) < 0.25:
            return False
    if name == "relu" and abs(vals[int(op[1])]) < 1e-3:
        return False
    try:
        r = float_op(op, vals)
    except (ValueError, ZeroDivisionError, OverflowError):
        return False
    return math.isfinite(r) and abs(r) <= limit


CONSTANTS = (2, 3, -1, 0.5, -2.5, 1.7, 4)
EXPONENTS = (2, 3, -1, 0.5, 1.5, -0.5, -2)


def random_program(gen: Any, n_inputs: int, n_ops: int, ops: Sequence[str] = AUTODIFF_OPS,
                   limit: float = 20.0) -> dict:
    """A random program of about ``n_ops`` operations on ``n_inputs`` inputs in [-2, 2],
    every operation inside its domain. Operands favour recent nodes but reach back, so
    nodes get reused and diamonds appear; every node left unused at the end is added
    into the output, so each one influences it."""
    import torch

    def draw() -> float:
        return float(torch.rand((), generator=gen, dtype=torch.float64))

    def pick(seq: Sequence[Any]) -> Any:
        return seq[int(torch.randint(len(seq), (), generator=gen))]

    inputs = [round(4.0 * draw() - 2.0, 4) for _ in range(n_inputs)]
    inputs = [x if abs(x) > 0.05 else x + 0.3 for x in inputs]
    vals = list(inputs)
    prog_ops: list[list] = []
    used = [0] * len(vals)

    def operand() -> int:
        n = len(vals)
        if draw() < 0.6:
            return n - 1 - int(draw() * min(3, n))
        return int(draw() * n)

    tries = 0
    while len(prog_ops) < n_ops and tries < 50 * n_ops:
        tries += 1
        name = pick(list(ops))
        if name in _BINARY:
            op = [name, operand(), operand()]
        elif name == "pow":
            op = [name, operand(), pick(EXPONENTS)]
        elif name in _WITH_CONST:
            op = [name, operand(), pick(CONSTANTS)]
        elif name in _REFLECTED:
            op = [name, pick(CONSTANTS), operand()]
        else:
            op = [name, operand()]
        if not _in_domain(op, vals, limit):
            continue
        vals.append(float_op(op, vals))
        prog_ops.append(op)
        used.append(0)
        for arg in _node_args(op):
            used[arg] += 1
    # every node that nothing uses (the last excepted) flows into the output
    last = len(vals) - 1
    for k in range(len(vals) - 1):
        if used[k] == 0:
            op = ["add", last, k]
            vals.append(float_op(op, vals))
            prog_ops.append(op)
            last = len(vals) - 1
    return {"inputs": inputs, "ops": prog_ops}


def _node_args(op: Sequence[Any]) -> list[int]:
    name = op[0]
    if name in _BINARY:
        return [int(op[1]), int(op[2])]
    if name in _REFLECTED:
        return [int(op[2])]
    return [int(op[1])]


def node_args(op: Sequence[Any]) -> list[int]:
    """The node indices an operation reads."""
    return _node_args(op)


def worked_example(x1: float, x2: float) -> dict:
    """The course notes' f(x1, x2) = x1*x2 + exp(x1*x2) - sin(x2), with v = x1*x2 computed
    once and used twice (nodes: x1, x2, v, exp(v), v + exp(v), sin(x2), output)."""
    return {"inputs": [x1, x2],
            "ops": [["mul", 0, 1], ["exp", 2], ["add", 2, 3], ["sin", 1], ["sub", 4, 5]]}


def deep_chain(x: float, depth: int, reuse: bool) -> dict:
    """A chain of ``depth`` operations, every node depending on the one before.

    With ``reuse`` each level is v <- v + 0.01*cos(v) (v used twice: by cos and by the
    add), a diamond at every level; otherwise v <- 1.002*(0.3 - v) (each node used once).
    """
    ops: list[list] = []
    last = 0
    while len(ops) + 3 <= depth:
        if reuse:
            ops += [["cos", last], ["mul_c", last + 1, 0.01], ["add", last, last + 2]]
        else:
            ops += [["neg", last], ["add_c", last + 1, 0.3], ["mul_c", last + 2, 1.002]]
        last += 3
    while len(ops) < depth:
        ops.append(["mul_c", last, 1.0])
        last += 1
    return {"inputs": [x], "ops": ops}


# Operations that a common design builds from two nodes when the chain is their right-hand
# operand: c - v as c + (-v), c / v as c * v**-1 (both for a number c and for a node c).
TWO_NODE_STEPS = (("rsub", 2.5), ("sub", 1), ("rdiv", 1.5), ("div", 2))


def _chain_candidates(name: str, last: int, turn: int) -> list[list]:
    """Instances of operation ``name`` that read the chain's node ``last``; a binary
    operation takes the chain on the left or the right (alternating with ``turn``) and
    one of the leaves 1 and 2 as its other operand."""
    if name in _BINARY:
        sides = [[name, leaf, last] for leaf in (1, 2)], [[name, last, leaf] for leaf in (1, 2)]
        return sides[turn % 2] + sides[1 - turn % 2]
    if name == "pow":
        return [[name, last, n] for n in EXPONENTS]
    if name in _WITH_CONST:
        return [[name, last, c] for c in CONSTANTS]
    if name in _REFLECTED:
        return [[name, c, last] for c in CONSTANTS]
    return [[name, last]]


def deep_mixed_chain(x: float, depth: int, two_node: bool = False) -> dict:
    """A chain of ``depth`` operations on inputs ``[x, 2.5, 1.5]`` in which every
    operation reads the node made just before it.

    With ``two_node`` every step puts the chain on the RIGHT of a subtraction or a
    division (``2.5 - v``, ``1.5 / v``, ``a - v``, ``b / v`` with the leaves a, b): a design
    that builds those as ``c + (-v)`` and ``c * v**-1`` makes two nodes per step, so the
    graph is about 2 * depth nodes deep. Each group of four steps maps v back to v (with
    a = 2.5 and b = 1.5), so the values and the gradients stay of order one. Otherwise the steps cycle through every
    operation of :data:`AUTODIFF_OPS`, each placed so that the chain's value stays in
    0.4 <= |v| <= 3 and the product of the local derivatives along the chain stays
    within e^-6 .. e^6 (no vanishing or exploding gradients).
    """
    import math

    vals = [float(x), 2.5, 1.5]
    ops: list[list] = []
    last = 0
    if two_node:
        for k in range(depth):
            name, other = TWO_NODE_STEPS[k % len(TWO_NODE_STEPS)]
            op = [name, other, last]
            vals.append(float_op(op, vals))
            ops.append(op)
            last = len(vals) - 1
        return {"inputs": vals[:3], "ops": ops}

    log_d = 0.0
    turn = 0
    names = list(AUTODIFF_OPS)
    k = 0
    misses = 0
    while len(ops) < depth:
        name = names[k % len(names)]
        k += 1
        chosen = None
        for op in _chain_candidates(name, last, turn):
            if not _in_domain(op, vals, 3.0):
                continue
            r = float_op(op, vals)
            if not 0.4 <= abs(r) <= 3.0:
                continue
            h = 1e-6
            shifted = list(vals)
            shifted[last] = vals[last] + h
            up = float_op(op, shifted)
            shifted[last] = vals[last] - h
            down = float_op(op, shifted)
            d = abs(up - down) / (2 * h)
            if not 0.1 <= d <= 4.0 or abs(log_d + math.log(d)) > 6.0:
                continue
            chosen, log_d = op, log_d + math.log(d)
            break
        if chosen is None:
            misses += 1
            if misses < len(names):
                continue
            chosen = ["mul_c", last, -1 if abs(log_d) < 6 else 1]  # never reached in practice
        misses = 0
        turn += 1
        vals.append(float_op(chosen, vals))
        ops.append(chosen)
        last = len(vals) - 1
    return {"inputs": vals[:3], "ops": ops}


def wide_program(xs: Sequence[float]) -> dict:
    """h = sigmoid(x0 + x1) used by one product per input (h * x_i), summed pairwise:
    a node with len(xs) consumers and len(xs) inputs, at a small depth."""
    n = len(xs)
    ops: list[list] = [["add", 0, 1], ["sigmoid", n]]
    h = n + 1
    level = []
    for i in range(n):
        ops.append(["mul", h, i])
        level.append(n + len(ops) - 1)
    while len(level) > 1:
        nxt = []
        for a, b in zip(level[::2], level[1::2]):
            ops.append(["add", a, b])
            nxt.append(n + len(ops) - 1)
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return {"inputs": list(xs), "ops": ops}
