from __future__ import annotations

import torch

from grader.compare import compare
from grader.diagnosis import Mistake, generic_hint, likely_mistake


def _hint(actual, expected):
    return generic_hint(actual, expected, compare(actual, expected))


def test_constant_factor_and_sign():
    e = torch.randn(5, dtype=torch.float64)
    assert "2 times" in _hint(2 * e, e)
    assert "wrong sign" in _hint(-e, e)
    assert _hint(e + torch.randn(5, dtype=torch.float64), e) is None
    assert _hint(torch.zeros(5, dtype=torch.float64), e) == "the result is all zeros"


def test_shape_slips():
    e = torch.zeros(4)
    assert "(N, 1)" in _hint(torch.zeros(4, 4), e)
    assert "transposed" in _hint(torch.zeros(3, 2), torch.zeros(2, 3))
    assert "scalar" in _hint(torch.zeros(()), torch.zeros(3))


def test_dtype_device_and_float_hints():
    assert "dtype=x.dtype" in _hint(torch.zeros(2, dtype=torch.float64), torch.zeros(2))
    assert ".item()" in _hint(1.0, torch.tensor(2.0))
    assert "stable" in _hint(torch.tensor([float("nan")]), torch.tensor([1.0]))


def test_listed_mistakes_win_over_generic_hints():
    e = torch.tensor([1.0, 2.0], dtype=torch.float64)
    wrong = torch.tensor([3.0, 4.0], dtype=torch.float64)
    mistakes = [
        Mistake("not this one", value=torch.tensor([9.0, 9.0], dtype=torch.float64)),
        Mistake("forgot the bias correction", value=lambda: wrong.clone()),
    ]
    assert likely_mistake(wrong, e, compare(wrong, e), mistakes) == "forgot the bias correction"
    nan_mistake = [Mistake("subtract the max", problem="nan")]
    bad = torch.tensor([float("nan"), 2.0], dtype=torch.float64)
    assert likely_mistake(bad, e, compare(bad, e), nan_mistake) == "subtract the max"
    predicate = [Mistake("negative loss: fed probabilities", when=lambda out: float(out.min()) < 0)]
    neg = -e
    assert likely_mistake(neg, e, compare(neg, e), predicate).startswith("negative loss")


def test_a_broken_predicate_is_ignored():
    e = torch.ones(2)
    out = torch.tensor([0.3, -2.0])
    mistakes = [Mistake("boom", when=lambda out: 1 / 0)]
    assert likely_mistake(out, e, compare(out, e), mistakes) is None


def test_scalar_ratios_hint_only_whole_number_factors():
    e = torch.tensor(0.7, dtype=torch.float64)
    assert "12 times" in _hint(e * 12, e)
    assert "1/4 times" in _hint(e / 4, e)
    assert "wrong sign" in _hint(-e, e)
    assert _hint(e * 1.37, e) is None
