"""Scores: the outcome of each test, points per case, totals per topic and submission.

Everything here is a pure function over frozen dataclasses. A test group's points are
shared equally by its cases, so a topic's maximum is exactly what the rubric says for
every submission.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["passed", "partial", "failed", "error", "timeout", "missing"]


@dataclass(frozen=True)
class Outcome:
    """What one test found, before points are attached."""

    status: Status
    credit: float = 0.0
    message: str = ""
    hint: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)
    # Feedback that carries no points: what the worker says it saw (an argument changed
    # in place, say), which a submission could forge and so never changes a score.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TestResult:
    id: str
    score: float
    max_score: float
    status: Status
    message: str = ""
    hint: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    # Series a test keeps for plotting, e.g. the capstone's loss per epoch.
    curves: dict[str, list[float]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # feedback without points (see Outcome.notes)
    visibility: str = "visible"  # when students may see it (grader.visibility)


@dataclass(frozen=True)
class TopicResult:
    name: str
    score: float
    max_score: float
    status: Literal["graded", "missing", "error"]
    tests: tuple[TestResult, ...]


@dataclass(frozen=True)
class SubmissionResult:
    id: str
    path: str
    score: float
    max_score: float
    topics: dict[str, TopicResult]
    flags: tuple[str, ...] = ()
    timing: dict[str, float] = field(default_factory=dict)
    isolation: tuple[str, ...] = ()  # the sandbox layers this submission ran under


def _round(x: float) -> float:
    return round(x + 0.0, 9)


def score_test(test_id: str, outcome: Outcome, points: float, visibility: str = "visible") -> TestResult:
    credit = min(1.0, max(0.0, outcome.credit))
    status = outcome.status
    if status == "passed" and credit < 1.0:
        status = "partial" if credit > 0 else "failed"
    # Per-case values keep full precision; totals are rounded once, after summing, so
    # 3 points shared by 9 cases add up to exactly 3.
    return TestResult(
        test_id, points * credit, points, status, outcome.message, outcome.hint, dict(outcome.metrics),
        {k: list(v) for k, v in outcome.curves.items()},
        tuple(outcome.notes), visibility,
    )


def _deduction(test_id: str, earned: float, penalty: float, messages: list[str], hint: str) -> TestResult:
    """A zero-point entry that removes up to ``penalty`` points, never more than earned."""
    taken = min(max(earned, 0.0), penalty)
    return TestResult(test_id, -taken, 0.0, "failed", "; ".join(messages)[:500], hint)


def penalty_test(topic: str, earned: float, penalty: float, messages: list[str]) -> TestResult:
    """A zero-point entry that removes up to ``penalty`` points for forbidden calls."""
    return _deduction(f"{topic}::forbidden_calls", earned, penalty, messages,
                      "write the maths by hand: this topic may not use ready-made torch functions")


def argument_order_test(topic: str, earned: float, penalty: float, messages: list[str]) -> TestResult:
    """A zero-point entry that removes up to ``penalty`` points for public functions whose
    positional arguments are not in the contract's order (grader.signature_check)."""
    return _deduction(f"{topic}::argument_order", earned, penalty, messages,
                      "keep the parameters in the order docs/api.md lists them (renaming them is fine): "
                      "the grader and other code may pass arguments by position")


def topic_result(name: str, tests: list[TestResult], status: str | None = None) -> TopicResult:
    score = _round(sum(t.score for t in tests))
    max_score = _round(sum(t.max_score for t in tests))
    if status is None:
        status = "missing" if tests and all(t.status == "missing" for t in tests) else "graded"
    return TopicResult(name, score, max_score, status, tuple(tests))  # type: ignore[arg-type]


def submission_result(
    sid: str, path: str, topics: dict[str, TopicResult], flags: list[str], timing: dict[str, float]
) -> SubmissionResult:
    return SubmissionResult(
        sid,
        path,
        _round(sum(t.score for t in topics.values())),
        _round(sum(t.max_score for t in topics.values())),
        topics,
        tuple(flags),
        timing,
    )
