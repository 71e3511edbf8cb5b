"""Find calls that SPEC.md forbids in the "manual" topics, by reading the source.

The check parses the submission's text in the grader (it never imports it) and resolves
import aliases, ``from`` imports, simple assignments (``F = torch.nn.functional``),
``getattr(torch, "softmax")`` with a literal name and ``importlib.import_module`` with a
literal module, so ``F.softmax``, ``from torch.special import expit`` or ``x.sigmoid()``
are all recognised. A determined student can still hide a call (a computed string), so
findings cost points as the rubric says but are not a security boundary.
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


@dataclass(frozen=True, order=True)
class Finding:
    """One forbidden use: what was used, in which function, on which line."""

    line: int
    name: str
    function: str

    def describe(self, topic: str) -> str:
        return f"forbidden call {self.name} in {topic}.{self.function} (line {self.line})"


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
    return parts[-1].rstrip("_") in READY_MADE


class _Scanner(ast.NodeVisitor):
    def __init__(self, allowed_methods: frozenset[str], own_names: set[str]):
        self.aliases: dict[str, str] = {}
        self.findings: set[Finding] = set()
        self.scope: list[str] = []
        self.allowed_methods = allowed_methods
        self.own_names = own_names

    # -- name resolution ------------------------------------------------------------
    def resolve(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):
            return self._dynamic(node)
        return None

    def _dynamic(self, node: ast.Call) -> str | None:
        func = node.func
        literal = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) >= 2 and literal:
            base = self.resolve(node.args[0])
            if base and isinstance(node.args[1], ast.Constant):
                return f"{base}.{node.args[1].value}"
        name = func.id if isinstance(func, ast.Name) else self.resolve(func)
        if name in ("__import__", "importlib.import_module", "import_module") and literal:
            return literal[0]
        return None

    def function(self) -> str:
        return ".".join(self.scope) or "<module>"

    def report(self, name: str, node: ast.AST) -> None:
        self.findings.add(Finding(getattr(node, "lineno", 0), name, self.function()))

    # -- imports and assignments -----------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                root = alias.name.split(".")[0]
                self.aliases[root] = root

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return
        for alias in node.names:
            full = f"{node.module}.{alias.name}"
            if alias.name == "*":
                if node.module.split(".")[0] == "torch" and forbidden_reason(node.module + ".x"):
                    self.report(node.module + ".*", node)
                continue
            self.aliases[alias.asname or alias.name] = full

    def visit_Assign(self, node: ast.Assign) -> None:
        resolved = self.resolve(node.value)
        if resolved:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.aliases[target.id] = resolved
        self.generic_visit(node)

    # -- scopes ----------------------------------------------------------------------
    def _scoped(self, node: ast.AST, name: str) -> None:
        self.scope.append(name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for dec in node.decorator_list:
            self.visit(dec)
        self.scope.append(node.name)
        for stmt in node.body:
            self.visit(stmt)
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for base in node.bases:
            self.visit(base)
        self._scoped_body(node)

    def _scoped_body(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        for stmt in node.body:
            self.visit(stmt)
        self.scope.pop()

    # -- uses ------------------------------------------------------------------------
    def visit_Attribute(self, node: ast.Attribute) -> None:
        resolved = self.resolve(node)
        if resolved:
            # A resolved chain is judged whole: torch.autograd.no_grad is allowed even
            # though its prefix torch.autograd alone would not be.
            if forbidden_reason(resolved):
                self.report(resolved, node)
            return
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            resolved = self.aliases.get(node.id)
            if resolved and forbidden_reason(resolved):
                self.report(resolved, node)

    def visit_Call(self, node: ast.Call) -> None:
        dynamic = self._dynamic(node)
        if dynamic and forbidden_reason(dynamic):
            self.report(dynamic, node)
            return
        func = node.func
        if isinstance(func, ast.Attribute) and self.resolve(func) is None:
            method = func.attr.rstrip("_") if func.attr.endswith("_") else func.attr
            if (
                method in FORBIDDEN_METHODS
                and method not in self.allowed_methods
                and func.attr not in self.own_names
            ):
                self.report(f"Tensor.{func.attr}", node)
        self.generic_visit(node)


def _defined_names(tree: ast.AST) -> set[str]:
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }


def check_source(source: str, topic: str) -> list[Finding]:
    """Forbidden uses in one topic's source, sorted by line. Raises SyntaxError."""
    info = TOPICS.get(topic)
    if info is None or not info.manual:
        return []
    tree = ast.parse(source)
    scanner = _Scanner(info.allowed_methods, _defined_names(tree))
    scanner.visit(tree)
    return sorted(scanner.findings)
