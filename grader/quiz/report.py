"""Grading output: a JSON record per student, a CSV row per student, a terminal table.

A student id comes from the answer file (its name or its ``student`` field), so it is
the student's text: formula-guarded in CSV and escaped in the table
(:mod:`grader.textsafe`), kept exactly in JSON, where it is data.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Sequence

from grader.quiz.grading import StudentResult
from grader.quiz.model import Quiz
from grader.textsafe import csv_cell, terminal


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(results: Sequence[StudentResult], path: Path) -> None:
    """``{"students": [record, ...]}``; nan and inf become the strings "nan", "inf"."""
    data = {"students": [_json_safe(r.to_dict()) for r in results]}
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def write_csv(quiz: Quiz, results: Sequence[StudentResult], path: Path) -> None:
    """A row per student: points per question, the total, the maximum and the number of
    format errors."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *[q.id for q in quiz.questions], "total", "max", "format_errors"])
        for r in results:
            errors = sum(1 for a in r.answers if a.format_error)
            writer.writerow([csv_cell(r.student), *[f"{a.earned:g}" for a in r.answers], f"{r.earned:g}",
                             f"{r.max_points:g}", errors])


def format_table(quiz: Quiz, results: Sequence[StudentResult]) -> str:
    """A plain-text table; a format error shows as ``fmt``."""
    header = ["student", *[q.id for q in quiz.questions], "total"]
    rows = [header]
    for r in results:
        cells = ["fmt" if a.format_error else f"{a.earned:g}" for a in r.answers]
        rows.append([terminal(r.student), *cells, f"{r.earned:g}/{r.max_points:g}"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
