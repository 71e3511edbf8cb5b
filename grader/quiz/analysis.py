"""Quiz item analysis: how each question performed across a class.

The statistics are Moodle's quiz statistics (``question/classes/statistics``), computed
from ``grader quiz grade --json`` records. With x the marks students got on an item (in
points, out of its maximum m), X their quiz totals and X - x the rest of the quiz, over
the S students, with sample variances and covariances (divisor S - 1):

- facility index F = mean(x) / m, in percent: how easy the item was;
- standard deviation SD = sqrt(V(x)) / m, in percent;
- discrimination index D = 100 r(x, X - x), the correlation of the item's marks with
  the rest of the quiz: how well it separates stronger from weaker students;
- discriminative efficiency E = 100 C(x, X - x) / Cmax(x, X - x), with Cmax the
  covariance of the two lists sorted in the same order: the discrimination the item
  reaches out of what its spread of marks allows.

For the choices of a multiple-choice or multi-select item: how often each was chosen and,
as Canvas reports it, its point-biserial, the correlation of "chose it" with the quiz
total. An item that correlates negatively with the rest of the quiz is flagged (a wrong
key, or a misleading question), as is a wrong choice that stronger students pick. A
format error (an answer that could not be read) counts 0 points like any wrong answer
and is counted separately; so is a blank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from grader.textsafe import terminal

CHOICE_TYPES = ("multiple_choice", "multi_select")


def _mean(v: Sequence[float]) -> float:
    return sum(v) / len(v)


def _cov(a: Sequence[float], b: Sequence[float]) -> float | None:
    n = len(a)
    if n < 2:
        return None
    ma, mb = _mean(a), _mean(b)
    return sum((x - ma) * (y - mb) for x, y in zip(a, b)) / (n - 1)


def _corr(a: Sequence[float], b: Sequence[float]) -> float | None:
    c, va, vb = _cov(a, b), _cov(a, a), _cov(b, b)
    if c is None or not va or not vb or va <= 0 or vb <= 0:
        return None
    return c / math.sqrt(va * vb)


@dataclass(frozen=True)
class ChoiceStats:
    label: str
    chosen: int
    share: float                    # of the students who answered the item
    point_biserial: float | None    # r(chose it, quiz total)
    correct: bool | None            # from the quiz file, when given


@dataclass(frozen=True)
class ItemStats:
    question: str
    type: str
    points: float
    students: int
    facility: float | None          # percent
    sd: float | None                # percent of the maximum
    discrimination: float | None    # percent
    efficiency: float | None        # percent
    full_marks: int
    wrong: int                      # answered, readable, not full marks
    format_errors: int
    blank: int
    choices: tuple[ChoiceStats, ...] = ()
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuizAnalysis:
    quiz: str
    students: int
    mean_total: float | None
    max_total: float
    items: tuple[ItemStats, ...]


def _labels(parsed: Any) -> list[str]:
    if isinstance(parsed, (list, tuple)):
        return [str(p) for p in parsed]
    return [] if parsed is None else [str(parsed)]


def _correct_labels(quiz: Any) -> dict[str, dict[str, bool]]:
    """question id -> {choice key: correct} from a loaded quiz."""
    return {q.id: {str(c.key): bool(c.correct) for c in q.choices}
            for q in quiz.questions if q.type in CHOICE_TYPES and getattr(q, "choices", None)}


def analyse(records: Sequence[dict], quiz: Any = None) -> QuizAnalysis:
    """Item statistics of ``grader quiz grade --json``'s ``students`` records. Students
    whose sheet could not be read at all (``error``) are left out. ``quiz`` (a loaded
    quiz) adds which choices are correct and the choices nobody picked."""
    rows = [r for r in records if isinstance(r, dict) and not r.get("error") and isinstance(r.get("answers"), list)]
    keys = _correct_labels(quiz) if quiz is not None else {}
    order: list[str] = []
    marks: dict[str, dict[int, dict]] = {}
    for s, row in enumerate(rows):
        for a in row["answers"]:
            qid = str(a.get("question"))
            if qid not in marks:
                order.append(qid)
                marks[qid] = {}
            marks[qid][s] = a
    totals = [float(sum(float(a.get("earned") or 0.0) for a in row["answers"])) for row in rows]
    items = []
    for qid in order:
        answers = marks[qid]
        students = sorted(answers)
        first = answers[students[0]]
        points = float(first.get("points") or 0.0)
        x = [float(answers[s].get("earned") or 0.0) for s in students]
        total = [totals[s] for s in students]
        rest = [t - v for t, v in zip(total, x)]
        facility = 100 * _mean(x) / points if points > 0 else None
        var = _cov(x, x)
        sd = 100 * math.sqrt(var) / points if var is not None and points > 0 else None
        r = _corr(x, rest)
        c = _cov(x, rest)
        cmax = _cov(sorted(x), sorted(rest))
        efficiency = 100 * c / cmax if c is not None and cmax and cmax > 0 else None
        format_errors = sum(1 for s in students if answers[s].get("format_error"))
        blank = sum(1 for s in students if answers[s].get("given") is None and not answers[s].get("format_error"))
        full = sum(1 for s in students if float(answers[s].get("score") or 0.0) >= 1.0 - 1e-9)
        wrong = len(students) - full - format_errors - blank
        flags = []
        if r is not None and r < 0:
            flags.append("negative discrimination: students who did well on the rest of the quiz did worse "
                         "here (check the key and the wording)")
        choices: tuple[ChoiceStats, ...] = ()
        if str(first.get("type")) in CHOICE_TYPES:
            choices, choice_flags = _choices(answers, students, totals, keys.get(qid))
            flags += choice_flags
        items.append(ItemStats(
            qid, str(first.get("type")), points, len(students),
            None if facility is None else round(facility, 9), None if sd is None else round(sd, 9),
            None if r is None else round(100 * r, 9), None if efficiency is None else round(efficiency, 9),
            full, wrong, format_errors, blank, choices, tuple(flags)))
    max_total = max((float(r.get("max_points") or 0.0) for r in rows), default=0.0)
    return QuizAnalysis(
        str(rows[0].get("quiz")) if rows else "", len(rows),
        round(_mean(totals), 9) if totals else None, max_total, tuple(items))


def _choices(answers: dict[int, dict], students: list[int], totals: list[float],
             key: dict[str, bool] | None) -> tuple[tuple[ChoiceStats, ...], list[str]]:
    answered = [s for s in students if answers[s].get("given") is not None and not answers[s].get("format_error")]
    picked = {s: set(_labels(answers[s].get("parsed"))) for s in answered}
    labels = sorted({label for chosen in picked.values() for label in chosen} | set(key or {}))
    total = [totals[s] for s in answered]
    out, flags = [], []
    for label in labels:
        indicator = [1.0 if label in picked[s] else 0.0 for s in answered]
        chosen = int(sum(indicator))
        rpb = _corr(indicator, total)
        correct = None if key is None else key.get(label)
        out.append(ChoiceStats(label, chosen, chosen / len(answered) if answered else 0.0,
                               None if rpb is None else round(rpb, 9), correct))
        if correct is False and rpb is not None and rpb > 0:
            flags.append(f"choice {label} is wrong but chosen more by students with higher totals "
                         f"(point-biserial {rpb:+.2f})")
    return tuple(out), flags


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def render_analysis(analysis: QuizAnalysis) -> str:
    """A terminal table per item, then each item's choices and flags."""
    lines = [f"{terminal(analysis.quiz)}: {analysis.students} students, mean total "
             f"{'n/a' if analysis.mean_total is None else f'{analysis.mean_total:g}'}/{analysis.max_total:g}"]
    header = ["question", "type", "facility %", "sd %", "discrimination %", "efficiency %", "full", "wrong",
              "format", "blank"]
    rows = [header] + [
        [terminal(i.question), i.type, _pct(i.facility), _pct(i.sd), _pct(i.discrimination), _pct(i.efficiency),
         str(i.full_marks), str(i.wrong), str(i.format_errors), str(i.blank)]
        for i in analysis.items
    ]
    widths = [max(len(r[k]) for r in rows) for k in range(len(header))]
    for n, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if k < 2 else c.rjust(w) for k, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    for item in analysis.items:
        for c in item.choices:
            mark = {True: " (correct)", False: "", None: ""}[c.correct]
            lines.append(f"  {terminal(item.question)} choice {terminal(c.label)}{mark}: chosen {c.chosen} "
                         f"({100 * c.share:.0f}%), point-biserial "
                         f"{'n/a' if c.point_biserial is None else f'{c.point_biserial:+.2f}'}")
        for flag in item.flags:
            lines.append(f"  ! {terminal(item.question)}: {flag}")
    return "\n".join(lines)


def analysis_to_dict(analysis: QuizAnalysis) -> dict[str, Any]:
    return {
        "schema": 1, "quiz": analysis.quiz, "students": analysis.students, "mean_total": analysis.mean_total,
        "max_total": analysis.max_total,
        "items": [
            {"question": i.question, "type": i.type, "points": i.points, "students": i.students,
             "facility": i.facility, "sd": i.sd, "discrimination": i.discrimination, "efficiency": i.efficiency,
             "full_marks": i.full_marks, "wrong": i.wrong, "format_errors": i.format_errors, "blank": i.blank,
             "choices": [{"label": c.label, "chosen": c.chosen, "share": c.share,
                          "point_biserial": c.point_biserial, "correct": c.correct} for c in i.choices],
             "flags": list(i.flags)}
            for i in analysis.items
        ],
    }
