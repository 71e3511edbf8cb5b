"""Quizzes: YAML-authored, parameterized per student, auto-graded, exportable to Canvas and Moodle.

The data path reads one way: ``schema`` (load and validate) -> ``params`` and ``variant``
(a student's parameters and expected answers; ``build`` runs code_output snippets) ->
``answers`` (read and parse) -> ``scoring`` and ``grading`` -> ``report``; ``render`` and the
``export_*`` modules present a quiz, and ``selftest`` checks every question's answer key.
"""

from __future__ import annotations

from grader.quiz.grading import GradedAnswer, StudentResult, grade_answer, grade_sheet
from grader.quiz.model import Question, Quiz, QuizError
from grader.quiz.schema import load_quiz

__all__ = ["GradedAnswer", "Question", "Quiz", "QuizError", "StudentResult", "grade_answer", "grade_sheet",
           "load_quiz"]
