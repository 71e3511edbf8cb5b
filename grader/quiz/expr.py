"""The quiz expression language: a whitelist parser over ``ast`` and a numpy evaluator.

Nothing here calls ``eval`` or ``compile``: the text is parsed by :func:`ast.parse`, every
node is checked against a whitelist, and the checked tree is walked by a small
interpreter. Limits keep hostile input cheap: text length, node count, array size (checked
before an operation allocates) and a wall-clock deadline checked at every node. Powers are
computed in float64, so ``10**10**10`` is ``inf`` rather than a very long wait.
"""

from __future__ import annotations

import ast
import functools
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

MAX_CHARS = 1000
MAX_NODES = 300
MAX_SIZE = 100_000
CONSTANTS: dict[str, float] = {"pi": float(np.pi), "e": float(np.e)}


class ExprError(ValueError):
    """The text is not a valid expression, or evaluating it broke a limit."""


def _sigmoid(x: Any) -> Any:
    return np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=float)))


def _softmax(x: Any) -> Any:
    a = np.asarray(x, dtype=float)
    z = np.exp(a - np.max(a, axis=-1, keepdims=True))
    return z / np.sum(z, axis=-1, keepdims=True)


def _extreme(reduce: Callable, pairwise: Callable) -> Callable:
    def call(*args: Any) -> Any:
        if len(args) == 1:
            return reduce(args[0])
        return functools.reduce(pairwise, args)

    return call


def _sized(make: Callable) -> Callable:
    def call(*args: Any) -> Any:
        shape = tuple(int(a) for a in (np.ravel(args[0]) if len(args) == 1 else args))
        if any(s < 0 for s in shape) or int(np.prod(shape, dtype=float)) > MAX_SIZE:
            raise ExprError(f"array of shape {shape} is too large (limit {MAX_SIZE} entries)")
        return make(shape)

    return call


def _eye(n: Any) -> Any:
    size = int(n)
    if size < 0 or size * size > MAX_SIZE:
        raise ExprError(f"eye({size}) is too large")
    return np.eye(size)


def _outer(a: Any, b: Any) -> Any:
    if np.size(a) * np.size(b) > MAX_SIZE:
        raise ExprError(f"outer product too large (limit {MAX_SIZE} entries)")
    return np.outer(a, b)


def _round(x: Any, digits: Any = 0) -> Any:
    return np.round(x, int(digits))


# Elementwise functions keep the shape of their argument, so a symbolic answer can be
# evaluated at every sample point at once; the others reduce or build arrays.
ELEMENTWISE: dict[str, Callable] = {
    "exp": np.exp, "log": np.log, "ln": np.log, "log2": np.log2, "log10": np.log10,
    "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "tanh": np.tanh, "sigmoid": _sigmoid, "softplus": lambda x: np.logaddexp(0.0, x),
    "relu": lambda x: np.maximum(x, 0.0), "floor": np.floor, "ceil": np.ceil, "round": _round,
}
STRUCTURAL: dict[str, Callable] = {
    "min": _extreme(np.min, np.minimum), "max": _extreme(np.max, np.maximum),
    "sum": np.sum, "mean": np.mean, "prod": np.prod, "dot": np.dot, "outer": _outer,
    "transpose": np.transpose, "softmax": _softmax, "array": lambda x: np.asarray(x, dtype=float),
    "zeros": _sized(np.zeros), "ones": _sized(np.ones), "eye": _eye,
}
FUNCTIONS: dict[str, Callable] = {**ELEMENTWISE, **STRUCTURAL}
STANDARD_FUNCTIONS = frozenset(FUNCTIONS)

_BINOPS: dict[type, Callable] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
    ast.Pow: lambda a, b: np.power(np.asarray(a, dtype=float), np.asarray(b, dtype=float)),
    ast.MatMult: np.matmul,
}
_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.UAdd, ast.USub, ast.Constant, ast.Name,
            ast.Load, ast.Call, ast.List, ast.Tuple, ast.Subscript, ast.Slice, *_BINOPS)


@dataclass(frozen=True)
class Expr:
    """A checked expression: its text, its tree and the names it uses."""

    text: str
    tree: ast.Expression
    names: frozenset[str]
    functions: frozenset[str]
    elementwise: bool  # evaluating at an array of points gives one value per point

    def __call__(self, env: Mapping[str, Any], timeout: float = 1.0) -> Any:
        return evaluate(self, env, timeout)


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return "attribute access ('.')"
    if isinstance(node, ast.Compare):
        return "comparisons"
    if isinstance(node, ast.Lambda):
        return "lambda"
    if isinstance(node, ast.BinOp):
        return f"the operator {type(node.op).__name__}"
    return type(node).__name__


@functools.lru_cache(maxsize=4096)
def parse(text: str, names: frozenset[str], functions: frozenset[str] = STANDARD_FUNCTIONS) -> Expr:
    """Parse ``text`` allowing the given variable ``names`` and ``functions``.

    ``^`` is read as a power (students type it), and ``pi`` and ``e`` are always known
    unless a name of the same spelling is passed.
    """
    if not isinstance(text, str):
        raise ExprError(f"expected an expression as text, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise ExprError(f"expression longer than {MAX_CHARS} characters")
    if not text.strip():
        raise ExprError("empty expression")
    try:
        tree = ast.parse(text.replace("^", "**").strip(), mode="eval")
    except SyntaxError as exc:
        hint = " (write multiplication with '*', e.g. 2*x)" if "invalid" in str(exc.msg) else ""
        raise ExprError(f"syntax error at column {exc.offset or 0}: {exc.msg}{hint}") from None
    except (ValueError, RecursionError, MemoryError):
        raise ExprError("expression too deeply nested") from None
    count, used, called = 0, set(), set()
    positions = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        count += 1
        if count > MAX_NODES:
            raise ExprError(f"expression has more than {MAX_NODES} parts")
        if not isinstance(node, _ALLOWED):
            raise ExprError(f"{_describe(node)} not allowed")
        if isinstance(node, ast.Constant) and (
            isinstance(node.value, bool) or not isinstance(node.value, (int, float))
        ):
            raise ExprError(f"constant {node.value!r} not allowed; only numbers")
        if isinstance(node, ast.Call):
            fname = node.func.id if isinstance(node.func, ast.Name) else None
            if fname is None or node.keywords:
                raise ExprError("only plain calls like log(x) are allowed")
            if fname not in functions:
                raise ExprError(f"unknown function '{fname}'; allowed: {', '.join(sorted(functions))}")
            called.add(fname)
        elif isinstance(node, ast.Name) and id(node) not in positions:
            if node.id not in names and node.id not in CONSTANTS:
                known = ", ".join(sorted(names)) or "none"
                raise ExprError(f"unknown name '{node.id}' (known names: {known})")
            used.add(node.id)
    elementwise = called <= set(ELEMENTWISE) and not any(
        isinstance(n, (ast.List, ast.Tuple, ast.Subscript)) or isinstance(getattr(n, "op", None), ast.MatMult)
        for n in ast.walk(tree))
    return Expr(text, tree, frozenset(used), frozenset(called), elementwise)


def evaluate(expr: Expr, env: Mapping[str, Any], timeout: float = 1.0) -> Any:
    """Evaluate a parsed expression with numpy semantics; names come from ``env``.

    Raises :class:`ExprError` on a limit, a missing name or a numpy error such as a shape
    mismatch. Domain problems (``log(-1)``) give ``nan`` rather than an error.
    """
    deadline = time.monotonic() + timeout
    missing = expr.names - set(env) - set(CONSTANTS)
    if missing:
        raise ExprError(f"no value for {', '.join(sorted(missing))}")
    try:
        with np.errstate(all="ignore"):
            return _Walker(env, deadline).visit(expr.tree.body)
    except ExprError:
        raise
    except (ValueError, TypeError, IndexError, OverflowError, ZeroDivisionError) as exc:
        raise ExprError(f"cannot evaluate '{expr.text}': {exc}") from None


class _Walker:
    def __init__(self, env: Mapping[str, Any], deadline: float):
        self.env, self.deadline = env, deadline

    def visit(self, node: ast.AST) -> Any:
        if time.monotonic() > self.deadline:
            raise ExprError("evaluation took too long")
        if isinstance(node, ast.Constant):
            value = node.value
            return float(value) if isinstance(value, int) and abs(value) > 2**53 else value
        if isinstance(node, ast.Name):
            return self.env[node.id] if node.id in self.env else CONSTANTS[node.id]
        if isinstance(node, ast.UnaryOp):
            operand = self.visit(node.operand)
            return np.negative(operand) if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            left, right = self.visit(node.left), self.visit(node.right)
            _check_sizes(left, right, isinstance(node.op, ast.MatMult))
            return _BINOPS[type(node.op)](left, right)
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.visit(e) for e in node.elts]
            if sum(int(np.size(i)) for i in items) > MAX_SIZE:
                raise ExprError("list literal too large")
            return np.asarray(items, dtype=float)
        if isinstance(node, ast.Subscript):
            return np.asarray(self.visit(node.value))[self._index(node.slice)]
        if isinstance(node, ast.Call):
            args = [self.visit(a) for a in node.args]
            return FUNCTIONS[node.func.id](*args)
        raise ExprError(f"{type(node).__name__} not allowed")  # unreachable after parse

    def _index(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Tuple):
            return tuple(self._index(e) for e in node.elts)
        if isinstance(node, ast.Slice):
            parts = [None if p is None else self._int(self.visit(p)) for p in (node.lower, node.upper, node.step)]
            return slice(*parts)
        return self._int(self.visit(node))

    @staticmethod
    def _int(value: Any) -> int:
        number = float(value)
        if number != int(number):
            raise ExprError(f"index {number} is not a whole number")
        return int(number)


def _check_sizes(left: Any, right: Any, matmul: bool) -> None:
    a, b = np.shape(left), np.shape(right)
    if not a and not b:
        return
    if matmul:
        size = float(np.prod(a[:-1] or (1,))) * float(b[-1] if len(b) > 1 else 1)
    else:
        try:
            size = float(np.prod(np.broadcast_shapes(a, b)))
        except ValueError:
            raise ExprError(f"shapes {a} and {b} do not match") from None
    if size > MAX_SIZE:
        raise ExprError(f"result too large (limit {MAX_SIZE} entries)")
