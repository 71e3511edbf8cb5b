"""Grading answer sheets: parse each answer, score it, record everything needed to regrade.

Each :class:`GradedAnswer` keeps the drawn parameters and the expected answer next to the
student's raw and parsed answer, so an appeal or a regrade reads the record instead of
deriving the variant again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from grader.quiz.answers import AnswerSheet, FormatError, parse_answer
from grader.quiz.expr import Expr, ExprError
from grader.quiz.model import Question, Quiz
from grader.quiz.params import seed_key
from grader.quiz.scoring import (
    Outcome, score_choice, score_matrix, score_multi, score_numeric, score_output, score_symbolic,
)
from grader.quiz.variant import Variant, make_variant, to_plain


@dataclass(frozen=True)
class GradedAnswer:
    """One question for one student. ``score`` is a fraction, ``earned`` is in points;
    ``format_error`` is set (and ``score`` 0) when the answer could not be parsed."""

    question: str
    type: str
    points: float
    params: dict[str, Any]
    expected: Any
    given: Any
    parsed: Any
    score: float
    earned: float
    feedback: str
    format_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class StudentResult:
    student: str
    quiz: str
    file: str
    answers: tuple[GradedAnswer, ...]
    earned: float
    max_points: float
    error: str | None = None
    unknown: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"student": self.student, "quiz": self.quiz, "file": self.file, "earned": self.earned,
                "max_points": self.max_points, "error": self.error, "unknown_questions": list(self.unknown),
                "answers": [a.to_dict() for a in self.answers]}


def point_key(salt: str, quiz_id: str, question_id: str, student: str) -> str:
    """The hash key for a student's symbolic sample points."""
    return str(seed_key(salt, quiz_id, question_id, student, "__points__"))


def _plain_parsed(parsed: Any) -> Any:
    if isinstance(parsed, Expr):
        return parsed.text
    return to_plain(list(parsed) if isinstance(parsed, tuple) else parsed)


def score_parsed(question: Question, variant: Variant, parsed: Any, key: str) -> Outcome:
    """Dispatch a parsed answer to its type's scoring rule."""
    if question.type == "numeric":
        return score_numeric(parsed, variant.expected, question.tolerance)
    if question.type == "multiple_choice":
        return score_choice(question, parsed)
    if question.type == "multi_select":
        return score_multi(question, parsed)
    if question.type == "symbolic":
        return score_symbolic(question, variant.params, variant.expected, parsed, key)
    if question.type == "matrix":
        return score_matrix(parsed, variant.expected, question.tolerance)
    return score_output(parsed, variant.expected, question.match)


def grade_answer(question: Question, variant: Variant, raw: Any, key: str = "") -> GradedAnswer:
    """Grade one raw answer against a variant; ``key`` seeds symbolic sample points."""

    def record(score: float, feedback: str, parsed: Any = None, error: str | None = None) -> GradedAnswer:
        return GradedAnswer(question.id, question.type, question.points, variant.params, variant.expected,
                            to_plain(raw), parsed, score, round(score * question.points, 6), feedback, error)

    if raw is None:
        return record(0.0, "no answer")
    try:
        parsed = parse_answer(question, raw)
        outcome = score_parsed(question, variant, parsed, key)
    except (FormatError, ExprError) as exc:
        return record(0.0, "format error: not graded", error=str(exc))
    return record(outcome.score, outcome.feedback, _plain_parsed(parsed))


def grade_sheet(quiz: Quiz, sheet: AnswerSheet, salt: str, outputs: Mapping[str, str] | None = None) -> StudentResult:
    """Grade every question of ``quiz`` for the student of ``sheet``."""
    error = sheet.error
    if error is None and sheet.quiz is not None and sheet.quiz != quiz.id:
        error = f"{sheet.path}: answers are for quiz '{sheet.quiz}', not '{quiz.id}'"
    graded = []
    for q in quiz.questions:
        variant = make_variant(quiz, q, sheet.student, salt, outputs)
        if error is not None:
            graded.append(GradedAnswer(q.id, q.type, q.points, variant.params, variant.expected, None, None,
                                       0.0, 0.0, "answer file not graded", error))
            continue
        graded.append(grade_answer(q, variant, sheet.answers.get(q.id),
                                   point_key(salt, quiz.id, q.id, sheet.student)))
    known = {q.id for q in quiz.questions}
    return StudentResult(sheet.student, quiz.id, str(sheet.path), tuple(graded),
                         round(sum(a.earned for a in graded), 6), quiz.max_points, error,
                         tuple(sorted(set(sheet.answers) - known)))
