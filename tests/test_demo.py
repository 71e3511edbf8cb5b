"""The bundled class grades as the README says: full marks, named mistakes, zero."""

from __future__ import annotations

import pytest

from grader.course import Course
from grader.engine import grade
from grader.submission import find_submissions
from tests.mutation import ROOT

pytestmark = pytest.mark.slow


def test_demo_class():
    subs = find_submissions([ROOT / "examples" / "class" / name for name in ("alice", "bob", "carol")])
    alice, bob, carol = grade(Course(ROOT).hidden(device="cpu"), subs, jobs=2)
    assert alice.score == alice.max_score == 1020 and not alice.flags
    assert carol.score == 0
    assert all(0 < t.score < t.max_score for t in bob.topics.values())
    hints = {t.hint for topic in bob.topics.values() for t in topic.tests if t.hint}
    for words in ("subtract the row max", "SmoothL1", "wrong sign", "one-sided difference", "bias correction",
                  "lr_min"):
        assert any(words in h for h in hints), words
    _feedback_reads_to_the_end(alice, bob, carol)
    unreadable = [t.id for topic in alice.topics.values() for t in topic.tests if not _readable(t.id)]
    assert unreadable == []


def _feedback_reads_to_the_end(alice, bob, carol):
    """The longest page of the class (bob's) opens with a summary that fits a screen;
    an untouched submission (carol) is one line per topic; a finished one too."""
    from grader.feedback import render_text, summarize, summary_text
    from grader.nbgrader_bridge import feedback_html

    summary = summary_text(summarize(bob))
    assert len(summary) <= 40 and max(len(line) for line in summary) <= 100
    text = render_text(bob)
    assert text.splitlines()[1:len(summary) + 1] == summary  # the summary comes first
    for r in (alice, carol):
        lines = render_text(r).splitlines()
        assert len(lines) == 1 + len(r.topics), lines
    assert all("not started" in line for line in render_text(carol).splitlines()[1:])
    page = feedback_html(carol, "optimizers")
    assert page.count("<tr") <= 4 and "SGD.step" in page and "Adam.step" in page  # was a row per case


def _readable(test_id: str) -> bool:
    """Printable ASCII, no spaces, no backslash or quote: what a student can read and type."""
    import re

    return bool(re.fullmatch(r"[\x21-\x7e]+", test_id)) and not re.search(r"[\\'\"`]", test_id)


def test_the_readability_rule_can_fail():
    assert _readable("optimizers::schedule_bad_arguments[step_decay-bad_t]")
    assert not _readable("optimizers::schedule_bad_arguments[step_decay-t\\]")
    assert not _readable("losses::x[a b]")
