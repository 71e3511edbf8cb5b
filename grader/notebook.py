"""Turn a submitted notebook into the module it stands for.

The code cells, in order, form the module. IPython-only lines (``%magic``, ``!shell``)
and self-check calls (``grader.check(...)``) become comments, so a notebook that runs in
Jupyter imports as a plain module.
"""

from __future__ import annotations

import json
import re

from grader.errors import SubmissionError

_IPYTHON_LINE = re.compile(r"^\s*(%|!)")
_SELF_CHECK = re.compile(r"^\s*(grader\.check|check)\(")


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
        lines = [
            f"# {line}" if _IPYTHON_LINE.match(line) or _SELF_CHECK.match(line) else line
            for line in source.splitlines()
        ]
        chunks.append(f"# --- cell {i} ---\n" + "\n".join(lines))
    if not chunks:
        raise SubmissionError(f"{name} has no code cells; submit the notebook with your code in it")
    return "\n\n".join(chunks) + "\n"
