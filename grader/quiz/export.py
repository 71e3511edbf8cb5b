"""What every LMS export shares: variants as pools, and what each format cannot carry.

A parameterized question becomes a pool of N pre-drawn variants with distinct parameters
(export students ``variant-1``, ``variant-2``, ... in order, skipping repeated draws; fewer
when the parameters have fewer than N values); a fixed question is one item. A question a
format cannot carry is listed in :attr:`ExportReport.skipped`, and a loss of fidelity
(for example a scoring rule the LMS does not have) in :attr:`ExportReport.notes`: nothing is
dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from grader.errors import UsageError
from grader.quiz.build import build
from grader.quiz.model import Question, Quiz
from grader.quiz.params import draw
from grader.quiz.render import question_text
from grader.quiz.variant import Variant, make_variant

SUFFIXES = {"qti": ".qti.zip", "moodle-xml": ".moodle.xml", "gift": ".gift.txt"}
_ONE_NUMBER = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*")


@dataclass(frozen=True)
class Item:
    """One exported question variant: ``name`` is the id, with `` v<k>`` in a pool."""

    question: Question
    name: str
    text: str
    variant: Variant


@dataclass(frozen=True)
class Pool:
    question: Question
    items: tuple[Item, ...]


@dataclass
class ExportReport:
    """What an export carried: ``pools`` written, questions ``skipped`` (one line each,
    with the reason) and ``notes`` on fidelity lost."""

    exported: int = 0
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pools: list[Pool] = field(default_factory=list)


def suffix(fmt: str) -> str:
    return SUFFIXES[fmt]


def export_students(n: int) -> list[str]:
    return [f"variant-{i}" for i in range(1, n + 1)]


def single_number(output: str) -> float | None:
    """The number when printed output is exactly one number, else None."""
    m = _ONE_NUMBER.fullmatch(output)
    return float(m.group(1)) if m else None


def carry(question: Question, variants: list[Variant], fmt: str) -> tuple[str | None, list[str]]:
    """(why the format cannot carry the question or None, notes on lost fidelity)."""
    where = f"question '{question.id}'"
    if question.type in ("symbolic", "matrix"):
        return f"{where}: {question.type} questions cannot be carried by {fmt}", []
    notes: list[str] = []
    if question.type == "code_output":
        outputs = [v.expected for v in variants]
        if question.match.mode == "numeric" and all(single_number(o) is not None for o in outputs):
            return None, [f"{where}: code_output exported as a numerical question"]
        if any("\n" in o.strip() for o in outputs):
            return f"{where}: multi-line code output cannot be carried by {fmt}", []
        notes.append(f"{where}: code_output exported as short answer (text match, {fmt} rules)")
    if question.type == "multiple_choice" and any(0 < c.score < 1 for c in question.choices) and fmt == "qti":
        notes.append(f"{where}: partial credit per choice is not carried by qti (only the correct choice scores)")
    if question.type == "multi_select":
        lms = "Canvas multiple-answers scoring" if fmt == "qti" else "Moodle's +/- fractions (net_correct)"
        if question.scoring != "net_correct" or fmt == "qti":
            notes.append(f"{where}: scoring '{question.scoring}' becomes {lms}")
    return None, notes


def pick_students(quiz: Quiz, question: Question, n_variants: int, salt: str) -> list[str]:
    """Up to ``n_variants`` export students whose parameters differ (one for a fixed question)."""
    if not question.params:
        return export_students(1)
    chosen, seen = [], set()
    for student in export_students(20 * n_variants):
        key = repr(sorted(draw(question.params, salt, quiz.id, question.id, student).items()))
        if key not in seen:
            seen.add(key)
            chosen.append(student)
            if len(chosen) == n_variants:
                break
    return chosen


def variant_students(quiz: Quiz, n_variants: int, salt: str) -> list[str]:
    """Every export student some question of ``quiz`` uses (what its build needs)."""
    return sorted({s for q in quiz.questions for s in pick_students(quiz, q, n_variants, salt)})


def collect(quiz: Quiz, fmt: str, n_variants: int, salt: str, cache_dir: Path | None,
            report: ExportReport) -> list[Pool]:
    """The pools to export, filling ``report`` with skipped questions and notes."""
    picked = {q.id: pick_students(quiz, q, n_variants, salt) for q in quiz.questions}
    outputs = build(quiz, variant_students(quiz, n_variants, salt), salt, cache_dir)
    pools: list[Pool] = []
    for q in quiz.questions:
        variants = [make_variant(quiz, q, student, salt, outputs) for student in picked[q.id]]
        reason, notes = carry(q, variants, fmt)
        report.notes.extend(f"{quiz.path}: {n}" for n in notes)
        if reason:
            report.skipped.append(f"{quiz.path}: {reason}")
            continue
        items = tuple(Item(q, f"{q.id} v{k}" if q.params else q.id, question_text(q, v.params), v)
                      for k, v in enumerate(variants, 1))
        pools.append(Pool(q, items))
        report.exported += 1
    return pools


def export_quiz(quiz: Quiz, fmt: str, target: Path, n_variants: int, salt: str,
                cache_dir: Path | None = None) -> ExportReport:
    """Write ``quiz`` to ``target`` in ``fmt``; returns what was and was not carried."""
    from grader.quiz import export_gift, export_moodle, export_qti

    writers: dict[str, Callable[[Quiz, list[Pool], Path], Any]] = {
        "qti": export_qti.write, "moodle-xml": export_moodle.write, "gift": export_gift.write}
    if fmt not in writers:
        raise UsageError(f"unknown export format '{fmt}' (use {', '.join(writers)})")
    report = ExportReport()
    report.pools = collect(quiz, fmt, n_variants, salt, cache_dir, report)
    writers[fmt](quiz, report.pools, target)
    return report


def numeric_answer(item: Item) -> tuple[float, float] | None:
    """(value, absolute margin) for numeric items and numeric code output, else None."""
    q, expected = item.question, item.variant.expected
    if q.type == "numeric":
        return float(expected), q.tolerance.margin(float(expected))
    if q.type == "code_output" and q.match.mode == "numeric":
        value = single_number(expected)
        if value is not None:
            return value, q.match.atol + q.match.rtol * abs(value)
    return None
