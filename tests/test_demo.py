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
