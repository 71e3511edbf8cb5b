"""Turn a submitted notebook into the module it stands for.

The code cells, in order, form the module. IPython-only lines (``%magic``, ``!shell``)
and self-check calls (``grader.check(...)``) become comments, so a notebook that runs in
Jupyter imports as a plain module.
"""

from __future__ import annotations

import ast
import json
import re

from grader.errors import SubmissionError

_IPYTHON_LINE = re.compile(r"^\s*(%|!)")


# Cells the notebook builder marks as not part of the module (plots, the self-check).
_NOT_MODULE = ("plot", "check")


def _role(cell: dict) -> object:
    meta = cell.get("metadata")
    grader_meta = meta.get("grader") if isinstance(meta, dict) else None
    return grader_meta.get("role") if isinstance(grader_meta, dict) else None


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _is_self_check(node: ast.stmt, top_level: bool) -> bool:
    """``grader.check(...)`` anywhere, or a bare ``check(...)`` at the top level."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    func = node.value.func
    if isinstance(func, ast.Attribute):
        return func.attr == "check" and isinstance(func.value, ast.Name) and func.value.id == "grader"
    return top_level and isinstance(func, ast.Name) and func.id == "check"


def _without_self_checks(text: str) -> str:
    """Self-check calls (all their lines) become ``pass`` plus the call as comments."""
    tree = ast.parse(text)
    top = set(map(id, tree.body))
    lines = text.splitlines()
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt) or not _is_self_check(node, id(node) in top):
            continue
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        head, tail = lines[first], lines[last][node.end_col_offset or 0:].strip()
        if head[: node.col_offset].strip() or (tail and not tail.startswith("#")):
            continue  # shares a line with other code (``x = 1; check()``): left alone
        lines[first] = f"{head[: node.col_offset]}pass  # {head[node.col_offset:]}"
        for i in range(first + 1, last + 1):
            lines[i] = f"# {lines[i]}"
    return "\n".join(lines)


def _as_python(source: str) -> str:
    """A cell's source as module code: IPython lines and self-checks become no-ops.

    A cell that already parses is kept as is (a docstring line starting with ``!=`` is
    not a shell command); otherwise its IPython-only lines are commented out, but not
    those inside a string. Then every self-check call, however many lines it spans,
    becomes ``pass``.
    """
    text = source if _parses(source) else _without_magics(source)
    if not _parses(text):
        return text  # a syntax error the student must see, named by its cell
    return _without_self_checks(text)


def _without_magics(source: str) -> str:
    """IPython-only lines commented out, except those the code needs (inside a string)."""
    lines = source.splitlines()
    magic = [i for i, line in enumerate(lines) if _IPYTHON_LINE.match(line)]
    out = [f"# {line}" if i in magic else line for i, line in enumerate(lines)]
    if not _parses("\n".join(out)):
        return "\n".join(out)
    for i in magic:  # a line such as "!= b" inside a docstring is text, not a shell command
        trial = out[:i] + [lines[i]] + out[i + 1:]
        if _parses("\n".join(trial)):
            out = trial
    return "\n".join(out)


def notebook_to_source(text: str, name: str = "notebook") -> str:
    """The module source of a notebook's code cells; SubmissionError if unreadable."""
    try:
        nb = json.loads(text)
    except (ValueError, RecursionError) as exc:
        problem = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise SubmissionError(f"{name} is not a valid notebook (JSON error: {problem})") from None
    if isinstance(nb, dict) and "worksheets" in nb and "cells" not in nb:
        raise SubmissionError(f"{name} is an old (nbformat 3) notebook; open it in Jupyter and save it again")
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SubmissionError(f"{name} is not a valid notebook (no list of cells); save it again from Jupyter")
    chunks = []
    for i, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise SubmissionError(
                f"{name}: cell {i} has no readable source (a {type(source).__name__}, not text); save it again from Jupyter"
            )
        if _role(cell) in _NOT_MODULE:
            continue
        chunks.append(f"# --- cell {i} ---\n" + _as_python(source))
    if not chunks:
        raise SubmissionError(f"{name} has no code cells; submit the notebook with your code in it")
    return "\n\n".join(chunks) + "\n"
