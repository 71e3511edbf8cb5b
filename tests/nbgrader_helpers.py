"""What the release checks call the model solution."""

from __future__ import annotations

from grader.notebooks import build_notebook


def solution_lines(reference: str, topic: str) -> list[str]:
    """Distinctive lines of the model solution: inside a solution region, longer than 20
    characters, and absent from the student notebook the grader builds itself (its
    docstrings, provided code, plots and stubs), so a hit in a release is a leak."""
    student = build_notebook(topic, reference, solutions=False, points=1.0)
    given = {line.strip() for cell in student["cells"] for line in cell["source"].splitlines()}
    inside, in_region = set(), False
    for line in reference.splitlines():
        s = line.strip()
        if s in ("### BEGIN SOLUTION", "### END SOLUTION"):
            in_region = s.startswith("### BEGIN")
        elif in_region and len(s) > 20 and not s.startswith("#") and s not in given:
            inside.add(s)
    lines = sorted(inside)
    assert len(lines) >= 5, f"{topic}: too few solution lines for the leak check to mean anything"
    return lines
