"""Topic notebooks built from the reference module: the same single source as the stubs.

A reference module becomes a notebook of cells, in the module's order:

- the module docstring as the notebook's introduction (the maths of the topic);
- the imports and constants as one read-only cell;
- per function or class, its docstring as a Markdown cell and its code as a code cell;
- the module's private helpers (solution regions at module level);
- plots where they teach (``grader.notebook_plots``), run only inside Jupyter;
- a self-check cell that runs the public tests and, for nbgrader, carries the topic's
  points in the gradebook.

Two variants come from one function. ``solutions=True`` is the instructor's master for
nbgrader's ``source/`` folder: solution regions keep their ``### BEGIN/END SOLUTION``
markers inside the function bodies (nbgrader's ``generate_assignment`` replaces them),
and the module-level helpers sit in a hidden-tests region of a locked zero-point cell,
so the release holds none of them and every released cell still runs. ``solutions=False``
is the student version the grader writes itself (``assignments/<topic>.ipynb``), with
the same stub bodies as ``assignments/<topic>.py``.

Cells that are not part of the module (plots, the self-check) are marked with
``metadata.grader.role`` and guarded by ``if __name__ == "__main__":``, so a graded
notebook imports like the ``.py`` module even if a student strips the metadata.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from grader.errors import GraderError
from grader.stubgen import BEGIN, END, make_stub

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
NBFORMAT = 4
NBFORMAT_MINOR = 5
SCHEMA_VERSION = 3  # nbgrader's cell metadata schema

_RST_LITERAL = re.compile(r"``([^`]+)``")


@dataclass(frozen=True)
class Segment:
    """A piece of the reference module that becomes one cell."""

    kind: Literal["docstring", "setup", "def", "helpers"]
    source: str
    name: str = ""


def grade_id(topic: str) -> str:
    """The id of the cell that carries a topic's points in nbgrader's gradebook."""
    return f"{topic}_hidden_tests"


def to_markdown(doc: str) -> str:
    """A docstring as Markdown: RST literals become code spans, ``::`` blocks stay indented."""
    text = _RST_LITERAL.sub(r"`\1`", doc)
    return text.replace("::\n", ":\n")


def split_module(source: str, filename: str = "<reference>") -> list[Segment]:
    """The module's top level cut into the segments that become cells."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        raise GraderError(f"{filename}: syntax error at line {exc.lineno}: {exc.msg}") from None
    lines = source.splitlines()
    regions = _module_regions(lines, filename)
    segments: list[Segment] = []
    pending: list[str] = []  # setup statements waiting to be flushed as one cell
    taken = 0  # lines before this index are consumed
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        segments.append(Segment("docstring", body[0].value.value))
        taken = body[0].end_lineno or 0
        body = body[1:]

    def flush() -> None:
        text = "\n".join(pending).strip("\n")
        if text.strip():
            segments.append(Segment("setup", text))
        pending.clear()

    helpers: list[str] = []
    for node in body:
        if _in_regions(node.lineno - 1, regions):
            continue  # a private helper: its region is collected whole below
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        # helper regions that lie between the previous statement and this one
        for start, end in regions:
            if taken <= start < first:
                helpers.append("\n".join(lines[start + 1:end]))
        lead = [ln for i, ln in enumerate(lines[taken:first], start=taken) if not _in_regions(i, regions)]
        end = _extend_over_comments(lines, node.end_lineno or first)
        text = "\n".join(lead + lines[first:end])
        taken = end
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            flush()
            if helpers:
                segments.append(Segment("helpers", "\n\n".join(h.strip("\n") for h in helpers)))
                helpers = []
            segments.append(Segment("def", text.strip("\n"), node.name))
        else:
            pending.append(text)
    for start, end in regions:
        if start >= taken:
            helpers.append("\n".join(lines[start + 1:end]))
    flush()
    if helpers:
        segments.append(Segment("helpers", "\n\n".join(h.strip("\n") for h in helpers)))
    return segments


def _extend_over_comments(lines: list[str], end: int) -> int:
    """Past a statement's last line, over the indented comments (an END marker) that close it."""
    j = last = end
    while j < len(lines) and (not lines[j].strip() or (lines[j][:1] in (" ", "\t") and lines[j].lstrip().startswith("#"))):
        j += 1
        if lines[j - 1].strip():
            last = j
    return last


def _module_regions(lines: list[str], filename: str) -> list[tuple[int, int]]:
    """(BEGIN line, END line) index pairs of the solution regions at module level."""
    out = []
    start = None
    for i, line in enumerate(lines):
        if line == BEGIN:
            start = i
        elif line == END and start is not None:
            out.append((start, i))
            start = None
    if start is not None:
        raise GraderError(f"{filename}:{start + 1}: '{BEGIN}' is never closed")
    return out


def _in_regions(i: int, regions: list[tuple[int, int]]) -> bool:
    return any(start <= i <= end for start, end in regions)


def _cell_id(topic: str, key: str) -> str:
    return hashlib.sha1(f"{topic}/{key}".encode()).hexdigest()[:12]


def _markdown(topic: str, key: str, text: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "id": _cell_id(topic, key), "metadata": {}, "source": text}


def _code(topic: str, key: str, text: str, *, role: str | None = None, nbgrader: dict | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if nbgrader is not None:
        metadata["nbgrader"] = {"schema_version": SCHEMA_VERSION, **nbgrader}
    if role is not None:
        metadata["grader"] = {"role": role}
    if nbgrader is not None and nbgrader.get("locked"):
        metadata["editable"] = False
        metadata["deletable"] = False
    return {
        "cell_type": "code", "execution_count": None, "id": _cell_id(topic, key),
        "metadata": metadata, "outputs": [], "source": text,
    }


def _locked(cid: str) -> dict:
    return {"grade": False, "solution": False, "locked": True, "grade_id": cid}


def _signature(def_source: str) -> str:
    """``name(args)`` for a function, ``class Name`` for a class, from its source."""
    node = ast.parse(def_source).body[0]
    if isinstance(node, ast.ClassDef):
        return f"class {node.name}"
    args = ast.unparse(node.args)
    return f"{node.name}({args})"


def _docstring(def_source: str) -> str:
    node = ast.parse(def_source).body[0]
    return ast.get_docstring(node) or ""


def check_source(topic: str) -> str:
    """The self-check cell: public tests on the saved notebook, only inside Jupyter."""
    return (
        "# Save the notebook first (Ctrl-S): the check reads the saved file.\n"
        "# It runs the public tests only. Your grade comes from the course's hidden tests;\n"
        "# in nbgrader this cell holds the topic's points.\n"
        'if __name__ == "__main__":\n'
        "    import grader\n"
        f'    grader.check("{topic}")\n'
    )


def build_notebook(
    topic: str, reference_source: str, *, solutions: bool, points: float, title: str | None = None,
    filename: str = "<reference>",
) -> dict[str, Any]:
    """The topic's notebook as an nbformat 4 document (a plain dict, ready for ``json.dump``)."""
    cells: list[dict[str, Any]] = []
    segments = split_module(reference_source, filename)
    heading = title or topic.replace("_", " ").capitalize()
    intro = next((s.source for s in segments if s.kind == "docstring"), "")
    cells.append(_markdown(topic, "intro", f"# {heading}\n\n{to_markdown(intro.strip())}\n\n" + _HOW_TO.format(topic=topic)))
    helper_done = False
    for n, seg in enumerate(segments):
        key = f"{seg.kind}:{seg.name or n}"
        if seg.kind == "setup":
            cells.append(_code(topic, key, seg.source, nbgrader=_locked(f"{topic}_setup_{n}")))
        elif seg.kind == "helpers":
            cells.append(_helpers_cell(topic, key, seg.source, solutions, n))
            helper_done = True
        elif seg.kind == "def":
            doc = _docstring(seg.source)
            cells.append(_markdown(topic, "doc:" + seg.name, f"### `{_signature(seg.source)}`\n\n{to_markdown(doc)}"))
            has_region = any(line.strip() == BEGIN for line in seg.source.splitlines())
            if not has_region:
                cells.append(_code(topic, key, seg.source, nbgrader=_locked(f"{topic}_{seg.name}")))
                continue
            body = seg.source if solutions else make_stub(seg.source, topic, filename).rstrip("\n")
            cells.append(_code(topic, key, body, nbgrader={
                "grade": False, "solution": True, "locked": False, "grade_id": f"{topic}_{seg.name}",
            }))
    if not helper_done and not solutions:
        cells.append(_helpers_cell(topic, "helpers", "", solutions, 0))
    for i, (text, code) in enumerate(_plots(topic)):
        cells.append(_markdown(topic, f"plot-doc:{i}", text))
        cells.append(_code(topic, f"plot:{i}", code, role="plot", nbgrader=_locked(f"{topic}_plot_{i}")))
    cells.append(_markdown(topic, "check-doc", _CHECK_DOC))
    cells.append(_code(topic, "check", check_source(topic), role="check", nbgrader={
        "grade": True, "solution": False, "locked": True, "grade_id": grade_id(topic), "points": float(points),
    }))
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": NBFORMAT,
        "nbformat_minor": NBFORMAT_MINOR,
    }


def _helpers_cell(topic: str, key: str, source: str, solutions: bool, n: int) -> dict[str, Any]:
    note = "# Helpers shared by your functions: write your own here if you want any.\n"
    if solutions:
        # A locked zero-point grade cell: nbgrader strips the hidden region at release.
        text = note + f"{HIDDEN_BEGIN}\n{source}\n{HIDDEN_END}"
        return _code(topic, key, text, nbgrader={
            "grade": True, "solution": False, "locked": True, "grade_id": f"{topic}_helpers_{n}", "points": 0.0,
        })
    return _code(topic, key, note.rstrip("\n"), nbgrader={
        "grade": False, "solution": True, "locked": False, "grade_id": f"{topic}_my_helpers_{n}",
    })


def _plots(topic: str) -> list[tuple[str, str]]:
    try:
        from grader.notebook_plots import plot_cells
    except ImportError:
        return []
    return plot_cells(topic)


def dumps(notebook: dict[str, Any]) -> str:
    """Stable JSON text for a notebook (what Jupyter writes: one-space indent, newline)."""
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


_HOW_TO = """\
**How to work:** fill in every cell marked `# YOUR CODE HERE` (delete the `raise` line),
run the notebook top to bottom, then save it and run the self-check at the end. The
self-check runs the public tests; your grade comes from the course's hidden tests, which
compare your functions with a reference on many more inputs. You may hand in this
notebook or the same code as `{topic}.py`; both are graded alike."""

_CHECK_DOC = """\
## Check your work

Save the notebook, then run the cell below. It runs the public tests against the saved
file and shows a table of what passes and what does not."""
