"""Grading sheets: records carry params and expected answers; format errors are not wrong answers."""

from __future__ import annotations

import json
from pathlib import Path

from grader.quiz.answers import AnswerSheet
from grader.quiz.build import build
from grader.quiz.grading import grade_answer, grade_sheet
from grader.quiz.schema import load_quiz
from grader.quiz.variant import Variant, make_variant

QUIZ = load_quiz(Path(__file__).parent / "fixtures" / "quiz" / "basics.yaml")
OUTPUTS = {"import math\nprint(round(math.log(10), 4))\n": "2.3026\n"}  # what build() prints


def sheet(answers, student="alice", quiz="basics", error=None):
    return AnswerSheet(Path("alice.yaml"), student, quiz, answers, error)


def test_answer_key_earns_everything():
    answers = {}
    for q in QUIZ.questions:
        answers[q.id] = make_variant(QUIZ, q, "alice", QUIZ.seed_salt, OUTPUTS).expected
    result = grade_sheet(QUIZ, sheet(answers), QUIZ.seed_salt, OUTPUTS)
    assert result.earned == result.max_points == 8
    assert all(a.format_error is None for a in result.answers)


def test_records_keep_params_expected_given_parsed():
    result = grade_sheet(QUIZ, sheet({"ce-uniform": "1/3", "optimizer": "zz"}), QUIZ.seed_salt, OUTPUTS)
    ce = result.answers[0]
    assert set(ce.params) == {"C"} and abs(ce.expected - __import__("math").log(ce.params["C"])) < 1e-12
    assert (ce.given, ce.parsed, ce.score, ce.format_error) == ("1/3", 1 / 3, 0.0, None)
    mc = result.answers[2]
    assert mc.format_error and "choice keys" in mc.format_error and mc.score == 0
    missing = result.answers[3]
    assert missing.feedback == "no answer" and missing.format_error is None
    json.dumps(result.to_dict())  # JSON-ready


def test_regrade_uses_the_stored_variant():
    q = QUIZ.question("ce-uniform")
    stored = Variant({"C": 10}, 2.302585092994046)
    assert grade_answer(q, stored, 2.3026).score == 1
    # a different stored expected value wins over anything re-derivable
    assert grade_answer(q, Variant({"C": 10}, 5.0), 2.3026).score == 0


def test_file_errors_and_quiz_mismatch():
    broken = grade_sheet(QUIZ, sheet({}, error="alice.yaml: not valid YAML"), QUIZ.seed_salt, OUTPUTS)
    assert broken.earned == 0 and all(a.format_error == "alice.yaml: not valid YAML" for a in broken.answers)
    other = grade_sheet(QUIZ, sheet({"optimizer": "b"}, quiz="losses"), QUIZ.seed_salt, OUTPUTS)
    assert "for quiz 'losses', not 'basics'" in other.error and other.earned == 0


def test_unknown_question_ids_are_reported():
    result = grade_sheet(QUIZ, sheet({"nope": 1, "optimizer": "b"}), QUIZ.seed_salt, OUTPUTS)
    assert result.unknown == ("nope",) and result.earned == 1


def test_hostile_symbolic_answer_is_a_format_error():
    q = QUIZ.question("grad-linear")
    v = make_variant(QUIZ, q, "alice", QUIZ.seed_salt)
    for raw in ["10**10**10**10*x", "x" + "+x" * 140, "zeros(10**8) + x"]:
        graded = grade_answer(q, v, raw, "k")
        assert graded.score == 0
    assert grade_answer(q, v, "zeros(10**8) + x", "k").format_error


def test_build_runs_the_snippet():
    assert build(QUIZ, ["alice"], QUIZ.seed_salt) == OUTPUTS
