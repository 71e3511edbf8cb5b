"""Every question tests itself: its answer key earns full marks, each declared wrong answer
earns its declared score, and a malformed answer is a format error, for a few students."""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np

from grader.errors import GraderError
from grader.quiz.expr import ExprError, parse
from grader.quiz.grading import grade_answer, point_key
from grader.quiz.model import Question, Quiz
from grader.quiz.variant import Variant, make_variant, to_plain

SAMPLE_STUDENTS: tuple[str, ...] = ("selftest-1", "selftest-2", "selftest-3")
SCORE_TOLERANCE = 1e-3  # a declared 0.6667 matches 2/3
MALFORMED: dict[str, Any] = {
    "numeric": "two point five", "multiple_choice": "zz", "multi_select": {"a": 1},
    "symbolic": "x +* 2", "matrix": "[[1, 2], [3", "code_output": {"not": "text"},
}


def key_answer(question: Question, variant: Variant) -> Any:
    """The answer key written the way a student would write it."""
    return variant.expected


def wrong_answer_raw(question: Question, variant: Variant, answer: Any) -> Any:
    """A declared wrong answer as a student's raw answer: instructor expressions of numeric
    and matrix questions are evaluated with the variant's parameters first."""
    if question.type in ("numeric", "matrix") and isinstance(answer, str):
        return to_plain(np.asarray(parse(answer, question.param_names)(variant.params), dtype=float))
    return answer


def selftest_question(quiz: Quiz, question: Question, students: Iterable[str] = SAMPLE_STUDENTS,
                      salt: str | None = None, outputs: Mapping[str, str] | None = None) -> list[str]:
    """Problems found for ``question``, one line each (empty when it passes)."""
    salt = quiz.salt(salt)
    problems: list[str] = []
    where = f"{quiz.path}: question '{question.id}'"
    for student in students:
        try:
            variant = make_variant(quiz, question, student, salt, outputs)
        except GraderError as exc:
            problems.append(str(exc))
            break
        if question.type == "numeric" and not math.isfinite(variant.expected):
            problems.append(f"{where}: field 'answer': is {variant.expected} for student '{student}'")
            continue
        key = point_key(salt, quiz.id, question.id, student)
        graded = grade_answer(question, variant, key_answer(question, variant), key)
        if graded.score != 1.0:
            problems.append(f"{where}: the answer key earns {graded.score:g}, not 1, for student '{student}' "
                            f"({graded.format_error or graded.feedback})")
        for i, wrong in enumerate(question.wrong_answers):
            try:
                raw = wrong_answer_raw(question, variant, wrong.answer)
            except ExprError as exc:
                problems.append(f"{where}: field 'wrong_answers[{i}].answer': {exc}")
                continue
            graded = grade_answer(question, variant, raw, key)
            if graded.format_error is not None:
                problems.append(f"{where}: field 'wrong_answers[{i}]': is a format error: {graded.format_error}")
            elif abs(graded.score - wrong.score) > SCORE_TOLERANCE:
                problems.append(f"{where}: field 'wrong_answers[{i}]': earns {graded.score:g}, declared "
                                f"{wrong.score:g}, for student '{student}' ({graded.feedback})")
        graded = grade_answer(question, variant, MALFORMED[question.type], key)
        if graded.format_error is None:
            problems.append(f"{where}: a malformed answer was not reported as a format error")
    return problems


def selftest_quiz(quiz: Quiz, students: Iterable[str] = SAMPLE_STUDENTS, salt: str | None = None,
                  outputs: Mapping[str, str] | None = None) -> list[str]:
    """Problems found in every question of ``quiz``."""
    students = list(students)
    return [line for q in quiz.questions for line in selftest_question(quiz, q, students, salt, outputs)]
