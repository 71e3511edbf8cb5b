"""Turn a submitted notebook into the module it stands for.

The code cells, in order, form the module. IPython-only lines (``%magic``, ``!shell``)
and self-check calls (``grader.check(...)``) become comments, so a notebook that runs in
Jupyter imports as a plain module.
"""

from __future__ import annotations

import ast
import bisect
import io
import json
import re
import tokenize

from grader.errors import SubmissionError

_IPYTHON_LINE = re.compile(r"^\s*(%|!)")


# Cells the notebook builder marks as not part of the module (plots, the self-check).
_NOT_MODULE = ("plot", "check")


def _role(cell: dict) -> object:
    meta = cell.get("metadata")
    grader_meta = meta.get("grader") if isinstance(meta, dict) else None
    return grader_meta.get("role") if isinstance(grader_meta, dict) else None


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _is_self_check(node: ast.stmt, top_level: bool) -> bool:
    """``grader.check(...)`` anywhere, or a bare ``check(...)`` at the top level."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    func = node.value.func
    if isinstance(func, ast.Attribute):
        return func.attr == "check" and isinstance(func.value, ast.Name) and func.value.id == "grader"
    return top_level and isinstance(func, ast.Name) and func.id == "check"


def _without_self_checks(text: str, tree: ast.Module) -> str:
    """Self-check calls (all their lines) become ``pass`` plus the call as comments;
    ``tree`` is ``text`` parsed."""
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
    becomes ``pass``. The work is linear in the cell's size: a few parses, however many
    magic lines there are.
    """
    tree = _parse(source)
    text = source
    if tree is None:
        text, tree = _without_magics(source)
        if tree is None:
            return text  # a syntax error the student must see, named by its cell
    return _without_self_checks(text, tree)


def _without_magics(source: str) -> tuple[str, ast.Module | None]:
    """IPython-only lines commented out, except those inside a string, and the result
    parsed (None when it still does not parse)."""
    lines = source.splitlines()
    magic = [i for i, line in enumerate(lines) if _IPYTHON_LINE.match(line)]
    out = list(lines)
    for i in magic:
        out[i] = f"# {lines[i]}"
    text = "\n".join(out)
    tree = _parse(text) if magic else None
    if tree is None:
        return text, None
    inside = _lines_in_strings(out, tree, magic)
    if not inside:
        return text, tree
    for i in inside:  # a line such as "!= b" inside a docstring is text, not a shell command
        out[i] = lines[i]
    restored = "\n".join(out)
    again = _parse(restored)
    return (restored, again) if again is not None else (text, tree)


def _lines_in_strings(lines: list[str], tree: ast.Module, candidates: list[int]) -> list[int]:
    """Which of the ``candidates`` (0-based line numbers) lie inside a string literal.

    Only string literals spanning several lines can hold a whole line; each one that
    spans a candidate is tokenized on its own, so the cost stays linear in the source.
    """
    spans = sorted(
        (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Constant, ast.JoinedStr))
        and (isinstance(node, ast.JoinedStr) or isinstance(node.value, (str, bytes)))
        and node.end_lineno is not None and node.end_col_offset is not None
        and node.end_lineno > node.lineno
    )
    found: list[int] = []
    covered = 0  # the last line of the span tokenized last: nested literals are inside it
    for first, col, last, end_col in spans:
        if last <= covered:
            continue
        start = bisect.bisect_left(candidates, first)  # 0-based index `first` is line first + 1
        if start == len(candidates) or candidates[start] > last - 1:
            continue
        covered = last
        inside = set(candidates[start:bisect.bisect_right(candidates, last - 1)])
        found += _string_rows(lines, first, col, last, end_col, inside)
    return found


def _string_rows(lines: list[str], first: int, col: int, last: int, end_col: int, wanted: set[int]) -> list[int]:
    """The ``wanted`` lines (0-based) inside string tokens of the expression that runs
    from line ``first``, byte ``col`` to line ``last``, byte ``end_col`` (1-based lines,
    as ``ast`` gives them)."""
    head = lines[first - 1].encode("utf-8", "surrogatepass")
    tail = lines[last - 1].encode("utf-8", "surrogatepass")
    middle = lines[first:last - 1]
    segment = [head[col:].decode("utf-8", "surrogatepass"), *middle, tail[:end_col].decode("utf-8", "surrogatepass")]
    # in brackets, line breaks between adjacent literals ("a" "b") are not statements
    text = "(" + "\n".join(segment) + ")\n"
    rows: list[int] = []
    opened: list[int] = []  # Python 3.12+: rows where an f-string started
    fstring_start = getattr(tokenize, "FSTRING_START", None)
    fstring_end = getattr(tokenize, "FSTRING_END", None)
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == fstring_start:
                opened.append(token.start[0])
                continue
            if token.type == tokenize.STRING:
                begin = token.start[0]
            elif token.type == fstring_end and opened:
                begin = opened.pop()
            else:
                continue
            if opened:
                continue  # a literal inside an f-string: the outer one counts
            rows += [first - 2 + row for row in range(begin + 1, token.end[0] + 1) if first - 2 + row in wanted]
    except (tokenize.TokenError, SyntaxError):
        return []
    return rows


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
