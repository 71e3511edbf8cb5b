"""What a student reads: the summary first, untouched functions in one line, a broken file
once, a few cases per failing test, and every student string encoded for its page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from grader import feedback
from grader.reports import gradescope_document, write_feedback_files
from grader.scoring import Outcome, score_test, submission_result, topic_result
from grader.svgplot import capstone_svg, line_chart

STUB_HINT = "this function is still the stub: replace the raise NotImplementedError line"


def _stub(test_id: str, callee: str, qualname: str | None, points: float = 1.0):
    text = f": optimizers.{qualname}: not implemented yet" if qualname else ""
    return score_test(test_id, Outcome("error", 0.0, f"{callee} (via run_optimizer) raised NotImplementedError{text}",
                                       STUB_HINT), points)


def _ok(test_id: str, points: float = 1.0):
    return score_test(test_id, Outcome("passed", 1.0), points)


def _bad(test_id: str, message: str = "off by 0.5", hint: str | None = "halve it", points: float = 1.0):
    return score_test(test_id, Outcome("failed", 0.0, message, hint), points)


def _optimizers():
    """SGD done, Adam half done (a wrong formula), Adagrad and RMSprop untouched."""
    tests = [
        _ok("optimizers::sgd_plain[a]"), _ok("optimizers::sgd_plain[b]"),
        *[_bad(f"optimizers::adam_basic[{i}]") for i in range(7)],
        _stub("optimizers::adagrad_basic[a]", "Adagrad", "Adagrad.step"),
        _stub("optimizers::adagrad_basic[b]", "Adagrad", "Adagrad.step"),
        _stub("optimizers::rmsprop_basic[a]", "RMSprop", "RMSprop.step", 2.0),
        # a test over every optimizer: SGD's case passes, the others wait for their step
        _ok("optimizers::state_per_parameter[SGD]"),
        _stub("optimizers::state_per_parameter[Adagrad]", "Adagrad", None),
        _stub("optimizers::state_per_parameter[RMSprop]", "RMSprop", "RMSprop.step"),
    ]
    return topic_result("optimizers", tests)


def _broken(name="losses", message="losses.py has a syntax error at line 3: invalid syntax", cases=40):
    return topic_result(name, [score_test(f"{name}::t{i}[x]", Outcome("error", 0.0, message), 1.0)
                               for i in range(cases)], "error")


def _submission(sid="ann", flags=()):
    return submission_result(sid, "/subs/ann", {"optimizers": _optimizers(), "losses": _broken()}, list(flags), {})


def test_functions_not_started_are_one_line_and_their_points():
    s = feedback.summarize_topic(_optimizers())
    assert s.not_started == ("Adagrad.step", "RMSprop.step")  # the bare callee name folds into its method
    assert s.not_started_points == 4.0  # adagrad_basic 2 + rmsprop_basic 2; the mixed test keeps its row
    assert [t.name for t in s.tests] == ["sgd_plain", "adam_basic", "state_per_parameter"]
    mixed = s.tests[2]
    assert not mixed.passed and mixed.stubbed == 2 and mixed.failing == () and mixed.score == 1.0


def test_a_file_problem_is_reported_once_per_topic():
    s = feedback.summarize_topic(_broken())
    assert s.problem.startswith("losses.py has a syntax error") and s.tests == () and not s.not_started
    text = feedback.render_text(_submission())
    assert text.count("syntax error") == 1
    doc = gradescope_document(_submission())
    broken = [t for t in doc["tests"] if t["name"].startswith("losses")]
    assert len(broken) == 1 and broken[0]["max_score"] == 40 and broken[0]["name"] == "losses: cannot be graded"
    # different messages are not one problem: a salvaged topic lists its tests
    mixed = topic_result("losses", [score_test("losses::a[x]", Outcome("error", 0.0, "one"), 1.0),
                                    score_test("losses::b[x]", Outcome("error", 0.0, "two"), 1.0)], "error")
    assert feedback.summarize_topic(mixed).problem == ""


def test_a_failing_test_shows_its_first_cases_and_counts_the_rest():
    text = feedback.render_text(_submission())
    lines = text.splitlines()
    assert lines[0] == "ann: 3/56"
    at = lines.index("  \u2717 adam_basic (0/7): 7 of 7 cases fail")
    shown = lines[at + 1:at + 6]
    assert [shown[i].split()[:2] for i in (0, 2, 3)] == [["FAIL", "[0]"], ["FAIL", "[1]"], ["FAIL", "[2]"]]
    assert shown[1] == "         likely mistake: halve it"  # said once for a run of the same hint
    assert shown[4] == "    ... and 4 more like it"
    assert sum("likely mistake" in line for line in lines) == 1
    assert "      not started (0/4): Adagrad.step, RMSprop.step" in lines
    assert "state_per_parameter (" not in text  # only stubs failed it: the not-started line says why
    assert STUB_HINT not in text  # no row per stub case


def test_the_summary_of_several_topics_lists_what_lost_points():
    lines = feedback.summary_text(feedback.summarize(_submission()))
    assert lines[0].split() == ["optimizers", "3/16"]
    assert "\u2717 adam_basic 0/7" in lines[1] and "\u2713 1 other test passes" in lines[1]
    assert "sgd_plain" not in "\n".join(lines)  # a passing test is counted, not listed
    full = feedback.summary_text(feedback.summarize(_submission()), full=True)
    assert "\u2713 sgd_plain 2/2" in "\n".join(full)


def test_untouched_and_finished_topics_take_one_line():
    untouched = topic_result("dropout", [
        score_test("dropout::a[x]", Outcome("error", 0.0, "dropout raised NotImplementedError: dropout.dropout: "
                                                          "not implemented yet"), 2.0),
        score_test("dropout::b[x]", Outcome("failed", 0.0, "dropout raised NotImplementedError but should raise "
                                                           "ValueError"), 1.0)])
    done = topic_result("init", [_ok("init::a[x]"), _ok("init::b[x]")])
    r = submission_result("s", "/s", {"dropout": untouched, "init": done}, [], {})
    lines = feedback.render_text(r).splitlines()
    assert lines[1].split() == ["dropout", "0/3", "not", "started", "(0/3):", "dropout"]
    assert lines[2].split() == ["init", "2/2", "\u2713", "all", "2", "tests", "pass"]
    assert len(lines) == 3


@pytest.mark.parametrize("message, topic, name", [
    ("SGD (via run_optimizer) raised NotImplementedError: optimizers.SGD.step: not implemented yet (x.py:3)",
     "optimizers", "SGD.step"),
    ("the capstone pipeline failed: kaiming_uniform_ raised NotImplementedError: init.kaiming_uniform_: not "
     "implemented yet", "training", "init.kaiming_uniform_"),
    ("forward_grad(f, xs) raised NotImplementedError", "autodiff", "forward_grad"),
    ("EarlyStopping (via run_early_stopping) raised NotImplementedError but should raise ValueError", "training",
     "EarlyStopping"),
])
def test_the_function_a_stub_failure_names(message, topic, name):
    assert feedback.stub_function(message, topic) == name


ESC = "\x1b"
HOSTILE = f"<script>alert(1)</script> **bold** [x](http://evil) {ESC}[2J\r\n| forged | row |"


def _hostile():
    bad = score_test("losses::mse_loss[<b>cpu</b>]", Outcome("failed", 0.0, HOSTILE, f"hint <img src=x> {ESC}]8;;"),
                     1.0)
    noted = score_test("losses::l1_loss[cpu]", Outcome("passed", 1.0, notes=(f"note <i>{ESC}[1m",)), 1.0)
    return submission_result(f"<b>eve</b>{ESC}[31m", "/s", {"losses": topic_result("losses", [bad, noted])},
                             [f"flag <script>{ESC}[0m"], {})


def test_html_pages_escape_student_text_and_need_no_network(tmp_path):
    r = _hostile()
    page = feedback.html_page(r)
    for raw in ("<script>", "<b>eve", "<img", "<i>", "<b>cpu", ESC):
        assert raw not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;eve&lt;/b&gt;" in page
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", page)  # nothing fetched
    assert not re.search(r"<(script|link|iframe|img)\b", page)
    ET.fromstring(re.search(r"<svg.*?</svg>", capstone_svg({"train_loss": [1.0]}), re.S).group(0))


def test_markdown_escapes_student_text():
    text = feedback.render_markdown(_hostile())
    assert ESC not in text and "\r" not in text
    assert "<script>" not in text and "**bold**" not in text and "[x](http://evil)" not in text
    assert "\\<script\\>" in text and "\\*\\*bold\\*\\*" in text
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert all(line.count("|") - line.count("\\|") == rows[0].count("|") for line in rows[:3])


def test_feedback_files_are_named_safely_and_carry_the_curves(tmp_path):
    curves = {"train_loss": [2.0, 1.0, float("nan")], "reference_train_loss": [2.0, 0.9, 0.5],
              "test_accuracy": [0.5, 0.8, 0.1], "reference_test_accuracy": [0.6, 0.9, 0.95]}
    capstone = score_test("training::capstone_digits", Outcome("partial", 0.5, "accuracy 0.1", curves=curves), 20.0)
    ids = ["../escape", "a/b", "ann"]
    results = [submission_result(i, "/s", {"training": topic_result("training", [capstone])}, [], {}) for i in ids]
    written = write_feedback_files(tmp_path / "fb", results)
    assert len(written) == 6 and all(p.resolve().is_relative_to((tmp_path / "fb").resolve()) for p in written)
    assert sorted(p.suffix for p in written) == [".html"] * 3 + [".md"] * 3
    page = (tmp_path / "fb" / "ann.html").read_text(encoding="utf-8")
    svg = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svg) == 2 and all(ET.fromstring(s).tag.endswith("svg") for s in svg)
    assert "not finite" in page  # the diverged epoch is said, and breaks the line
    assert svg[0].count("<polyline") == 2  # yours (two finite epochs) and the reference's
    md = (tmp_path / "fb" / "ann.md").read_text(encoding="utf-8")
    assert "| 3 | diverged | 0.5 | 0.1 | 0.95 |" in md


def test_line_chart_without_values_says_so():
    assert "no values" in line_chart("loss", {"yours": []})
    chart = line_chart("acc", {"yours": [0.5, 0.5]})
    assert "<polyline" in chart and "nan" not in chart
