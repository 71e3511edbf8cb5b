"""Property tests for scoring: whatever outcomes a run produces, scores stay between 0
and the maximum, add up, never become NaN, and come out the same every time; the
rubric's partial-credit tiers never pay a worse result more than a better one.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from grader.checks import Checker
from grader.errors import RubricError
from grader.rubric import parse_rubric
from grader.scoring import Outcome, penalty_test, score_test, submission_result, topic_result

FUZZ = settings(max_examples=100, deadline=None)
STATUSES = ["passed", "partial", "failed", "error", "timeout", "missing"]

# Credit as a buggy suite might report it: NaN, infinities, negative, above 1.
credits = st.floats(allow_nan=True, allow_infinity=True) | st.floats(0, 1)
outcomes = st.builds(Outcome, st.sampled_from(STATUSES), credits, st.text(max_size=10))
# Points as the rubric allows them: finite and >= 0 (rubric.py refuses anything else).
points = st.floats(0, 1e6, allow_nan=False) | st.integers(0, 100).map(lambda n: n / 4)


def finite_between(x: float, low: float, high: float) -> bool:
    return math.isfinite(x) and low <= x <= high


@FUZZ
@given(outcomes, points)
def test_a_test_scores_between_zero_and_its_points(outcome, pts):
    r = score_test("losses::mse_loss[x]", outcome, pts)
    assert r.max_score == pts
    assert finite_between(r.score, 0.0, pts)
    if r.status == "passed":
        assert r.score == pts
    if outcome.status == "passed" and r.status != "passed":  # a pass with less than full credit
        assert r.status in ("partial", "failed")
        if r.status == "failed":
            assert r.score == 0.0
    assert score_test("losses::mse_loss[x]", outcome, pts) == r  # deterministic


@st.composite
def topics(draw):
    """A topic as the plugin builds it: groups whose points are shared by their cases."""
    tests = []
    for g in range(draw(st.integers(1, 3))):
        group_points = draw(points)
        n = draw(st.integers(1, 6))
        for i in range(n):
            tests.append(score_test(f"t::g{g}[{i}]", draw(outcomes), group_points / n))
    penalty = draw(st.none() | st.floats(0, 50))
    return tests, penalty


@FUZZ
@given(topics())
def test_topic_totals_add_up_and_stay_in_range(topic):
    tests, penalty = topic
    if penalty is not None:
        earned = sum(t.score for t in tests)
        tests = [*tests, penalty_test("t", earned, penalty, ["uses torch.nn.functional.mse_loss"])]
    r = topic_result("t", tests)
    assert r.max_score == round(sum(t.max_score for t in tests), 9)
    assert r.score == round(sum(t.score for t in tests), 9)
    assert finite_between(r.score, 0.0, r.max_score)
    assert topic_result("t", list(tests)) == r


@FUZZ
@given(st.integers(0, 400).map(lambda n: n / 4), st.integers(1, 60), st.sampled_from(["passed", "failed"]))
def test_full_and_zero_marks_are_exact_however_the_points_are_shared(group_points, cases, status):
    tests = [score_test(f"t::g[{i}]", Outcome(status, 1.0 if status == "passed" else 0.0), group_points / cases)
             for i in range(cases)]
    r = topic_result("t", tests)
    assert r.max_score == group_points
    assert r.score == (group_points if status == "passed" else 0.0)


@settings(FUZZ, max_examples=60)
@given(st.dictionaries(st.sampled_from(["losses", "activations", "dropout"]), topics(), max_size=3),
       st.lists(st.text(max_size=5), max_size=3))
def test_submission_totals_add_up(topic_data, flags):
    results = {name: topic_result(name, tests) for name, (tests, _) in topic_data.items()}
    r = submission_result("alice", "/subs/alice", results, flags, {})
    assert r.score == round(sum(t.score for t in results.values()), 9)
    assert r.max_score == round(sum(t.max_score for t in results.values()), 9)
    assert finite_between(r.score, 0.0, r.max_score)
    assert r.flags == tuple(flags)
    assert submission_result("alice", "/subs/alice", results, flags, {}) == r


tier_lists = st.lists(
    st.fixed_dictionaries({"within": st.floats(0.5, 1e6), "credit": st.floats(-0.5, 1.5)}), max_size=5
)
ratios = st.floats(allow_nan=True, allow_infinity=True) | st.floats(0, 1e7)


@FUZZ
@given(tier_lists, ratios, ratios)
def test_accepted_tiers_never_pay_a_worse_result_more(tiers, a, b):
    rubric = {"schema": 1, "topics": {"losses": {"tests": {"mse_loss": {"points": 1, "tiers": tiers}}}}}
    try:
        parsed = parse_rubric(rubric).topics["losses"].groups["mse_loss"].tiers
    except RubricError:
        return
    checker = Checker(tiers=parsed)
    ca, cb = checker._credit_for(a), checker._credit_for(b)
    assert finite_between(ca, 0.0, 1.0) and finite_between(cb, 0.0, 1.0)
    if math.isfinite(a) and math.isfinite(b) and a <= b:
        assert ca >= cb, (parsed, a, b)


def test_tiers_paying_more_for_a_worse_result_are_refused():
    rubric = {"schema": 1, "topics": {"losses": {"tests": {"mse_loss": {
        "points": 1, "tiers": [{"within": 10, "credit": 0.25}, {"within": 100, "credit": 0.5}]}}}}}
    try:
        parse_rubric(rubric)
    except RubricError as exc:
        assert "tiers[1].credit: 0.5 for within 100 is more than the 0.25 for within 10" in str(exc)
    else:
        raise AssertionError("a looser tier paying more was accepted")
