"""The shipped quizzes: every question is its own test item (``losses::ce-uniform``), and
every quiz validates and exports to QTI, Moodle XML and GIFT that parse back."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.quiz.build import quiz_snippets, run_snippets
from grader.quiz.export import variant_students
from grader.quiz.model import QuizError
from grader.quiz.schema import load_quiz
from grader.quiz.selftest import SAMPLE_STUDENTS, selftest_question
from tests.test_quiz_export import check_round_trip

QUIZ_DIR = Path(__file__).resolve().parent.parent / "quizzes"
QUIZ_FILES = sorted(QUIZ_DIR.glob("*.yaml"))


def _load_all() -> dict[Path, object]:
    loaded = {}
    for path in QUIZ_FILES:
        try:
            loaded[path] = load_quiz(path)
        except QuizError as exc:
            loaded[path] = exc
    return loaded


LOADED = _load_all()
QUESTIONS = [(path, q.id) for path, quiz in LOADED.items() if not isinstance(quiz, QuizError)
             for q in quiz.questions]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("quiz-content-build")


VARIANTS = 3


@pytest.fixture(scope="module")
def outputs(cache) -> dict[str, str]:
    """Every code_output snippet of every quiz, for the self-test students and the export
    variants, built in one child process (torch is imported once); exports then hit the cache."""
    snippets = []
    for quiz in LOADED.values():
        if not isinstance(quiz, QuizError):
            students = [*SAMPLE_STUDENTS, *variant_students(quiz, VARIANTS, quiz.salt())]
            snippets += quiz_snippets(quiz, students, quiz.salt())
    return run_snippets(snippets, cache)


def test_there_are_quizzes():
    assert QUIZ_FILES, "no quizzes/*.yaml"


@pytest.mark.parametrize("path", QUIZ_FILES, ids=[p.stem for p in QUIZ_FILES])
def test_quiz_validates(path):
    result = LOADED[path]
    if isinstance(result, QuizError):
        pytest.fail("\n".join(result.issues))


@pytest.mark.parametrize("path, qid", QUESTIONS, ids=[f"{p.stem}::{qid}" for p, qid in QUESTIONS])
def test_question_selftest(path, qid, outputs):
    quiz = LOADED[path]
    problems = selftest_question(quiz, quiz.question(qid), SAMPLE_STUDENTS, None, outputs)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("fmt", ["qti", "moodle-xml", "gift"])
@pytest.mark.parametrize("path", QUIZ_FILES, ids=[p.stem for p in QUIZ_FILES])
def test_export_parses_back(path, fmt, tmp_path, cache, outputs):
    quiz = LOADED[path]
    if isinstance(quiz, QuizError):
        pytest.skip("does not validate")
    report = check_round_trip(quiz, fmt, tmp_path, variants=VARIANTS, cache=cache)
    assert report.exported + len(report.skipped) == len(quiz.questions)
