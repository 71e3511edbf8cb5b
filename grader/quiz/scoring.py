"""Pure scoring rules, one per question type; each returns an :class:`Outcome`.

Scores are fractions in [0, 1]; the caller multiplies by the question's points.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from grader.quiz.expr import Expr, ExprError, parse
from grader.quiz.model import Check, Match, Question, Scoring, Tolerance
from grader.quiz.params import unit_floats

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)")


@dataclass(frozen=True)
class Outcome:
    score: float
    feedback: str


def _same(given: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """Elementwise ``|g - e| <= atol + rtol |e|``; nan matches nan, inf matches the same inf."""
    with np.errstate(all="ignore"):
        close = np.isfinite(expected) & (np.abs(given - expected) <= atol + rtol * np.abs(expected))
    return close | (np.isnan(given) & np.isnan(expected)) | (np.isinf(expected) & (given == expected))


def score_numeric(given: float, expected: float, tol: Tolerance) -> Outcome:
    """Full marks when ``given`` is within the tolerance's margin of ``expected``."""
    margin = tol.margin(expected) if np.isfinite(expected) else 0.0
    if tol.sigfigs is not None:
        ok = bool(np.isfinite(expected) and abs(given - expected) <= margin) or given == expected
    else:
        ok = bool(_same(np.float64(given), np.float64(expected), tol.rtol, tol.atol))
    if ok:
        return Outcome(1.0, "correct")
    return Outcome(0.0, f"incorrect: {given:.6g} is not within {margin:.3g} of the expected value")


def score_choice(question: Question, key: str) -> Outcome:
    """The chosen choice's score (1 for the correct one) and its feedback."""
    choice = next(c for c in question.choices if c.key == key)
    word = "correct" if choice.score >= 1 else "partly correct" if choice.score > 0 else "incorrect"
    return Outcome(choice.score, f"{word}: {choice.feedback}" if choice.feedback else word)


def multi_select_score(correct: set[str], selected: set[str], n_choices: int, mode: Scoring) -> float:
    """PrairieLearn's checkbox policies, with t = correct keys selected, f = incorrect
    keys selected, c = number of correct keys, s = number selected:

    - ``all_or_nothing``: 1 when the selection is exactly the correct set;
    - ``net_correct``: max(0, (t - f) / c);
    - ``coverage``: (t / c) * (t / s), 0 when nothing is selected;
    - ``each_answer``: the fraction of the n choices decided rightly,
      (t + (n - c - f)) / n.
    """
    t, f, c = len(selected & correct), len(selected - correct), len(correct)
    if mode == "all_or_nothing":
        return 1.0 if selected == correct else 0.0
    if mode == "net_correct":
        return max(0.0, (t - f) / c)
    if mode == "coverage":
        return (t / c) * (t / len(selected)) if selected else 0.0
    return (t + (n_choices - c - f)) / n_choices


def score_multi(question: Question, selected: Sequence[str]) -> Outcome:
    correct, chosen = set(question.correct_keys), set(selected)
    score = multi_select_score(correct, chosen, len(question.choices), question.scoring)
    if score >= 1:
        return Outcome(1.0, "correct")
    missed, extra = sorted(correct - chosen), sorted(chosen - correct)
    parts = [f"{len(missed)} correct choice(s) not selected"] if missed else []
    parts += [f"{len(extra)} incorrect choice(s) selected"] if extra else []
    return Outcome(score, "; ".join(parts) or "incorrect")


def sample_points(variables: Sequence[tuple[str, float, float]], count: int, key: str) -> dict[str, np.ndarray]:
    """``count`` points per variable, uniform in its interval, from the hash of ``key``."""
    u = np.asarray(unit_floats(key, count * len(variables))).reshape(len(variables), count) if variables else []
    return {name: lo + (hi - lo) * u[i] for i, (name, lo, hi) in enumerate(variables)}


def evaluate_at(expr: Expr, params: Mapping[str, Any], points: dict[str, np.ndarray], count: int,
                timeout: float) -> np.ndarray:
    """``expr`` at every point, stacked on the first axis: one vectorised call when the
    expression is elementwise, otherwise one call per point, within one shared deadline."""
    if expr.elementwise:
        value = np.asarray(expr({**params, **points}, timeout), dtype=float)
        return np.broadcast_to(value, (count,) + value.shape[1:] if value.ndim else (count,))
    deadline = time.monotonic() + timeout
    values = []
    for i in range(count):
        left = deadline - time.monotonic()
        if left <= 0:
            raise ExprError("evaluation took too long")
        values.append(np.asarray(expr({**params, **{k: v[i] for k, v in points.items()}}, left), dtype=float))
    if len({v.shape for v in values}) > 1:
        raise ExprError("gives values of different shapes at different points")
    return np.stack(values)


def score_symbolic(question: Question, params: Mapping[str, Any], expected: str, given: Expr,
                   key: str) -> Outcome:
    """Compare ``given`` with the ``expected`` expression at random points.

    2n candidate points are drawn in the declared intervals; the first n where the
    expected value is finite are used (all candidates when fewer than n/2 are finite, a
    nan then matching only a nan). Evaluation errors of the student's expression raise
    :class:`ExprError`, which the caller reports as a format error.
    """
    check: Check = question.check
    count = 2 * check.points
    points = sample_points(question.variables, count, key)
    names = question.variable_names | question.param_names
    want = evaluate_at(parse(expected, names), params, points, count, check.timeout_s)
    got = evaluate_at(given, params, points, count, check.timeout_s)
    if got.shape != want.shape:
        return Outcome(0.0, f"incorrect: gives shape {list(got.shape[1:])}, expected {list(want.shape[1:])}")
    finite = np.isfinite(want.reshape(count, -1)).all(axis=1)
    chosen = np.flatnonzero(finite)[:check.points]
    if len(chosen) < check.points // 2:
        chosen = np.arange(check.points)
    ok = _same(got[chosen], want[chosen], check.rtol, check.atol).reshape(len(chosen), -1).all(axis=1)
    if ok.all():
        return Outcome(1.0, "correct")
    bad = chosen[np.flatnonzero(~ok)[0]]
    where = ", ".join(f"{name}={points[name][bad]:.4g}" for name, _, _ in question.variables)
    return Outcome(0.0, f"incorrect: differs from the expected expression at {where} "
                        f"(expected {want[bad]:.6g}, got {got[bad]:.6g})" if want.ndim == 1 else
                   f"incorrect: differs from the expected expression at {where}")


def score_matrix(given: np.ndarray, expected: Any, tol: Tolerance) -> Outcome:
    """Shape first, then every entry within the tolerance."""
    want = np.asarray(expected, dtype=float)
    if given.shape != want.shape:
        return Outcome(0.0, f"incorrect shape: got {list(given.shape)}, expected {list(want.shape)}")
    if tol.sigfigs is not None:
        margins = np.vectorize(tol.margin)(want) if want.size else want
        ok = np.abs(given - want) <= margins
    else:
        ok = _same(given, want, tol.rtol, tol.atol)
    wrong = int(want.size - np.count_nonzero(ok))
    if not wrong:
        return Outcome(1.0, "correct")
    first = tuple(int(i) for i in np.argwhere(~ok)[0])
    return Outcome(0.0, f"incorrect: {wrong} of {want.size} entries outside the tolerance "
                        f"(first at index {list(first)})")


def score_output(given: str, expected: str, match: Match) -> Outcome:
    """Compare printed output: ``exact`` (trailing newlines ignored),
    ``normalized_whitespace`` (runs of whitespace count as one space) or ``numeric``
    (the numbers in the text, in order, each within rtol/atol; other text ignored)."""
    if match.mode == "exact":
        ok = given.rstrip("\r\n") == expected.rstrip("\r\n")
    elif match.mode == "normalized_whitespace":
        ok = given.split() == expected.split()
    else:
        got = [float(t) for t in _NUMBER.findall(given)]
        want = [float(t) for t in _NUMBER.findall(expected)]
        if len(got) != len(want):
            return Outcome(0.0, f"incorrect: {len(got)} number(s) given, {len(want)} expected")
        ok = bool(_same(np.asarray(got), np.asarray(want), match.rtol, match.atol).all()) if want else True
    return Outcome(1.0, "correct") if ok else Outcome(0.0, "incorrect: output differs")
