"""Find calls that the course contract (docs/api.md) forbids in the "manual" topics, by reading the source.

The check parses the submission's text in the grader (it never imports it) and resolves
names the way Python would: import aliases and ``from`` imports; assignments, including
tuple unpacking, annotated assignments, walrus and default argument values
(``def f(x, F=torch.nn.functional)``); ``getattr(torch, "softmax")`` with a literal
name; modules looked up by a literal key (``importlib.import_module``,
``sys.modules["torch.nn"]``, ``vars(torch)["nn"]``, ``torch.__dict__["nn"]``); function
bodies see the module's final globals, parameters shadow outer names. A resolved name
is judged by its op (``torch.ops.aten._softmax.default``, ``torch._log_softmax`` and
``torch.relu_`` are all ready-made versions), unbound ``torch.Tensor.<method>`` calls
included. Method calls on unresolved objects (``x.softmax(-1)``) are findings unless
they are calls on the module's own objects (``self.<m>`` with ``<m>`` defined in one of
its classes) or the topic allows that method. A determined student can still hide a
call (a computed string), so findings cost points as the rubric says but are not a
security boundary.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from grader.topics import TOPICS

READY_MADE = frozenset(
    {"sigmoid", "relu", "softmax", "log_softmax", "logsumexp", "dropout", "batch_norm", "layer_norm", "expit"}
)
FORBIDDEN_PREFIXES = ("torch.nn", "torch.optim", "torch.func", "torch._C", "functorch")
AUTOGRAD_ALLOWED = frozenset({"no_grad", "enable_grad", "inference_mode"})
FORBIDDEN_METHODS = READY_MADE | {"backward"}
# Tensor.relu() and Tensor.sigmoid() take no argument: ``layer.relu(x)`` is not one.
_NO_ARGUMENT_METHODS = frozenset({"relu", "sigmoid"})
# Builtins that look modules up; a bare name resolves to them unless rebound.
_TRACKED_BUILTINS = frozenset({"vars", "getattr", "__import__"})
_IMPORTERS = frozenset({"builtins.__import__", "importlib.import_module", "importlib.__import__"})
_DICT = ".__dict__"


@dataclass(frozen=True, order=True)
class Finding:
    """One forbidden use: what was used, in which function, on which line."""

    line: int
    name: str
    function: str

    def describe(self, topic: str) -> str:
        return f"forbidden call {self.name} in {topic}.{self.function} (line {self.line})"


def normalise_op(name: str) -> str:
    """An op name without the decorations of its variants: ``_log_softmax``,
    ``relu_`` and ``native_batch_norm`` are ``log_softmax``, ``relu``, ``batch_norm``."""
    core = name.strip("_")
    if core.startswith("native_"):
        core = core[len("native_"):].strip("_")
    return core


def op_name(dotted: str) -> str:
    """The normalised op a dotted name calls. Under ``torch.ops.<namespace>`` the op is
    the fourth part; what follows it is an overload (``.default``, ``.int``, ``.Tensor``)."""
    parts = dotted.split(".")
    if parts[:2] == ["torch", "ops"] and len(parts) >= 4:
        return normalise_op(parts[3])
    return normalise_op(parts[-1])


def forbidden_reason(dotted: str) -> bool:
    """Whether a fully resolved dotted name is banned in manual topics."""
    parts = dotted.split(".")
    if parts[0] not in ("torch", "functorch"):
        return False
    for prefix in FORBIDDEN_PREFIXES:
        if dotted == prefix or dotted.startswith(prefix + "."):
            return True
    if dotted.startswith("torch.autograd"):
        return len(parts) < 3 or parts[2] not in AUTOGRAD_ALLOWED
    if parts[:2] == ["torch", "Tensor"] and len(parts) == 3:
        return parts[2].rstrip("_") in FORBIDDEN_METHODS  # unbound: Tensor.backward(loss)
    return op_name(dotted) in READY_MADE


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _arguments(args: ast.arguments) -> list[ast.arg]:
    named = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    return named + [a for a in (args.vararg, args.kwarg) if a is not None]


def _defaults(args: ast.arguments) -> list[tuple[ast.arg, ast.expr]]:
    positional = [*args.posonlyargs, *args.args]
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return pairs


class _Scanner(ast.NodeVisitor):
    def __init__(self, allowed_methods: frozenset[str], own_methods: frozenset[str]):
        # Innermost scope last; None marks a name that shadows an outer alias.
        self.scopes: list[dict[str, str | None]] = [{}]
        self.declared_global: list[set[str]] = [set()]  # per scope: names a ``global`` binds
        self.findings: set[Finding] = set()
        self.scope: list[str] = []
        self.in_function = False
        self.deferred: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, list[str]]] = []
        self.allowed_methods = allowed_methods
        self.own_methods = own_methods

    # -- name resolution ------------------------------------------------------------
    def lookup(self, name: str) -> str | None:
        if name in self.declared_global[-1]:
            return self.scopes[0].get(name)
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return f"builtins.{name}" if name in _TRACKED_BUILTINS else None

    def resolve(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):
            return self._dynamic(node)
        if isinstance(node, ast.Subscript):
            return self._keyed(self.resolve(node.value), _literal(node.slice))
        if isinstance(node, ast.NamedExpr):
            return self.resolve(node.value)
        return None

    @staticmethod
    def _keyed(mapping: str | None, key: str | None) -> str | None:
        """What ``mapping[key]`` names when mapping is ``sys.modules`` or a module's dict."""
        if mapping is None or key is None:
            return None
        if mapping == "sys.modules":
            return key
        if mapping.endswith(_DICT):
            return f"{mapping[: -len(_DICT)]}.{key}"
        return None

    def _dynamic(self, node: ast.Call) -> str | None:
        func = self.resolve(node.func)
        if func is None and isinstance(node.func, ast.Name):
            func = node.func.id  # an unimported import_module still shows intent
        first = _literal(node.args[0]) if node.args else None
        if func == "builtins.getattr" and len(node.args) >= 2:
            base, attr = self.resolve(node.args[0]), _literal(node.args[1])
            return f"{base}.{attr}" if base and attr else None
        if func == "builtins.vars" and len(node.args) == 1:
            base = self.resolve(node.args[0])
            return base + _DICT if base else None
        if func in _IMPORTERS or func == "import_module":
            return first
        if func and func.endswith(".get"):
            return self._keyed(func[: -len(".get")], first)
        return None

    def function(self) -> str:
        return ".".join(self.scope) or "<module>"

    def report(self, name: str, node: ast.AST) -> None:
        self.findings.add(Finding(getattr(node, "lineno", 0), name, self.function()))

    # -- imports and bindings --------------------------------------------------------
    def bind(self, name: str, resolved: str | None) -> None:
        if resolved:
            scope = self.scopes[0] if name in self.declared_global[-1] else self.scopes[-1]
            scope[name] = resolved

    def visit_Global(self, node: ast.Global) -> None:
        self.declared_global[-1].update(node.names)

    def bind_target(self, target: ast.AST, value: ast.AST) -> None:
        if isinstance(target, ast.Name):
            self.bind(target.id, self.resolve(value))
        elif (
            isinstance(target, (ast.Tuple, ast.List))
            and isinstance(value, (ast.Tuple, ast.List))
            and len(target.elts) == len(value.elts)
            and not any(isinstance(e, ast.Starred) for e in (*target.elts, *value.elts))
        ):
            for sub_target, sub_value in zip(target.elts, value.elts):
                self.bind_target(sub_target, sub_value)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.bind(alias.asname, alias.name)
            else:
                root = alias.name.split(".")[0]
                self.bind(root, root)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return
        for alias in node.names:
            full = f"{node.module}.{alias.name}"
            if alias.name == "*":
                if node.module.split(".")[0] == "torch" and forbidden_reason(node.module + ".x"):
                    self.report(node.module + ".*", node)
                continue
            self.bind(alias.asname or alias.name, full)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self.bind_target(target, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.bind_target(node.target, node.value)
            self.visit(node.value)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.bind(node.target.id, self.resolve(node.value))
        self.visit(node.value)

    # -- scopes ----------------------------------------------------------------------
    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expr in [*node.decorator_list, *(d for _, d in _defaults(node.args))]:
            self.visit(expr)
        path = [*self.scope, node.name]
        if self.in_function:
            self._body(node, path)
        else:
            # A function body runs after the module has finished: it sees final globals.
            self.deferred.append((node, path))

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def _body(self, node: ast.FunctionDef | ast.AsyncFunctionDef, path: list[str]) -> None:
        local: dict[str, str | None] = {a.arg: None for a in _arguments(node.args)}
        for arg, default in _defaults(node.args):
            local[arg.arg] = self.resolve(default)
        saved = (self.scope, self.in_function)
        self.scope, self.in_function = path, True
        self.scopes.append(local)
        self.declared_global.append(set())
        for stmt in node.body:
            self.visit(stmt)
        self.declared_global.pop()
        self.scopes.pop()
        self.scope, self.in_function = saved

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases]:
            self.visit(expr)
        self.scope.append(node.name)
        for stmt in node.body:
            self.visit(stmt)
        self.scope.pop()

    def scan(self, tree: ast.Module) -> None:
        self.visit(tree)
        while self.deferred:
            node, path = self.deferred.pop(0)
            self._body(node, path)

    # -- uses ------------------------------------------------------------------------
    def _judge(self, node: ast.expr) -> bool:
        """Report a resolved chain, judged whole (torch.autograd.no_grad is allowed
        although torch.autograd alone is not); True when it resolved."""
        resolved = self.resolve(node)
        if resolved and forbidden_reason(resolved):
            self.report(resolved, node)
        return resolved is not None

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if not self._judge(node):
            self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if not self._judge(node):
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            resolved = self.lookup(node.id)
            if resolved and forbidden_reason(resolved):
                self.report(resolved, node)

    def visit_Call(self, node: ast.Call) -> None:
        dynamic = self._dynamic(node)
        if dynamic and forbidden_reason(dynamic):
            self.report(dynamic, node)
            return
        func = node.func
        if isinstance(func, ast.Attribute) and self.resolve(func) is None and self._tensor_method(node, func):
            self.report(f"Tensor.{func.attr}", node)
        self.generic_visit(node)

    def _tensor_method(self, node: ast.Call, func: ast.Attribute) -> bool:
        """Whether ``<obj>.<m>(...)`` on an unresolved object may be a forbidden Tensor method."""
        method = func.attr.rstrip("_")
        if method not in FORBIDDEN_METHODS or method in self.allowed_methods:
            return False
        if isinstance(func.value, ast.Name) and func.value.id in ("self", "cls") and func.attr in self.own_methods:
            return False
        spread = any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords)
        return not (method in _NO_ARGUMENT_METHODS and (node.args or node.keywords) and not spread)


def _own_methods(tree: ast.AST) -> frozenset[str]:
    return frozenset(
        item.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        for item in node.body
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
    )


def check_source(source: str, topic: str, tree: ast.Module | None = None) -> list[Finding]:
    """Forbidden uses in one topic's source, sorted by line (``tree``: the source already
    parsed, which is only read). Raises SyntaxError."""
    info = TOPICS.get(topic)
    if info is None or not info.manual:
        return []
    tree = tree if tree is not None else ast.parse(source)
    scanner = _Scanner(info.allowed_methods, _own_methods(tree))
    scanner.scan(tree)
    return sorted(scanner.findings)
