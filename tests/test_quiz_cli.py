"""The ``quiz`` click group, driven through CliRunner."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.quiz.cli import quiz

FIXTURE = Path(__file__).parent / "fixtures" / "quiz" / "basics.yaml"


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_QUIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str):
        return CliRunner().invoke(quiz, [str(a) for a in args])

    return invoke


def test_validate_ok_and_broken(run, tmp_path):
    result = run("validate", FIXTURE)
    assert result.exit_code == 0 and "ok" in result.output and "7 questions" in result.output
    broken = tmp_path / "broken.yaml"
    broken.write_text(FIXTURE.read_text().replace("rtol: 1.0e-3, atol", "rtol: -1, atol", 1), encoding="utf-8")
    result = run("validate", FIXTURE, broken)
    assert result.exit_code == 2
    assert "broken.yaml: question 'ce-uniform': field 'tolerance.rtol': must be a number >= 0" in result.output
    assert result.output.strip().splitlines()[-1] == "Error: 1 problem(s) in 2 quiz file(s)"


def test_validate_reports_a_failing_selftest(run, tmp_path):
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(FIXTURE.read_text().replace('- {answer: "log2(C)"}', '- {answer: "log(C)"}'), encoding="utf-8")
    result = run("validate", wrong)
    assert result.exit_code == 2 and "field 'wrong_answers[1]': earns 1, declared 0" in result.output


@pytest.mark.parametrize("fmt", ["md", "html", "ipynb"])
def test_render(run, fmt, tmp_path):
    result = run("render", FIXTURE, "--student", "alice", "--format", fmt)
    assert result.exit_code == 0 and "ce-uniform" in result.output
    assert run("render", FIXTURE, "--student", "alice", "-o", tmp_path / "q.md").exit_code == 0


def test_grade_writes_json_and_csv(run, tmp_path):
    (tmp_path / "alice.yaml").write_text("student: alice\nanswers:\n  optimizer: b\n  ce-uniform: x\n")
    (tmp_path / "bob.json").write_text("{not json")
    result = run("grade", FIXTURE, tmp_path / "alice.yaml", tmp_path / "bob.json",
                 "--json", tmp_path / "out.json", "--csv", tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    assert "format error:" in result.output and "bob.json: not valid JSON" in result.output
    records = json.loads((tmp_path / "out.json").read_text())["students"]
    alice = records[0]
    assert alice["student"] == "alice" and alice["earned"] == 1
    ce = alice["answers"][0]
    assert {"params", "expected", "given", "score", "feedback", "format_error"} <= set(ce)
    assert ce["format_error"] and ce["given"] == "x"
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert rows[0]["optimizer"] == "1" and rows[0]["total"] == "1" and rows[1]["format_errors"] == "7"


def test_usage_errors_exit_2_with_one_line(run, tmp_path):
    result = run("grade", FIXTURE, tmp_path / "missing.yaml")
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0 and "no such answer file" in result.output
    result = run("render", tmp_path / "nope.yaml", "--student", "a")
    assert result.exit_code == 2 and "cannot read" in result.output
    assert run("export", FIXTURE, "--format", "pdf").exit_code == 2


@pytest.mark.parametrize("fmt, name", [("qti", "basics.qti.zip"), ("gift", "basics.gift.txt")])
def test_export(run, tmp_path, fmt, name):
    result = run("export", FIXTURE, "--format", fmt, "--variants", "2")
    assert result.exit_code == 0 and (tmp_path / name).is_file()
    assert "grad-linear': symbolic questions cannot be carried" in result.output
    assert run("export", FIXTURE, "--format", fmt, "--strict").exit_code == 2


def test_salt_option_changes_variants(run):
    a = run("render", FIXTURE, "--student", "alice").output
    b = run("render", FIXTURE, "--student", "alice", "--salt", "other-term").output
    assert a != b


def test_student_ids_from_answer_files_are_encoded_for_csv_and_terminal(run, tmp_path):
    esc = "\x1b"
    (tmp_path / "=1+2.yaml").write_text("answers:\n  optimizer: b\n")  # the id is the file's name
    (tmp_path / "x.yaml").write_text(f'student: "@eve{esc}[2J\\r\\nALL CORRECT"\nanswers:\n  optimizer: b\n'.replace(
        esc, "\\e"))
    broken = tmp_path / f"b{esc}]52;c;eA==\x07.json"
    broken.write_text("{not json")
    result = run("grade", FIXTURE, tmp_path / "=1+2.yaml", tmp_path / "x.yaml", broken,
                 "--csv", tmp_path / "out.csv", "--json", tmp_path / "out.json")
    assert result.exit_code == 0, result.output
    assert esc not in result.output and "\r" not in result.output and "\x07" not in result.output
    lines = result.output.splitlines()
    assert not any(line.startswith("ALL CORRECT") for line in lines)
    assert any(line.startswith("@eve\\x1b[2J\\r\\nALL CORRECT") for line in lines)
    assert any("format error:" in line and "b\\x1b]52;c;eA==\\x07.json: not valid JSON" in line for line in lines)
    rows = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8", newline="")))
    assert [r["student"] for r in rows] == ["'=1+2", f"'@eve{esc}[2J\r\nALL CORRECT", f"b{esc}]52;c;eA==\x07"]
    assert rows[0]["optimizer"] == "1" and rows[1]["total"] == "1"
    students = [s["student"] for s in json.loads((tmp_path / "out.json").read_text())["students"]]
    assert students == ["=1+2", f"@eve{esc}[2J\r\nALL CORRECT", f"b{esc}]52;c;eA==\x07"]  # the id itself is kept
