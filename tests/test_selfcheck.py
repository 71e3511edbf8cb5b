"""``grader.check``: the public tests from a notebook, as a table, never a traceback."""

from __future__ import annotations

import json
from dataclasses import replace
import subprocess
import sys

import pytest

import grader
from grader.notebooks import build_notebook, dumps
from grader import scoring
from grader.selfcheck import CheckReport, check, choose_files
from grader.stubgen import make_stub
from tests.conftest import HONEST_LOSSES, MINICOURSE
from tests.mutation import ROOT

PUBLIC = MINICOURSE / "assignments" / "public_tests"
BUGGY = HONEST_LOSSES.replace("sq.mean()", "sq.sum()")


def test_import_grader_stays_light():
    code = "import sys, grader; print(callable(grader.check), 'torch' in sys.modules, 'pytest' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == ["True", "False", "False"]


@pytest.mark.slow
def test_a_failing_notebook_is_a_table_row_not_an_exception(tmp_path, capsys):
    """The notebook, not the untouched stub beside it, is the file checked, and named first."""
    (tmp_path / "losses.py").write_text(make_stub(HONEST_LOSSES, "losses"), encoding="utf-8")
    notebook = build_notebook("losses", BUGGY, solutions=True, points=10.0)
    (tmp_path / "losses.ipynb").write_text(dumps(notebook), encoding="utf-8")
    report = grader.check("losses", path=tmp_path, tests=PUBLIC)
    printed = capsys.readouterr().out
    assert printed.startswith("running the public tests on losses.ipynb ...\nchecking losses.ipynb (saved ")
    assert "both losses.py and losses.ipynb are here: checking losses.ipynb" in printed
    assert isinstance(report, CheckReport) and not report.ok and not report.problem
    text = str(report)
    assert text in printed  # a plain Python process prints the report: nobody displays the value
    assert "0/1 public-test points" in text and "likely mistake" in text
    assert repr(report).startswith("<self-check: 0/1 public-test points") and report._repr_html_() is None
    page = replace(report, shown=False)._repr_html_()
    assert page.count("<table") == 1 and "\u2717 mse_loss" in page and "0/1" in page and "likely mistake" in page
    assert "checking losses.ipynb" in page


def test_choose_files_takes_the_file_grading_takes(tmp_path):
    stub = 'def f():\n    raise NotImplementedError("f")\n'
    done = "def f():\n    return 1\n"
    files = {"losses.py": stub, "losses.ipynb": _notebook(done),  # the notebook was worked on
             "dropout.py": done, "dropout.ipynb": _notebook(done),  # a tie: the .py
             "init.ipynb": _notebook(stub)}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    chosen, notes = choose_files(tmp_path, ("losses", "dropout", "init", "autodiff"))
    assert {t: p.name for t, p in chosen.items()} == {
        "losses": "losses.ipynb", "dropout": "dropout.py", "init": "init.ipynb"}
    assert len(notes) == 2 and "checking losses.ipynb" in notes[0] and "checking dropout.py" in notes[1]


def _notebook(code: str) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "source": code, "outputs": []}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@pytest.mark.parametrize(
    "args,kwargs,words",
    [
        (("losses",), {}, "nothing to check: no losses.py / losses.ipynb in"),
        (("nope",), {}, "unknown topic 'nope'"),
        (("losses",), {"path": "missing-folder"}, "missing-folder: no such folder"),
        (("losses",), {"tests": "no-tests-here"}, "no public tests here"),
    ],
)
def test_nothing_to_check_is_one_line(tmp_path, monkeypatch, capsys, args, kwargs, words):
    monkeypatch.chdir(tmp_path)
    if "tests" in kwargs:
        (tmp_path / "losses.py").write_text(HONEST_LOSSES, encoding="utf-8")
    report = check(*args, **kwargs)
    assert words in report.problem and "\n" not in report.problem
    assert str(report).endswith(report.problem) and not report.ok and report.results == ()
    assert "<b>" in replace(report, shown=False)._repr_html_() and "Traceback" not in capsys.readouterr().out


def test_the_html_table_escapes_and_sums_cases():
    cases = (
        scoring.TestResult("losses::mse_loss[0]", 0.5, 0.5, "passed"),
        scoring.TestResult("losses::mse_loss[1]", 0.0, 0.5, "failed", "got <tensor> & more", "use .mean()"),
        scoring.TestResult("losses::l1_loss[0]", 1.0, 1.0, "passed"),
    )
    topics = {
        "losses": scoring.TopicResult("losses", 1.5, 2.0, "graded", cases),
        "dropout": scoring.TopicResult("dropout", 0.0, 3.0, "missing", ()),
    }
    result = scoring.SubmissionResult("me", "", 1.5, 5.0, topics, ("odd <flag>",))
    report = CheckReport(("checking losses.ipynb <now>",), (result,))
    page = report._repr_html_()
    assert "<now>" not in page and "&lt;now&gt;" in page
    assert "<code>[1]</code> (0/0.5): got &lt;tensor&gt; &amp; more<br><em>likely mistake:</em> use .mean()" in page
    assert "<td>\u2717 mse_loss</td><td>0.5/1</td>" in page and "<td>\u2713 l1_loss</td><td>1/1</td>" in page
    assert "<th>losses</th><th>1.5/2</th>" in page and "<th>dropout</th><th>0/3</th><th>dropout.py or dropout.ipynb was not found" in page
    assert "odd &lt;flag&gt;" in page and "1.5/5 public-test points" in page
    text = str(report)
    assert "checking losses.ipynb <now>" in text and "me: 1.5/5 public-test points" in text
    assert "dropout.py or dropout.ipynb was not found" in text


def test_the_notebook_cell_calls_the_check(tmp_path):
    notebook = json.loads((ROOT / "assignments" / "dropout.ipynb").read_text(encoding="utf-8"))
    cell = notebook["cells"][-1]
    assert cell["metadata"]["grader"]["role"] == "check"
    assert 'grader.check("dropout")' in cell["source"] and 'if __name__ == "__main__":' in cell["source"]


def test_inside_nbgrader_a_failing_check_fails_the_cell(tmp_path, monkeypatch):
    """nbgrader's Validate button and autograde cell score follow the public tests."""
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    with pytest.raises(AssertionError, match="nothing to check"):
        check("losses", path=tmp_path)
    monkeypatch.setenv("GRADER_SELF_CHECK", "off")
    assert "skipped" in check("losses", path=tmp_path).problem


def test_the_text_report_escapes_what_student_code_wrote():
    esc = "\x1b"
    message = f"raised Bad{esc}[31mError: {esc}]52;c;eA==\x07\r\nALL PUBLIC TESTS PASSED"
    cases = (
        scoring.TestResult("losses::mse_loss[0]", 0.0, 1.0, "error", message, f"hint{esc}[0m"),
        scoring.TestResult("losses::l1_loss[0]", 1.0, 1.0, "passed", notes=(f"note{esc}[2K\rok",)),
    )
    topics = {"losses": scoring.TopicResult("losses", 1.0, 2.0, "graded", cases)}
    result = scoring.SubmissionResult(f"me{esc}[1m", "", 1.0, 2.0, topics, ("flag\x9b2J",))
    text = str(CheckReport((f"checking losses.py{esc}[2J",), (result,)))
    assert esc not in text and "\r" not in text and "\x07" not in text and "\x9b" not in text
    assert not any(line.startswith("ALL PUBLIC") for line in text.splitlines())
    assert "Bad\\x1b[31mError: \\x1b]52;c;eA==\\x07\\r\\nALL PUBLIC TESTS PASSED" in text
    assert "checking losses.py\\x1b[2J" in text and "me\\x1b[1m: 1/2" in text
    assert "         note: note\\x1b[2K\\rok" in text and "flag: flag\\x9b2J" in text
    problem = str(CheckReport((), problem=f"{esc}[2J/tmp/x\nforged: no such folder"))
    assert problem == "\\x1b[2J/tmp/x\\nforged: no such folder"
