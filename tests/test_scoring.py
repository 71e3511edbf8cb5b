from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grader.scoring import Outcome, penalty_test, score_test, submission_result, topic_result


def test_credit_scales_points_and_sets_status():
    assert score_test("t", Outcome("passed", 1.0), 2.0).score == 2.0
    partial = score_test("t", Outcome("partial", 0.5, "near"), 2.0)
    assert partial.score == 1.0 and partial.status == "partial"
    assert score_test("t", Outcome("timeout", 0.0), 3.0).status == "timeout"


def test_penalty_never_takes_more_than_was_earned():
    assert penalty_test("losses", 3.0, 5.0, ["x"]).score == -3.0
    assert penalty_test("losses", 10.0, 5.0, ["x"]).score == -5.0
    assert penalty_test("losses", 0.0, 5.0, ["x"]).score == 0.0
    assert penalty_test("losses", 1.0, 5.0, ["x"]).max_score == 0.0


def test_topic_and_submission_totals():
    tests = [score_test("a", Outcome("passed", 1.0), 1.5), score_test("b", Outcome("failed"), 2.5)]
    topic = topic_result("losses", tests)
    assert (topic.score, topic.max_score, topic.status) == (1.5, 4.0, "graded")
    missing = topic_result("gradients", [score_test("c", Outcome("missing"), 2.0)])
    assert missing.status == "missing"
    sub = submission_result("s", "p", {"losses": topic, "gradients": missing}, [], {})
    assert (sub.score, sub.max_score) == (1.5, 6.0)


@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 10)), max_size=30), st.floats(0, 20))
def test_scores_stay_within_bounds(cases, penalty):
    tests = [score_test(str(i), Outcome("partial", c), p) for i, (c, p) in enumerate(cases)]
    earned = sum(t.score for t in tests)
    if penalty:
        tests.append(penalty_test("losses", earned, penalty, ["x"]))
    topic = topic_result("losses", tests)
    assert 0.0 <= topic.score <= topic.max_score + 1e-6
    assert topic.max_score == pytest.approx(sum(p for _, p in cases), abs=1e-5)
