"""Loading and validating quiz files: every problem named by file, question and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from grader.errors import UsageError
from grader.quiz.model import QuizError
from grader.quiz.schema import load_quiz

FIXTURE = Path(__file__).parent / "fixtures" / "quiz" / "basics.yaml"


def write_quiz(tmp_path: Path, question: dict, **top) -> Path:
    data = {"schema": "nnquiz/1", "id": "demo", "title": "Demo", "questions": [question], **top}
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


NUMERIC = {"id": "q1", "type": "numeric", "prompt": "What is {{C}}?", "params": {"C": {"randint": [1, 3]}},
           "answer": "C"}


def issues_for(tmp_path: Path, question: dict, **top) -> list[str]:
    with pytest.raises(QuizError) as info:
        load_quiz(write_quiz(tmp_path, question, **top))
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2
    return info.value.issues


def test_fixture_loads_into_frozen_dataclasses():
    quiz = load_quiz(FIXTURE)
    assert quiz.id == "basics" and len(quiz.questions) == 7 and quiz.max_points == 8
    q = quiz.question("optimizer")
    assert q.keys == ("a", "b", "c") and q.correct_keys == ("b",)
    assert quiz.question("lr-sigfigs").tolerance.sigfigs == 3
    with pytest.raises(AttributeError):
        quiz.id = "other"


@pytest.mark.parametrize("change, expected", [
    ({"tolerance": {"rtol": -1}}, "demo.yaml: question 'q1': field 'tolerance.rtol': must be a number >= 0"),
    ({"tolerance": {"sigfigs": 3, "rtol": 0.1}}, "field 'tolerance': give either sigfigs"),
    ({"answer": "D + 1"}, "field 'answer': unknown name 'D'"),
    ({"answer": "__import__('os')"}, "field 'answer': unknown function"),
    ({"prompt": "What is {{D}}?"}, "field 'prompt': placeholder {{D}} names no parameter"),
    ({"points": 0}, "field 'points': must be a number > 0"),
    ({"type": "essay"}, "field 'type': must be one of"),
    ({"tolerence": {}}, "field 'tolerence': unknown field"),
    ({"params": {"C": {"randint": [3, 1]}}}, "field 'params.C.randint': must be [lo, hi]"),
    ({"params": {"C": {"uniform": [1, 1]}}}, "field 'params.C.uniform'"),
    ({"params": {"log": {"choice": [1]}}}, "field 'params.log': must be an identifier"),
    ({"params": {"C": {"randint": [1, 3]}, "D": {"derived": "E * 2"}}}, "field 'params.D.derived': unknown name 'E'"),
    ({"wrong_answers": [{"answer": "C", "score": 2}]}, "field 'wrong_answers[0].score'"),
    ({"id": "Bad Id"}, "field 'id': must match"),
])
def test_numeric_field_errors(tmp_path, change, expected):
    issues = issues_for(tmp_path, {**NUMERIC, **change})
    assert any(expected in line for line in issues), issues


def test_choice_errors(tmp_path):
    mc = {"id": "mc", "type": "multiple_choice", "prompt": "?",
          "choices": [{"text": "a", "correct": True}, {"text": "b", "correct": True}],
          "wrong_answers": [{"answer": "z"}]}
    issues = issues_for(tmp_path, mc)
    assert any("field 'choices': exactly one choice must be correct" in i for i in issues)
    assert any("field 'wrong_answers[0].answer': must be one of the choice keys" in i for i in issues)
    ms = {"id": "ms", "type": "multi_select", "prompt": "?", "scoring": "off",
          "choices": [{"text": "a", "correct": True}, {"text": "b"}]}
    assert any("field 'scoring'" in i for i in issues_for(tmp_path, ms))


def test_symbolic_and_matrix_and_code_errors(tmp_path):
    sym = {"id": "s", "type": "symbolic", "prompt": "?", "variables": {"x": [2, 1]}, "answer": "x",
           "functions": ["exp", "eval"]}
    issues = issues_for(tmp_path, sym)
    assert any("field 'variables.x': must be [lo, hi]" in i for i in issues)
    assert any("field 'functions': unknown function 'eval'" in i for i in issues)
    mat = {"id": "m", "type": "matrix", "prompt": "?", "answer": "[1, 2]", "shape": [0]}
    assert any("field 'shape'" in i for i in issues_for(tmp_path, mat))
    code = {"id": "c", "type": "code_output", "prompt": "?", "match": {"mode": "fuzzy"}}
    issues = issues_for(tmp_path, code)
    assert any("field 'code': required" in i for i in issues)
    assert any("field 'match.mode'" in i for i in issues)


def test_quiz_level_errors(tmp_path):
    issues = issues_for(tmp_path, NUMERIC, schema="nnquiz/2", defaults={"points": -1})
    assert any("demo.yaml: field 'schema'" in i for i in issues)
    assert any("field 'defaults.points'" in i for i in issues)
    dup = write_quiz(tmp_path, NUMERIC)
    data = yaml.safe_load(dup.read_text())
    data["questions"].append(NUMERIC)
    dup.write_text(yaml.safe_dump(data))
    with pytest.raises(QuizError, match="question 'q1': field 'id': duplicate"):
        load_quiz(dup)


def test_unreadable_files(tmp_path):
    with pytest.raises(QuizError, match="cannot read"):
        load_quiz(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("questions: [", encoding="utf-8")
    with pytest.raises(QuizError, match="bad.yaml: not valid YAML"):
        load_quiz(bad)
    bad.write_text("- 1\n", encoding="utf-8")
    with pytest.raises(QuizError, match="must be a mapping"):
        load_quiz(bad)


def test_all_problems_are_collected(tmp_path):
    issues = issues_for(tmp_path, {**NUMERIC, "points": -1, "tolerance": {"atol": "x"}})
    assert len(issues) == 2


def test_defaults_points(tmp_path):
    quiz = load_quiz(write_quiz(tmp_path, NUMERIC, defaults={"points": 3}))
    assert quiz.questions[0].points == 3
