"""Answer files and per-type parsing: a malformed answer is a format error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grader.errors import UsageError
from grader.quiz.answers import FormatError, parse_answer, read_sheet
from grader.quiz.schema import load_quiz

QUIZ = load_quiz(Path(__file__).parent / "fixtures" / "quiz" / "basics.yaml")


def test_yaml_and_json_sheets(tmp_path):
    (tmp_path / "a.yaml").write_text("student: alice\nquiz: basics\nanswers:\n  optimizer: b\n", encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps({"student": "bob", "answers": {"optimizer": "a"}}), encoding="utf-8")
    a, b = read_sheet(tmp_path / "a.yaml"), read_sheet(tmp_path / "b.json")
    assert (a.student, a.quiz, a.answers, a.error) == ("alice", "basics", {"optimizer": "b"}, None)
    assert (b.student, b.quiz, b.answers) == ("bob", None, {"optimizer": "a"})


@pytest.mark.parametrize("name, text, message", [
    ("x.yaml", "answers: [", "not valid YAML"), ("x.json", "{", "not valid JSON"),
    ("x.yaml", "- 1", "must be a mapping"), ("x.yaml", "student: []\nanswers: {}", "field 'student'"),
])
def test_broken_sheets_are_recorded_not_raised(tmp_path, name, text, message):
    (tmp_path / name).write_text(text, encoding="utf-8")
    sheet = read_sheet(tmp_path / name)
    assert sheet.student == "x" and message in sheet.error


def test_binary_and_missing(tmp_path):
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00")
    assert "UTF-8" in read_sheet(tmp_path / "bin.yaml").error
    with pytest.raises(UsageError, match="no such answer file"):
        read_sheet(tmp_path / "nope.yaml")


@pytest.mark.parametrize("qid, raw, parsed", [
    ("ce-uniform", 2.5, 2.5), ("ce-uniform", "1/4", 0.25), ("ce-uniform", " 2.5e-3 ", 0.0025),
    ("ce-uniform", "-inf", -np.inf), ("optimizer", " B ", "b"), ("relu-facts", ["c", "a", "a"], ("a", "c")),
    ("relu-facts", "a, c", ("a", "c")), ("relu-facts", [], ()), ("ce-print", 2.3026, "2.3026"),
])
def test_parse_ok(qid, raw, parsed):
    assert parse_answer(QUIZ.question(qid), raw) == parsed


def test_parse_symbolic_and_matrix():
    assert parse_answer(QUIZ.question("grad-linear"), "2*x*(w*x - y)").names == {"x", "w", "y"}
    np.testing.assert_array_equal(parse_answer(QUIZ.question("softmax-vec"), "[0.1, 0.9]"), [0.1, 0.9])
    assert parse_answer(QUIZ.question("softmax-vec"), [[1, 2]]).shape == (1, 2)


@pytest.mark.parametrize("qid, raw, message", [
    ("ce-uniform", "two", "expected a number"), ("ce-uniform", True, "true/false"), ("ce-uniform", [1], "number"),
    ("ce-uniform", "log(2)", "unknown function"), ("optimizer", "z", "one of the choice keys"),
    ("optimizer", 1, "choice keys"), ("relu-facts", {"a": 1}, "list of choice keys"), ("relu-facts", ["q"], "keys"),
    ("grad-linear", "2x", "multiplication"), ("grad-linear", "exp(z)", "unknown name 'z'"),
    ("grad-linear", "__import__('os').system('x')", "only plain calls"), ("grad-linear", ["x"], "expression"),
    ("softmax-vec", [[1, 2], [3]], "rows of different lengths"), ("softmax-vec", ["a"], "numbers only"),
    ("softmax-vec", {"x": 1}, "nested list"), ("ce-print", {"a": 1}, "printed output"),
])
def test_parse_format_errors(qid, raw, message):
    with pytest.raises(FormatError, match=message):
        parse_answer(QUIZ.question(qid), raw)
