"""Pure scoring rules: tolerances, checkbox policies, symbolic and matrix comparison."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grader.quiz.expr import parse
from grader.quiz.model import Match, Tolerance
from grader.quiz.schema import load_quiz
from grader.quiz.scoring import (
    multi_select_score, score_matrix, score_numeric, score_output, score_symbolic,
)

QUIZ = load_quiz(Path(__file__).parent / "fixtures" / "quiz" / "basics.yaml")
finite = st.floats(-1e6, 1e6, allow_nan=False)


# Tolerances far above one ulp of |expected| <= 1e6 (about 1.2e-10), so that rounding
# ``inside`` and ``outside`` to the nearest double cannot carry them across the margin.
rtols = st.just(0.0) | st.floats(1e-12, 0.5)
atols = st.just(0.0) | st.floats(1e-6, 1)


@given(finite, rtols, atols)
def test_numeric_relabs_is_isclose(expected, rtol, atol):
    tol = Tolerance(rtol=rtol, atol=atol)
    inside = expected + 0.99 * (atol + rtol * abs(expected))
    outside = expected + 1.01 * (atol + rtol * abs(expected)) + 1e-9 * max(1.0, abs(expected))
    assert score_numeric(inside, expected, tol).score == 1.0
    assert score_numeric(outside, expected, tol).score == 0.0


@pytest.mark.parametrize("given_value, expected, ok", [
    (2.30, 2.302585, True), (2.31, 2.302585, False), (0.00123, 0.0012345, True), (1234, 1234.4, True),
    (1230, 1234.4, True), (1220, 1234.4, False), (0.0, 0.0, True),
])
def test_numeric_sigfigs(given_value, expected, ok):
    assert (score_numeric(given_value, expected, Tolerance(sigfigs=3)).score == 1.0) is ok


def test_numeric_special_values():
    tol = Tolerance()
    assert score_numeric(math.nan, 1.0, tol).score == 0
    assert score_numeric(math.nan, math.nan, tol).score == 1
    assert score_numeric(math.inf, math.inf, tol).score == 1
    assert score_numeric(-math.inf, math.inf, tol).score == 0


def test_multi_select_matches_prairielearn_example():
    # correct {a, c} of 4, selected {a, b, c}
    correct, chosen = {"a", "c"}, {"a", "b", "c"}
    assert multi_select_score(correct, chosen, 4, "all_or_nothing") == 0
    assert multi_select_score(correct, chosen, 4, "net_correct") == 0.5
    assert multi_select_score(correct, chosen, 4, "coverage") == pytest.approx(2 / 3)
    assert multi_select_score(correct, chosen, 4, "each_answer") == 0.75


@given(st.sets(st.sampled_from("abcdef"), min_size=1), st.sets(st.sampled_from("abcdef")),
       st.sampled_from(["all_or_nothing", "net_correct", "coverage", "each_answer"]))
def test_multi_select_bounds(correct, chosen, mode):
    score = multi_select_score(correct, chosen, 6, mode)
    assert 0 <= score <= 1
    assert multi_select_score(correct, set(correct), 6, mode) == 1


def test_symbolic_equivalent_forms():
    q = QUIZ.question("grad-linear")
    names = q.variable_names | q.param_names
    for text, ok in [("2*x*(w*x - y)", True), ("2*w*x^2 - 2*x*y", True), ("2*(w*x - y)", False),
                     ("2*x*(w*x - y) + 1e-12", True), ("0", False)]:
        outcome = score_symbolic(q, {"y": 1}, q.answer, parse(text, names), "k")
        assert (outcome.score == 1) is ok, (text, outcome)


def test_symbolic_feedback_names_a_point():
    q = QUIZ.question("grad-linear")
    outcome = score_symbolic(q, {"y": 1}, q.answer, parse("x", q.variable_names), "k")
    assert outcome.score == 0 and "x=" in outcome.feedback and "w=" in outcome.feedback


def test_symbolic_domain_nan_handling():
    from dataclasses import replace

    q = replace(QUIZ.question("grad-linear"), variables=(("x", -2.0, 2.0),), params=())
    # log(x) is nan for half the interval: only finite points count
    assert score_symbolic(q, {}, "log(x)", parse("log(x)", frozenset({"x"})), "k").score == 1
    assert score_symbolic(q, {}, "log(x)", parse("log(abs(x))", frozenset({"x"})), "k").score == 1
    assert score_symbolic(q, {}, "log(x)", parse("x", frozenset({"x"})), "k").score == 0
    # an always-nan answer only matches nan
    assert score_symbolic(q, {}, "log(-abs(x)-1)", parse("sqrt(-1-abs(x))", frozenset({"x"})), "k").score == 1


def test_matrix_shape_first_then_entries():
    tol = Tolerance(rtol=1e-3, atol=1e-6)
    assert "incorrect shape" in score_matrix(np.ones((2, 1)), [[1, 1]], tol).feedback
    assert score_matrix(np.array([[1.0, 1.0005]]), [[1, 1]], tol).score == 1
    out = score_matrix(np.array([[1.0, 2.0]]), [[1, 1]], tol)
    assert out.score == 0 and "1 of 2 entries" in out.feedback and "[0, 1]" in out.feedback


def test_output_modes():
    assert score_output("tensor(2.3026)", "tensor(2.3026)\n", Match("exact")).score == 1
    assert score_output("tensor(2.3026) ", "tensor(2.3026)\n", Match("exact")).score == 0
    assert score_output("a   b\n c", "a b c\n", Match("normalized_whitespace")).score == 1
    assert score_output("2.3027", "tensor(2.3026)\n", Match("numeric", rtol=1e-3)).score == 1
    assert score_output("2.3 1", "tensor(2.3026)\n", Match("numeric", rtol=1e-3)).score == 0
