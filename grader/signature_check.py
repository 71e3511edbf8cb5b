"""Check that a submission keeps the contract's positional order of arguments.

docs/api.md fixes every public function's and method's signature. A suite may call
``cross_entropy(logits, labels)`` by position, so a student who wrote
``def cross_entropy(target, input)`` gets the two swapped; the suite then reports wrong
values with no hint of why. This check reads the submission's syntax tree in the
grader (it never imports it) and compares each public definition's positional
parameters with the reference's:

* a contract parameter name that the student also has as a positional parameter, but
  at another position, is a finding (``step_decay(lr0, t, ...)``);
* a submission that accepts fewer positional arguments than the contract needs, and
  has no ``*args`` to take the rest, is a finding;
* renamed parameters in the same order, extra trailing parameters, ``*args`` and
  ``**kwargs`` are all fine, and so are parameters whose contract name starts with
  ``_`` (private plumbing such as ``Value(data, _parents)``).

Names are resolved the way Python binds them at import: the last module-level binding
wins (also inside ``if``/``try``/``with`` blocks, but not under
``if __name__ == "__main__":``), ``f = g`` takes ``g``'s definition at that point,
``f = lambda ...`` is read as a function, class bodies the same way, methods a class
does not define are looked up in its bases defined in the same module. Decorators are
read through (a wrapper passes its arguments on in the same order) except
``staticmethod``/``classmethod`` against a contract that is neither, which is left
alone. A name the check cannot resolve (an import, ``functools.partial``) and a missing
function are not findings: the suites report what does not exist.

The walk visits statements, never expressions, and is iterative with a bounded look-up
through bases, so its time grows with the number of statements alone.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Union

_MAX_BASES = 32  # how far a method is looked up through base classes
_SHOWN = 6  # parameters shown in a message before "..."


@dataclass(frozen=True)
class Params:
    """The positional parameters of one definition, as the check compares them."""

    positional: tuple[str, ...]
    vararg: bool = False
    more: bool = False  # keyword-only parameters or **kwargs follow
    kind: str = "plain"  # "plain", "static" or "class"
    line: int = 0


@dataclass(frozen=True)
class _Class:
    members: dict[str, "_Binding"]
    bases: tuple["_Binding", ...]


_Binding = Union[Params, _Class, None]  # None: bound to something the check cannot read

# The contract: qualified name (``cross_entropy``, ``SGD.__init__``) -> its parameters.
Contract = dict[str, Params]


@dataclass(frozen=True, order=True)
class SignatureFinding:
    """A public definition whose positional parameters break the contract's order."""

    line: int
    function: str
    message: str

    def describe(self, topic: str) -> str:
        return f"argument order in {topic}.{self.function} (line {self.line}): {self.message}"


def _params(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, kind: str) -> Params:
    args = node.args
    names = tuple(a.arg for a in (*args.posonlyargs, *args.args))
    return Params(names, args.vararg is not None, bool(args.kwonlyargs) or args.kwarg is not None, kind, node.lineno)


def _decorator_kind(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    for deco in node.decorator_list:
        name = deco.id if isinstance(deco, ast.Name) else deco.attr if isinstance(deco, ast.Attribute) else ""
        if name == "staticmethod":
            return "static"
        if name == "classmethod":
            return "class"
        if name in ("property", "cached_property"):
            return "property"
    return "plain"


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def _statements(body: list[ast.stmt]):
    """The statements of a scope in source order, entering if/try/with blocks
    (iteratively: a deeply nested file costs no recursion)."""
    stack = [iter(body)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            continue
        if isinstance(node, ast.If):
            blocks = [node.orelse] if _is_main_guard(node.test) else [node.body, node.orelse]
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            blocks = [node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody]  # type: ignore[attr-defined]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            blocks = [node.body]
        else:
            yield node
            continue
        # push in reverse so the first block is read first
        for block in reversed(blocks):
            stack.append(iter(block))


def _scope(body: list[ast.stmt], outer: dict[str, _Binding] | None) -> dict[str, _Binding]:
    """What each name of a module or class body is bound to when the body ends."""
    names: dict[str, _Binding] = {}

    def lookup(name: str) -> _Binding:
        if name in names:
            return names[name]
        return outer.get(name) if outer is not None else None

    def bind_value(target: ast.expr, value: ast.expr | None) -> None:
        if isinstance(target, ast.Name):
            if isinstance(value, ast.Name):
                names[target.id] = lookup(value.id)
            elif isinstance(value, ast.Lambda):
                names[target.id] = _params(value, "plain")
            else:
                names[target.id] = None
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = value.elts if isinstance(value, (ast.Tuple, ast.List)) else None
            if values is not None and len(values) != len(target.elts):
                values = None
            for i, element in enumerate(target.elts):
                bind_value(element, values[i] if values is not None else None)
        elif isinstance(target, ast.Starred):
            bind_value(target.value, None)

    for node in _statements(body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            kind = _decorator_kind(node)
            names[node.name] = None if kind == "property" else _params(node, kind)
        elif isinstance(node, ast.ClassDef):
            bases = tuple(lookup(b.id) if isinstance(b, ast.Name) else None for b in node.bases)
            module = outer if outer is not None else names
            names[node.name] = _Class(_scope(node.body, module), bases)
        elif isinstance(node, ast.Assign):
            # ``a = b = g`` binds both to g; the value is looked up before binding
            for target in node.targets:
                bind_value(target, node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            bind_value(node.target, node.value)
        elif isinstance(node, (ast.AugAssign, ast.For, ast.AsyncFor)):
            bind_value(node.target, None)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = None
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.pop(target.id, None)
    return names


def _method(cls: _Class, name: str) -> _Binding:
    """A method of ``cls``: its own, else the first base (in the same module) to have it."""
    todo = [cls]
    seen = 0
    while todo and seen < _MAX_BASES:
        current = todo.pop(0)
        seen += 1
        if name in current.members:
            return current.members[name]
        todo.extend(b for b in current.bases if isinstance(b, _Class))
    return None


def _definitions(tree: ast.Module) -> dict[str, _Binding]:
    return _scope(tree.body, None)


def _public(name: str) -> bool:
    return not name.startswith("_")


def contract_signatures(source: str | None = None, tree: ast.Module | None = None) -> Contract:
    """The contract read from a reference (or stub) module: every public function and,
    for every public class, ``__init__``, ``__call__`` and its public methods.
    Raises SyntaxError for a source that does not parse."""
    tree = tree if tree is not None else ast.parse(source or "")
    exported: set[str] | None = None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            and isinstance(node.value, (ast.List, ast.Tuple))
        ):
            exported = {e.value for e in node.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    out: Contract = {}
    for name, binding in _definitions(tree).items():
        if not _public(name) or (exported is not None and name not in exported):
            continue
        if isinstance(binding, Params):
            out[name] = binding
        elif isinstance(binding, _Class):
            for member, value in binding.members.items():
                if (member in ("__init__", "__call__") or _public(member)) and isinstance(value, Params):
                    out[f"{name}.{member}"] = value
    return out


def _shown(qualified: str, names: tuple[str, ...], upto: int, more: bool) -> str:
    upto = min(upto, _SHOWN)
    listed = list(names[:upto])
    if more or len(names) > upto:
        listed.append("...")
    return f"{qualified}({', '.join(listed)})"


def _compare(qualified: str, contract: Params, student: Params) -> str | None:
    if contract.kind != student.kind:
        return None  # a staticmethod against a method: not a question of order
    wanted, given = contract.positional, student.positional
    where = {name: i for i, name in enumerate(given)}
    moved = [(i, where[n]) for i, n in enumerate(wanted) if _public(n) and n in where and where[n] != i]
    if moved:
        upto = max(max(a, b) for a, b in moved) + 1
        swapped = len(moved) == 2 and moved[0] == moved[1][::-1]
        effect = ("calls by position get the arguments swapped" if swapped
                  else "calls by position pass arguments to the wrong parameters")
        student_more = student.vararg or student.more or len(given) > upto
        contract_more = contract.vararg or contract.more or len(wanted) > upto
        return (f"{_shown(qualified, given, upto, student_more)}: the contract's order is "
                f"{_shown(qualified, wanted, upto, contract_more)}: {effect}")
    needed = max((i + 1 for i, n in enumerate(wanted) if _public(n)), default=0)
    if not student.vararg and len(given) < needed:
        first = wanted[len(given)]
        return (f"{_shown(qualified, given, len(given), student.more)}: the contract's order is "
                f"{_shown(qualified, wanted, needed, contract.vararg or contract.more or len(wanted) > needed)}: "
                f"a call that passes {first} by position fails")
    return None


def check_signatures(
    source: str, topic: str, contract: Contract | None, tree: ast.Module | None = None
) -> list[SignatureFinding]:
    """Findings for one topic's source against its contract, sorted by line (``tree``:
    the source already parsed, which is only read). Raises SyntaxError for source that
    does not parse, like static_check.check_source; no contract gives no findings."""
    if not contract:
        return []
    tree = tree if tree is not None else ast.parse(source)
    defined = _definitions(tree)
    found = []
    for qualified, wanted in contract.items():
        owner, _, member = qualified.partition(".")
        binding = defined.get(owner)
        if member:
            binding = _method(binding, member) if isinstance(binding, _Class) else None
        if not isinstance(binding, Params):
            continue  # missing, or not something the check can read: the suites say so
        message = _compare(qualified, wanted, binding)
        if message is not None:
            found.append(SignatureFinding(binding.line, qualified, message))
    return sorted(found)
