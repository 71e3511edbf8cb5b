"""Student stubs from the reference: one source, so the two cannot drift.

A reference module marks each solution with nbgrader-style comment lines::

    def mse_loss(input, target, reduction="mean"):
        \"\"\"docstring with the maths\"\"\"
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

In the stub a region inside a function body becomes ``raise NotImplementedError(...)``
naming the function; a region at module level (private helpers) is dropped.
Everything outside the regions (docstrings, signatures, provided classes) is kept.
"""

from __future__ import annotations

import ast
from pathlib import Path

from grader.errors import GraderError

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"


def _functions(tree: ast.AST) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function, outermost first."""
    out: list[tuple[int, int, str]] = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    out.append((child.lineno, child.end_lineno or child.lineno, name))
                walk(child, name + ".")
            else:
                walk(child, prefix)

    walk(tree, "")
    return out


def has_regions(source: str) -> bool:
    return any(line.strip() == BEGIN for line in source.splitlines())


def make_stub(source: str, topic: str, filename: str = "<reference>") -> str:
    """The student version of a reference module."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        raise GraderError(f"{filename}: syntax error at line {exc.lineno}: {exc.msg}") from None
    functions = _functions(tree)
    lines = source.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == END:
            raise GraderError(f"{filename}:{i + 1}: '{END}' without a matching '{BEGIN}'")
        if line.strip() != BEGIN:
            out.append(line)
            i += 1
            continue
        start = i
        indent = line[: len(line) - len(line.lstrip())]
        i += 1
        while i < len(lines) and lines[i].strip() != END:
            if lines[i].strip() == BEGIN:
                raise GraderError(f"{filename}:{i + 1}: solution regions cannot nest")
            i += 1
        if i == len(lines):
            raise GraderError(f"{filename}:{start + 1}: '{BEGIN}' is never closed")
        i += 1  # skip END
        if not indent:
            while out and not out[-1].strip():
                out.pop()
            continue
        owner = [name for first, last, name in functions if first <= start + 1 <= last]
        if not owner:
            raise GraderError(f"{filename}:{start + 1}: an indented solution region must be inside a function")
        qualname = owner[-1]
        out.append(f"{indent}# YOUR CODE HERE")
        out.append(f'{indent}raise NotImplementedError("{topic}.{qualname}: not implemented yet")')
    text = "\n".join(_collapse_blank_runs(out)) + "\n"
    try:
        ast.parse(text, filename)
    except SyntaxError as exc:
        raise GraderError(f"{filename}: the generated stub does not parse (line {exc.lineno}: {exc.msg})") from None
    return text


def _collapse_blank_runs(lines: list[str]) -> list[str]:
    out: list[str] = []
    blank = 0
    for line in lines:
        blank = blank + 1 if not line.strip() else 0
        if blank <= 2:
            out.append(line)
    return out


def strip_markers(source: str) -> str:
    """The reference without its marker lines (a clean model solution)."""
    return "\n".join(line for line in source.splitlines() if line.strip() not in (BEGIN, END)) + "\n"


def stub_targets(course: Path) -> dict[Path, Path]:
    """Reference module -> stub path, for every reference file that has solution regions."""
    pairs = {}
    for ref in sorted((course / "reference").glob("*.py")):
        if ref.name.startswith("_"):
            continue
        if has_regions(ref.read_text(encoding="utf-8")):
            pairs[ref] = course / "assignments" / ref.name
    return pairs


def sync_stubs(course: Path, write: bool = True) -> list[Path]:
    """Regenerate stubs; returns the stubs that were (or, with write=False, would be) changed."""
    changed = []
    for ref, stub in stub_targets(course).items():
        text = make_stub(ref.read_text(encoding="utf-8"), ref.stem, str(ref.relative_to(course)))
        current = stub.read_text(encoding="utf-8") if stub.exists() else None
        if current != text:
            changed.append(stub)
            if write:
                stub.parent.mkdir(parents=True, exist_ok=True)
                stub.write_text(text, encoding="utf-8")
    return changed
