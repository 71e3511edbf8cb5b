"""Find, in a submission's source, functions that write into their arguments in place.

The course contract (docs/api.md) says that nothing mutates its inputs except the functions whose names end in
``_`` (which must fill their first argument in place), optimizer ``step()`` (which must
leave ``p.grad`` alone) and the running statistics of ``batchnorm_forward``. A check
that compares arguments before and after a call runs inside the sandbox, where the
student can forge it; this module scores the same rules from the source text, which the
grader parses itself. Every function body is walked once with a must-alias state (the
names that certainly refer to an argument or to a view of it); writes, and arguments
handed to the module's own functions, become events, and the few facts that cross
calls (which parameters a helper writes, which ones its callers expose) are found by
graph reachability over those events. Where the source does not say for sure, the
analysis stays silent: a missed mutation costs less than accusing an honest student.
"""

from __future__ import annotations

import ast
import builtins
import gc
import re
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, Literal, NamedTuple

from grader.topics import TOPICS

Kind = Literal["modifies", "not_filled", "replaces_storage", "modifies_grad"]

# Parameters that the contract's signatures (docs/api.md) declare as tensors, per topic: only for these is
# ``P -= m`` an in-place update (a number or a string is rebound). Dropout's ``p`` is a
# probability while the losses' ``entropy(p, ...)`` takes a tensor; ``cache`` and
# ``params`` are containers; autodiff and optimizers take numbers, Values and lists.
TENSOR_PARAMS: dict[str, frozenset[str]] = {
    "activations": frozenset({"x"}),
    "losses": frozenset({"input", "target", "p", "q"}),
    "gradients": frozenset({"X", "y", "w", "W", "x", "a", "b", "w0"}),
    "backprop": frozenset({"x", "W", "b", "dout", "logits", "y", "X", "dlogits"}),
    "autodiff": frozenset(),
    "optimizers": frozenset(),
    "init": frozenset({"t", "tensor"}),
    "dropout": frozenset({"x", "dout"}),
    "batchnorm": frozenset({"x", "gamma", "beta", "running_mean", "running_var", "dout"}),
}

# What shares memory with a tensor: writing through it writes into the tensor.
VIEW_METHODS = frozenset({
    "view", "view_as", "reshape", "reshape_as", "t", "transpose", "permute", "squeeze",
    "unsqueeze", "flatten", "expand", "expand_as", "narrow", "select", "unflatten",
    "movedim", "moveaxis", "swapaxes", "swapdims", "diagonal", "as_strided", "detach",
    "numpy", "unfold",
})
VIEW_ATTRIBUTES = frozenset({"T", "mT", "H", "mH", "data"})
_IN_PLACE_DUNDERS = frozenset({
    "__setitem__", "__delitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__",
    "__ifloordiv__", "__imod__", "__ipow__", "__imatmul__", "__iand__", "__ior__", "__ixor__",
})
_NOT_WRITES = frozenset({"requires_grad_"})
# Callables known not to write into a tensor they are given (``torch.empty_like(t)``
# reads t's shape): passing the tensor to anything else might fill it.
_PURE_MODULES = frozenset({"math", "cmath", "numbers", "operator", "warnings"})
_PURE_BUILTINS = frozenset({
    "isinstance", "issubclass", "len", "type", "id", "hash", "repr", "ascii", "str", "format", "print",
    "int", "float", "bool", "complex", "abs", "round", "divmod", "pow", "callable", "hasattr", "range",
    "slice", "super", "object", "any", "all", "sum", "min", "max",
} | {name for name in dir(builtins) if name.endswith(("Error", "Exception", "Warning"))})
# Results that share memory with the tensor but are not one tensor: rows of ``for r in
# t``, ``t.unbind()``, ``t.split(2)``... Writes through them go unseen, so handing a
# tensor to one counts as a possible write.
_VIEW_CONTAINERS = frozenset({
    "unbind", "split", "chunk", "tensor_split", "hsplit", "vsplit", "dsplit", "__iter__",
})
_DETAIL_WIDTH = 80


@dataclass(frozen=True, order=True)
class MutationFinding:
    """One rule about arguments that a function breaks, with the line that shows it."""

    line: int
    function: str
    param: str
    kind: Kind
    detail: str

    def describe(self) -> str:
        where = f"line {self.line}: {self.detail}"
        if self.kind == "not_filled":
            p = self.param
            return (f"{self.function} never writes into {p}: fill {p} in place "
                    f"({p}.uniform_(...), {p}.copy_(...)) and return it")
        if self.kind == "replaces_storage":
            p = self.param
            return (f"{self.function} replaces {p}'s memory ({where}): views of a larger tensor "
                    f"stay unfilled; copy into {p} with {p}.copy_({_assigned(self.detail)})")
        if self.kind == "modifies_grad":
            if re.match(rf"{re.escape(self.param)}\s*=[^=]", self.detail):
                return (f"{self.function} replaces {self.param} ({where}): leave the gradient as autograd "
                        "filled it and compute a new tensor instead")
            return f"{self.function} modifies {self.param} in place ({where}): compute a new tensor instead"
        return f"{self.function} modifies its argument {self.param} in place ({where})"


def _assigned(detail: str) -> str:
    """The value of ``t.data = value`` in a detail line, when it is short."""
    try:
        node = ast.parse(detail).body[0]
    except (SyntaxError, IndexError):
        return "..."
    if isinstance(node, ast.Assign) and len(ast.unparse(node.value)) <= 40:
        return ast.unparse(node.value)
    return "..."


# --------------------------------------------------------------------------- events


class _Alias(NamedTuple):
    target: str  # the parameter ("x"), or the gradient expression ("p.grad")
    tensor: bool = False  # certainly a tensor (a view, a gradient), whatever its name
    grad: bool = False


How = Literal["in_place", "rebind_op", "storage", "grad_assign"]  # rebind_op: ``P -= m`` on a name


class _Write(NamedTuple):
    alias: _Alias
    how: How
    line: int


class _Pass(NamedTuple):
    """An alias handed to one of the module's own functions, as its parameter ``param``."""

    callee: str
    param: str
    alias: _Alias
    line: int
    returned: bool  # ``return callee(...)``: the callee produces the caller's result


@dataclass(frozen=True)
class _Function:
    qualname: str
    node: ast.FunctionDef | ast.AsyncFunctionDef
    cls: str | None
    positional: tuple[str, ...]
    keyword: frozenset[str]
    bound: int  # 1 when ``self.m(a)`` passes ``a`` as the second parameter
    params: frozenset[str]
    names: frozenset[str]  # every name the body binds: these shadow module functions

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class _Events:
    writes: tuple[_Write, ...]
    passes: tuple[_Pass, ...]
    escapes: frozenset[str]
    completes: bool  # some path returns normally (a stub that only raises does not)


def _in_place(method: str) -> bool:
    if method in _IN_PLACE_DUNDERS:
        return True
    return method.endswith("_") and not method.endswith("__") and method not in _NOT_WRITES


def _basic_index(index: ast.expr) -> bool:
    """Indexing by constant ints, slices, ``...`` and None gives a view; anything else
    may be advanced indexing, which copies."""
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    return all(_basic_part(part) for part in parts)


def _basic_part(part: ast.expr) -> bool:
    if isinstance(part, ast.Slice):
        return True
    if isinstance(part, ast.UnaryOp) and isinstance(part.op, ast.USub):
        part = part.operand
    return isinstance(part, ast.Constant) and (part.value is None or part.value is Ellipsis or type(part.value) is int)


def _target_names(target: ast.AST) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _target_names(elt)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def _bound_here(node: ast.AST) -> list[str]:
    """Names one node binds (not those of the statements nested in it)."""
    if isinstance(node, (ast.Assign, ast.Delete)):
        return [n for t in node.targets for n in _target_names(t)]
    if isinstance(node, (ast.AnnAssign, ast.For, ast.AsyncFor, ast.NamedExpr, ast.comprehension)):
        return _target_names(node.target)
    if isinstance(node, ast.withitem):
        return _target_names(node.optional_vars) if node.optional_vars else []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names]
    if isinstance(node, ast.ExceptHandler) or isinstance(node, (ast.MatchAs, ast.MatchStar)):
        return [node.name] if node.name else []
    if isinstance(node, ast.MatchMapping):
        return [node.rest] if node.rest else []
    return []


_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_LEAF_FIELDS = frozenset({"ctx", "op", "ops", "conversion", "kind", "type_comment"})
_FIELDS: dict[type, tuple[str, ...]] = {}


def _children(node: ast.AST) -> list[ast.AST]:
    """The child nodes worth visiting (no contexts or operators), in field order."""
    fields = _FIELDS.get(type(node))
    if fields is None:
        fields = _FIELDS[type(node)] = tuple(f for f in node._fields if f not in _LEAF_FIELDS)
    out: list[ast.AST] = []
    for name in fields:
        value = getattr(node, name, None)
        if isinstance(value, list):
            out.extend(v for v in value if isinstance(v, ast.AST))
        elif isinstance(value, ast.AST):
            out.append(value)
    return out


def _join(a: dict[str, _Alias] | None, b: dict[str, _Alias] | None) -> dict[str, _Alias] | None:
    """Must-alias at a meeting point; None is a path that never gets there."""
    if a is None or b is None:
        return b if a is None else a
    out = {}
    for name, alias in a.items():
        other = b.get(name)
        if other is not None and other.target == alias.target and other.grad == alias.grad:
            out[name] = alias._replace(tensor=alias.tensor and other.tensor)
    return out


def _call_key(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls"):
        return "." + func.attr
    return None


# --------------------------------------------------------------------------- module


class _Module:
    """What the walk of one function needs to know about the rest of the module, and
    how often each function is called directly or otherwise used (filled in by the walks)."""

    def __init__(self, tree: ast.Module, topic: str, source: str):
        self.topic = topic
        self.lines = source.splitlines()
        self.functions: dict[str, _Function] = {}
        self.classes: set[str] = set()
        self.imports: dict[str, str] = {}
        self.calls: Counter[str] = Counter()  # direct calls: f(...), self.m(...)
        self.uses: Counter[str] = Counter()  # every load of the name, calls included
        # Names bound by ``:=`` anywhere: any loop may rebind them (only looked for when
        # the text has one: the search is a walk of the whole tree).
        self.walrus = frozenset(
            n.target.id for n in ast.walk(tree) if isinstance(n, ast.NamedExpr)
        ) if ":=" in source else frozenset()
        self._bound_memo: dict[int, frozenset[str]] = {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._add(node, None)
            elif isinstance(node, ast.ClassDef):
                self.classes.add(node.name)
                self.count(node.bases + node.decorator_list)
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        self._add(item, node.name)
                    else:
                        self.count([item])
            else:
                self.count([node])

    def _add(self, node: ast.FunctionDef | ast.AsyncFunctionDef, cls: str | None) -> None:
        args = node.args
        self.count(node.decorator_list + args.defaults + [d for d in args.kw_defaults if d is not None])
        static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)
        names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a}
        qualname = f"{cls}.{node.name}" if cls else node.name
        self.functions[qualname] = _Function(
            qualname, node, cls,
            tuple(a.arg for a in (*args.posonlyargs, *args.args)),
            frozenset(a.arg for a in (*args.args, *args.kwonlyargs)),
            0 if cls is None or static else 1,
            frozenset(names),
            frozenset(names | self.bound(node.body) | self.walrus),
        )

    def count(self, nodes: Iterable[ast.AST]) -> None:
        """Record the imports, calls and uses in code that no function walk covers."""
        for root in nodes:
            for node in ast.walk(root):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    self._import(node)
                elif isinstance(node, ast.Call):
                    key = _call_key(node.func)
                    if key is not None:
                        self.calls[key] += 1
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    self.uses[node.id] += 1
                elif isinstance(node, ast.Attribute):
                    self.uses["." + node.attr] += 1

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                root = a.name.split(".")[0]
                self.imports[a.asname or root] = a.name if a.asname else root
        elif node.module and not node.level:
            for a in node.names:
                self.imports[a.asname or a.name] = f"{node.module}.{a.name}"

    def bound(self, stmts: list[ast.stmt]) -> frozenset[str]:
        """Every name a block's statements bind, nested blocks included (memoised, so
        linear overall; ``:=`` is accounted for by ``walrus``)."""
        out: set[str] = set()
        for stmt in stmts:
            key = id(stmt)
            if key not in self._bound_memo:
                self._bound_memo[key] = self._bound_stmt(stmt)
            out |= self._bound_memo[key]
        return frozenset(out)

    def _bound_stmt(self, stmt: ast.stmt) -> frozenset[str]:
        names = set(_bound_here(stmt))
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            self._import(stmt)
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return frozenset(names)
        for item in getattr(stmt, "items", ()):
            names.update(_bound_here(item))
        for field in ("body", "orelse", "finalbody"):
            names |= self.bound(getattr(stmt, field, None) or [])
        for handler in getattr(stmt, "handlers", ()):
            names.update(_bound_here(handler))
            names |= self.bound(handler.body)
        for case in getattr(stmt, "cases", ()):
            names.update(n for sub in ast.walk(case.pattern) for n in _bound_here(sub))
            names |= self.bound(case.body)
        return frozenset(names)

    def resolve(self, node: ast.expr, fn: _Function) -> str | None:
        """The dotted name an expression refers to through imports (``torch.add``),
        ``builtins.<name>`` for an unshadowed builtin, else None."""
        if isinstance(node, ast.Name):
            if node.id in fn.params:
                return None
            if node.id in self.imports:
                return self.imports[node.id]
            if node.id in fn.names or node.id in self.functions or node.id in self.classes:
                return None
            return f"builtins.{node.id}" if hasattr(builtins, node.id) else None
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value, fn)
            return f"{base}.{node.attr}" if base else None
        return None

    def callee(self, func: ast.expr, fn: _Function) -> tuple[_Function, int] | None:
        """The module's own function a call runs, and how many parameters the call
        fills implicitly (``self``)."""
        if isinstance(func, ast.Name) and func.id not in fn.names:
            if func.id in self.functions:
                return self.functions[func.id], 0
            if f"{func.id}.__init__" in self.functions:
                return self.functions[f"{func.id}.__init__"], 1
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and fn.cls:
            target = self.functions.get(f"{fn.cls}.{func.attr}")
            if target and func.value.id in ("self", "cls"):
                return target, target.bound
        return None

    def pure(self, dotted: str | None) -> bool:
        if dotted is None:
            return False
        root, _, rest = dotted.partition(".")
        last = dotted.rsplit(".", 1)[-1]
        if root == "builtins":
            return rest in _PURE_BUILTINS
        if root == "torch":
            return not _in_place(last)
        return root in _PURE_MODULES

    def detail(self, line: int) -> str:
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        return text if len(text) <= _DETAIL_WIDTH else text[: _DETAIL_WIDTH - 3] + "..."


# --------------------------------------------------------------------------- one function


class _Walker:
    """One pass over a function body: its writes, passes and escapes, by must-alias."""

    def __init__(self, module: _Module, fn: _Function, step_rule: bool):
        self.module, self.fn, self.step_rule = module, fn, step_rule
        self.writes: list[_Write] = []
        self.passes: list[_Pass] = []
        self.escapes: set[str] = set()
        self.returns = False

    def run(self) -> _Events:
        args = self.fn.node.args
        params = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
        end = self.block(self.fn.node.body, {p: _Alias(p) for p in params})
        return _Events(tuple(self.writes), tuple(self.passes), frozenset(self.escapes),
                       self.returns or end is not None)

    # -- aliases -------------------------------------------------------------------
    def alias(self, node: ast.expr | None, state: dict[str, _Alias]) -> _Alias | None:
        if isinstance(node, ast.Name):
            return state.get(node.id)
        if isinstance(node, ast.Attribute):
            if node.attr == "grad" and self.step_rule:
                return _Alias(ast.unparse(node), True, True)
            if node.attr in VIEW_ATTRIBUTES:
                return self._as_tensor(self.alias(node.value, state))
            return None
        if isinstance(node, ast.Subscript):
            return self.alias(node.value, state) if _basic_index(node.slice) else None
        if isinstance(node, ast.NamedExpr):
            return self.alias(node.value, state)
        if isinstance(node, ast.Call):
            dotted = self.module.resolve(node.func, self.fn)
            last = dotted.rsplit(".", 1)[-1] if dotted else ""
            if dotted is not None:  # a module's function: torch.reshape(x), torch.relu_(x)
                shares = dotted.startswith("torch.") and (last in VIEW_METHODS or _in_place(last))
                return self._as_tensor(self.alias(node.args[0], state)) if shares and node.args else None
            if isinstance(node.func, ast.Attribute):
                if node.func.attr in VIEW_METHODS:
                    return self._as_tensor(self.alias(node.func.value, state))
                if _in_place(node.func.attr):  # in-place methods return their tensor
                    return self.alias(node.func.value, state)
        return None

    @staticmethod
    def _as_tensor(alias: _Alias | None) -> _Alias | None:
        return alias._replace(tensor=True) if alias else None

    def write(self, alias: _Alias | None, how: How, node: ast.expr | ast.stmt) -> None:
        if alias is not None:
            self.writes.append(_Write(alias, how, node.lineno))

    def escape(self, alias: _Alias | None) -> None:
        if alias is not None:
            self.escapes.add(alias.target)

    # -- statements ----------------------------------------------------------------
    def block(self, stmts: list[ast.stmt], state: dict[str, _Alias] | None) -> dict[str, _Alias] | None:
        for stmt in stmts:
            if state is None:
                return None  # the rest is unreachable
            state = self.stmt(stmt, state)
        return state

    def stmt(self, node: ast.stmt, state: dict[str, _Alias]) -> dict[str, _Alias] | None:
        handler = getattr(self, f"_{type(node).__name__}", None)
        if handler is not None:
            return handler(node, state)
        for child in ast.iter_child_nodes(node):  # Expr, Assert, Global, Pass...
            if isinstance(child, ast.expr):
                self.scan(child, state)
        return state

    def _Assign(self, node: ast.Assign, state: dict[str, _Alias]) -> dict[str, _Alias]:
        self.scan(node.value, state)
        for target in node.targets:
            self.store(target, state)
        for target in node.targets:
            self.bind(target, node.value, state)
        return state

    def _AnnAssign(self, node: ast.AnnAssign, state: dict[str, _Alias]) -> dict[str, _Alias]:
        if node.value is not None:
            self.scan(node.value, state)
            self.store(node.target, state)
            self.bind(node.target, node.value, state)
        return state

    def _AugAssign(self, node: ast.AugAssign, state: dict[str, _Alias]) -> dict[str, _Alias]:
        self.scan(node.value, state)
        target = node.target
        if isinstance(target, ast.Name):
            # In place for a tensor (the name keeps its object), a rebinding for a number.
            self.write(state.get(target.id), "rebind_op", node)
        elif isinstance(target, ast.Subscript):
            self.scan(target, state)
            self.write(self.alias(target.value, state), "in_place", node)
        else:
            self.write(self._as_tensor(self.alias(target, state)), "in_place", node)
        return state

    def _Delete(self, node: ast.Delete, state: dict[str, _Alias]) -> dict[str, _Alias]:
        for target in node.targets:
            if isinstance(target, ast.Subscript):
                self.write(self.alias(target.value, state), "in_place", node)
            for name in _target_names(target):
                state.pop(name, None)
        return state

    def store(self, target: ast.expr, state: dict[str, _Alias]) -> None:
        """Writes made by assigning to ``target`` (subscripts, ``.data``, ``.grad``)."""
        if isinstance(target, (ast.Tuple, ast.List, ast.Starred)):
            for elt in (target.elts if not isinstance(target, ast.Starred) else [target.value]):
                self.store(elt, state)
        elif isinstance(target, ast.Subscript):
            self.scan(target.value, state)
            self.scan(target.slice, state)
            self.write(self.alias(target.value, state), "in_place", target)
        elif isinstance(target, ast.Attribute):
            if target.attr == "grad" and self.step_rule:
                self.write(_Alias(ast.unparse(target), True, True), "grad_assign", target)
            elif target.attr == "data":
                self.write(self.alias(target.value, state), "storage", target)
            self.scan(target.value, state)

    def bind(self, target: ast.expr, value: ast.expr, state: dict[str, _Alias]) -> None:
        self._bind_alias(target, value, self.alias(value, state), state)

    def _bind_alias(self, target: ast.expr, value: ast.expr, alias: _Alias | None, state: dict[str, _Alias]) -> None:
        if isinstance(target, ast.Name):
            if alias is None:
                state.pop(target.id, None)
            else:
                state[target.id] = alias
        elif (isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List))
              and len(target.elts) == len(value.elts)
              and not any(isinstance(e, ast.Starred) for e in (*target.elts, *value.elts))):
            pairs = [(t, v, self.alias(v, state)) for t, v in zip(target.elts, value.elts)]
            for sub, sub_value, sub_alias in pairs:  # the right side is evaluated first
                self._bind_alias(sub, sub_value, sub_alias, state)
        else:
            # Unpacked (its rows), or stored in an object or a container: unseen writes.
            self.escape(alias)
            for name in _target_names(target):
                state.pop(name, None)

    def _Return(self, node: ast.Return, state: dict[str, _Alias]) -> None:
        if node.value is not None:
            self.scan(node.value, state, returned=True)
        self.returns = True
        return None

    def _Raise(self, node: ast.Raise, state: dict[str, _Alias]) -> None:
        for child in (node.exc, node.cause):
            if child is not None:
                self.scan(child, state)
        return None

    def _Break(self, node: ast.stmt, state: dict[str, _Alias]) -> None:
        return None

    _Continue = _Break

    def _If(self, node: ast.If, state: dict[str, _Alias]) -> dict[str, _Alias] | None:
        self.scan(node.test, state)
        return _join(self.block(node.body, dict(state)), self.block(node.orelse, dict(state)))

    def _loop(self, node: ast.For | ast.AsyncFor | ast.While, state: dict[str, _Alias]) -> dict[str, _Alias] | None:
        # At the loop head a name is an alias only if no iteration may have rebound it.
        rebound = self.module.bound([node]) | self.module.walrus
        entry = {k: v for k, v in state.items() if k not in rebound}
        if isinstance(node, ast.While):
            self.scan(node.test, entry)
        else:
            self.scan(node.iter, state)
            self.escape(self.alias(node.iter, state))  # the rows are views
        self.block(node.body, dict(entry))
        return _join(entry, self.block(node.orelse, dict(entry)))

    _For = _AsyncFor = _While = _loop

    def _With(self, node: ast.With | ast.AsyncWith, state: dict[str, _Alias]) -> dict[str, _Alias] | None:
        for item in node.items:
            self.scan(item.context_expr, state)
            if item.optional_vars is not None:
                self.store(item.optional_vars, state)
                for name in _target_names(item.optional_vars):
                    state.pop(name, None)
        return self.block(node.body, state)

    _AsyncWith = _With

    def _Try(self, node: ast.Try, state: dict[str, _Alias]) -> dict[str, _Alias] | None:
        rebound = self.module.bound(node.body) | self.module.walrus
        handler_entry = {k: v for k, v in state.items() if k not in rebound}
        after = self.block(node.orelse, self.block(node.body, dict(state)))
        for handler in node.handlers:
            if handler.type is not None:
                self.scan(handler.type, handler_entry)
            entry = {k: v for k, v in handler_entry.items() if k != handler.name}
            after = _join(after, self.block(handler.body, entry))
        if node.finalbody:
            end = self.block(node.finalbody, dict(after) if after is not None else dict(handler_entry))
            return end if after is not None else None
        return after

    _TryStar = _Try

    def _Match(self, node: ast.Match, state: dict[str, _Alias]) -> dict[str, _Alias] | None:
        self.scan(node.subject, state)
        after: dict[str, _Alias] | None = dict(state)  # no case matched
        for case in node.cases:
            captured = {n for sub in ast.walk(case.pattern) for n in _bound_here(sub)}
            entry = {k: v for k, v in state.items() if k not in captured}
            if case.guard is not None:
                self.scan(case.guard, entry)
            after = _join(after, self.block(case.body, entry))
        return after

    def _FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
                     state: dict[str, _Alias]) -> dict[str, _Alias]:
        self.capture(node, state)
        state.pop(node.name, None)
        return state

    _AsyncFunctionDef = _ClassDef = _FunctionDef

    def _Import(self, node: ast.Import | ast.ImportFrom, state: dict[str, _Alias]) -> dict[str, _Alias]:
        for name in _bound_here(node):
            state.pop(name, None)
        return state

    _ImportFrom = _Import

    # -- expressions ---------------------------------------------------------------
    def capture(self, node: ast.AST, state: dict[str, _Alias]) -> None:
        """A lambda or nested definition is not looked into: whatever alias it
        captures might be written by it."""
        self.module.count([node])
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id in state:
                self.escape(state[sub.id])

    def scan(self, root: ast.expr, state: dict[str, _Alias], *, returned: bool = False) -> None:
        """Every write, pass and escape inside one expression (iterative: long chains
        of operators nest deeply). ``conditional`` parts may not run (``a if c else b``)."""
        uses, calls = self.module.uses, self.module.calls
        pending: list[tuple[ast.AST, dict[str, _Alias], bool]] = [(root, state, False)]
        while pending:
            node, scope, conditional = pending.pop()
            if isinstance(node, ast.Name):
                uses[node.id] += 1
            elif isinstance(node, ast.Constant):
                continue
            elif isinstance(node, ast.Lambda):
                self.capture(node.body, scope)
            elif isinstance(node, _COMPREHENSIONS):
                pending.extend(self._comprehension(node, scope, conditional))
            elif isinstance(node, ast.NamedExpr):
                alias = None if conditional else self.alias(node.value, scope)
                if alias is None:
                    scope.pop(node.target.id, None)
                else:
                    scope[node.target.id] = alias
                pending.append((node.value, scope, conditional))
            elif isinstance(node, (ast.IfExp, ast.BoolOp)):
                first, *rest = _children(node)
                pending.append((first, scope, conditional))
                pending.extend((c, scope, True) for c in rest)
            else:
                if isinstance(node, ast.Attribute):
                    uses["." + node.attr] += 1
                elif isinstance(node, ast.Call):
                    key = _call_key(node.func)
                    if key is not None:
                        calls[key] += 1
                    self.call(node, scope, returned and node is root)
                elif isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
                    elements = node.values if isinstance(node, ast.Dict) else node.elts
                    for element in elements:  # kept in a container: unseen writes
                        self.escape(self.alias(element, scope))
                pending.extend((c, scope, conditional) for c in _children(node))

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
                       scope: dict[str, _Alias], conditional: bool) -> list[tuple[ast.AST, dict[str, _Alias], bool]]:
        inner = dict(scope)  # the loop variables shadow outer names
        parts: list[tuple[ast.AST, dict[str, _Alias], bool]] = []
        for gen in node.generators:
            parts.append((gen.iter, inner, conditional))
            self.escape(self.alias(gen.iter, inner))  # the rows are views
            for name in _target_names(gen.target):
                inner.pop(name, None)
            parts.extend((cond, inner, True) for cond in gen.ifs)
        results = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        return parts + [(part, inner, True) for part in results]

    def call(self, node: ast.Call, state: dict[str, _Alias], returned: bool) -> None:
        func = node.func
        receiver = self.alias(func.value, state) if isinstance(func, ast.Attribute) else None
        if isinstance(func, ast.Attribute) and _in_place(func.attr):
            self.write(receiver, "storage" if func.attr == "set_" else "in_place", node)
        for kw in node.keywords:
            if kw.arg == "out":
                outs = kw.value.elts if isinstance(kw.value, (ast.Tuple, ast.List)) else [kw.value]
                for out in outs:
                    self.write(self.alias(out, state), "in_place", node)
        arguments = list(node.args) + [kw.value for kw in node.keywords if kw.arg != "out"]
        own = self.module.callee(func, self.fn)
        if own is not None:
            self._pass(node, own[0], own[1], state, returned)
            return
        dotted = self.module.resolve(func, self.fn)
        last = dotted.rsplit(".", 1)[-1] if dotted else getattr(func, "attr", "")
        if dotted and dotted.startswith("torch.") and node.args:
            if _in_place(last):
                self.write(self.alias(node.args[0], state), "in_place", node)
            elif last in _VIEW_CONTAINERS:
                self.escape(self.alias(node.args[0], state))
        if receiver is not None and last in _VIEW_CONTAINERS:
            self.escape(receiver)
        if receiver is not None or self.module.pure(dotted):
            return  # a tensor method, or a known function, reads its other arguments
        for arg in arguments:
            self.escape(self.alias(arg.value if isinstance(arg, ast.Starred) else arg, state))

    def _pass(self, node: ast.Call, callee: _Function, offset: int, state: dict[str, _Alias], returned: bool) -> None:
        for i, arg in enumerate(node.args):
            if isinstance(arg, ast.Starred):
                for rest in node.args[i:]:
                    self.escape(self.alias(rest.value if isinstance(rest, ast.Starred) else rest, state))
                break
            self._pass_one(node, callee, callee.positional[offset + i] if offset + i < len(callee.positional) else None,
                           self.alias(arg, state), returned)
        for kw in node.keywords:
            name = kw.arg if kw.arg in callee.keyword else None
            self._pass_one(node, callee, name, self.alias(kw.value, state), returned)

    def _pass_one(self, node: ast.Call, callee: _Function, param: str | None, alias: _Alias | None,
                  returned: bool) -> None:
        if alias is None:
            return
        if param is None:
            self.escape(alias)  # into *args / **kwargs: unknown
        else:
            self.passes.append(_Pass(callee.qualname, param, alias, node.lineno, returned))


# --------------------------------------------------------------------------- across calls

Node = tuple[str, str]  # (function, parameter)


def _reach(seeds: Iterable[Node], edges: dict[Node, list[Node]]) -> set[Node]:
    seen = set(seeds)
    pending = list(seen)
    while pending:
        for nxt in edges.get(pending.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                pending.append(nxt)
    return seen


def _api(tree: ast.Module) -> set[str] | None:
    """The names in a literal ``__all__``, if there is one."""
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
                and isinstance(node.value, (ast.List, ast.Tuple))):
            return {e.value for e in node.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return None


def _entries(tree: ast.Module, module: _Module) -> set[str]:
    """Functions whose arguments come from outside the module (the grader's tests):
    the API (``__all__``, else every public name), methods, anything never called here
    and anything used other than by a direct call. A private helper that is only
    called here receives whatever its callers pass."""
    api = _api(tree)
    entries = set()
    for qualname, fn in module.functions.items():
        key = fn.name if fn.cls is None else "." + fn.name
        private = fn.name.startswith("_") and not fn.name.endswith("__")
        public = fn.name in api if api is not None and fn.cls is None else not private
        if public or module.calls[key] == 0 or module.uses[key] > module.calls[key]:
            entries.add(qualname)
    return entries


def _exempt(fn: _Function, topic: str) -> set[str]:
    """Parameters a function may write: self, the in-place target of ``name_``, the
    running statistics of batchnorm_forward."""
    out = {"self", "cls"}
    if fn.cls and fn.bound and fn.positional:
        out.add(fn.positional[0])
    if fn.name.endswith("_") and fn.positional:
        out.add(fn.positional[0])
    if topic == "batchnorm" and fn.qualname == "batchnorm_forward":
        out |= {"running_mean", "running_var"}
    return out


def find_mutations(source: str, topic: str, tree: ast.Module | None = None) -> dict[str, list[MutationFinding]]:
    """Findings by qualified function name (only functions with findings appear;
    ``tree``: the source already parsed, which is only read). Raises SyntaxError for
    source that does not parse (like static_check.check_source); the training topic (not
    manual) and unknown topics give {}."""
    info = TOPICS.get(topic)
    if info is None or not info.manual:
        return {}
    with _collector_paused():
        return _analyse(tree if tree is not None else ast.parse(source), source, topic)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Parsing and walking make hundreds of thousands of small objects and no cycles:
    the cyclic garbage collector would double the time, so it waits."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _analyse(tree: ast.Module, source: str, topic: str) -> dict[str, list[MutationFinding]]:
    module = _Module(tree, topic, source)
    step = {q for q, fn in module.functions.items() if topic == "optimizers" and fn.cls and fn.name == "step"}
    events = {q: _Walker(module, fn, q in step).run() for q, fn in module.functions.items()}
    facts = _Facts.derive(module, events, _entries(tree, module))
    found = {f for q, ev in events.items() for f in _function_findings(module, q, ev, facts)}
    by_function: dict[str, list[MutationFinding]] = defaultdict(list)
    for finding in sorted(found):
        by_function[finding.function].append(finding)
    return dict(by_function)


@dataclass(frozen=True)
class _Facts:
    """Sets of (function, parameter) that hold once calls are followed."""

    protected: set[Node]  # holds the caller's argument: must not be written
    tensor: set[Node]  # a tensor: ``P -= m`` writes into it
    receives_fill: set[Node]  # the tensor an in-place initializer must fill
    owes_fill: set[Node]  # ... and this function is the one that returns it
    mutates: set[Node]  # written, here or by a callee
    replaces: set[Node]  # its storage is swapped (``.data =``, ``.set_``)
    may_write: set[Node]  # written, or handed to code that might write it

    @staticmethod
    def derive(module: _Module, events: dict[str, _Events], entries: set[str]) -> _Facts:
        functions, topic = module.functions, module.topic
        checked = {q for q, fn in functions.items() if not (topic == "optimizers" and fn.cls)}
        exempt = {q: _exempt(fn, topic) for q, fn in functions.items()}
        forward: dict[Node, list[Node]] = defaultdict(list)
        returned: dict[Node, list[Node]] = defaultdict(list)
        backward: dict[Node, list[Node]] = defaultdict(list)
        tensor_seeds: set[Node] = set()
        for q, ev in events.items():
            for p in ev.passes:
                if p.alias.grad:
                    continue
                src, dst = (q, p.alias.target), (p.callee, p.param)
                forward[src].append(dst)
                backward[dst].append(src)
                if p.returned:
                    returned[src].append(dst)
                if p.alias.tensor:
                    tensor_seeds.add(dst)
        # Entries hold their caller's arguments by SPEC; a helper holds what it is given.
        exposed = {src: [d for d in dsts if d[0] not in entries and d[0] in checked and d[1] not in exempt[d[0]]]
                   for src, dsts in forward.items()}
        named = {q: functions[q].keyword | set(functions[q].positional) for q in functions}
        protected = _reach({(q, p) for q in entries & checked for p in named[q] if p not in exempt[q]}, exposed)
        table = TENSOR_PARAMS.get(topic, frozenset())
        tensor = _reach(tensor_seeds | {(q, p) for q in entries for p in named[q] & table}, forward)
        fill = {(q, fn.positional[0]) for q, fn in functions.items()
                if topic == "init" and fn.cls is None and fn.name.endswith("_") and not fn.name.endswith("__")
                and fn.positional}
        written = {(q, w.alias.target) for q, ev in events.items() for w in ev.writes
                   if not w.alias.grad and _counts(w, (q, w.alias.target) in tensor)}
        swapped = {(q, w.alias.target) for q, ev in events.items() for w in ev.writes if w.how == "storage"}
        escaped = {(q, t) for q, ev in events.items() for t in ev.escapes}
        return _Facts(
            protected, tensor, _reach(fill, forward), _reach(fill, returned), _reach(written, backward),
            _reach(swapped, backward), _reach(written | escaped, backward),
        )


def _counts(write: _Write, tensor: bool) -> bool:
    """``P -= m`` writes into P only when P is a tensor; the other forms always do."""
    return write.how != "rebind_op" or write.alias.tensor or tensor


def _function_findings(module: _Module, q: str, ev: _Events, facts: _Facts) -> Iterator[MutationFinding]:
    def finding(line: int, param: str, kind: Kind) -> MutationFinding:
        return MutationFinding(line, q, param, kind, module.detail(line))

    for w in ev.writes:
        node = (q, w.alias.target)
        if w.alias.grad:
            yield finding(w.line, w.alias.target, "modifies_grad")
        elif w.how == "storage" and node in facts.receives_fill:
            yield finding(w.line, w.alias.target, "replaces_storage")
        elif node in facts.protected and _counts(w, node in facts.tensor):
            yield finding(w.line, w.alias.target, "modifies")
    for p in ev.passes:
        callee, node = (p.callee, p.param), (q, p.alias.target)
        if p.alias.grad and callee in facts.mutates:
            yield finding(p.line, p.alias.target, "modifies_grad")
        elif callee in facts.replaces and node in facts.receives_fill:
            yield finding(p.line, p.alias.target, "replaces_storage")
        elif callee in facts.mutates and node in facts.protected:
            yield finding(p.line, p.alias.target, "modifies")
    fn = module.functions[q]
    if ev.completes:
        for param in (*fn.positional, *sorted(fn.keyword - set(fn.positional))):
            node = (q, param)
            if node in facts.owes_fill and node not in facts.may_write:
                yield finding(fn.node.lineno, param, "not_filled")
