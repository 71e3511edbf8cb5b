from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.compare import Tolerance, compare, compare_numbers, compare_tensors, tolerance_for
from grader.wire import NumpyArray


def test_equal_tensors_pass_with_zero_error():
    t = torch.randn(3, 4)
    c = compare_tensors(t.clone(), t)
    assert c.ok and c.max_abs_err == 0.0 and c.ratio == 0.0


@pytest.mark.parametrize(
    "actual,expected,problem,words",
    [
        (torch.zeros(3, 1), torch.zeros(3), "shape", "shape (3, 1) but should have shape (3,)"),
        (torch.zeros(3, dtype=torch.float64), torch.zeros(3), "dtype", "dtype float64 but should have dtype float32"),
        (torch.tensor([1.0, float("nan")]), torch.tensor([1.0, 2.0]), "nan", "nan at 1 of 2 entries (first at index (1,))"),
        (torch.tensor([float("inf")]), torch.tensor([2.0]), "inf", "infinite at 1 of 1"),
        (torch.tensor([1.0]), torch.tensor([float("inf")]), "inf", "where an infinity was expected"),
        (torch.tensor([1.0]), torch.tensor([float("nan")]), "nan", "where nan was expected"),
        (1.5, torch.tensor(1.5), "type", "a Python float where a tensor was expected"),
        (torch.ones(2).as_subclass(NumpyArray), torch.ones(2), "type", "numpy array"),
        (torch.tensor([1.0, 2.5]), torch.tensor([1.0, 2.0]), "values", "off by up to 0.5 at index (1,)"),
    ],
)
def test_each_problem_is_named(actual, expected, problem, words):
    c = compare(actual, expected)
    assert not c.ok and c.problem == problem
    assert words in c.message


def test_matching_nans_and_infinities_are_accepted():
    e = torch.tensor([float("nan"), float("inf"), -float("inf"), 1.0])
    assert compare_tensors(e.clone(), e).ok


def test_integer_tensors_compare_exactly():
    c = compare_tensors(torch.tensor([1, 2, 4]), torch.tensor([1, 2, 3]))
    assert not c.ok and "differs at 1 of 3 entries (first at index (2,))" in c.message


def test_tolerance_is_dtype_aware():
    e = torch.tensor([1.0], dtype=torch.float32)
    assert compare_tensors(e + 5e-6, e).ok
    e64 = e.double()
    assert not compare_tensors(e64 + 5e-6, e64).ok
    assert tolerance_for(torch.float64).rtol < tolerance_for(torch.float32).rtol


def test_scale_widens_only_absolute_tolerance():
    tol = Tolerance(1e-5, 1e-6).scaled(1e3)
    assert tol.atol == pytest.approx(1e-3) and tol.rtol == 1e-5


def test_nested_sequences_name_the_item():
    c = compare([torch.ones(2), torch.zeros(2)], [torch.ones(2), torch.ones(2)])
    assert not c.ok and c.message.startswith("item 1 ")
    assert "has 1 items but should have 2" in compare([1.0], [1.0, 2.0]).message


def test_python_numbers():
    assert compare_numbers(0.1 + 0.2, 0.3).ok
    c = compare_numbers(torch.tensor(0.3), 0.3)
    assert not c.ok and "where a Python number was expected" in c.message


def test_device_mismatch_is_named():
    class FakeDevice(torch.Tensor):
        pass

    # a real device mismatch needs CUDA; compare the message path directly when available
    if torch.cuda.is_available():
        c = compare_tensors(torch.ones(2), torch.ones(2, device="cuda"))
        assert c.problem == "device" and "should be on cuda:0" in c.message


finite = st.floats(-1e6, 1e6, allow_nan=False, width=64)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=8), st.sampled_from([1e-5, 1e-7]), st.sampled_from([1e-6, 1e-10]))
def test_ok_agrees_with_allclose(pairs, rtol, atol):
    a = torch.tensor([p[0] for p in pairs], dtype=torch.float64)
    e = torch.tensor([p[1] for p in pairs], dtype=torch.float64)
    c = compare_tensors(a, e, Tolerance(rtol, atol))
    assert c.ok == bool(torch.allclose(a, e, rtol=rtol, atol=atol))
    expected_ratio = float(((a - e).abs() / (atol + rtol * e.abs())).max())
    assert math.isclose(c.ratio, expected_ratio, rel_tol=1e-9, abs_tol=1e-12)
    assert c.max_abs_err == pytest.approx(float((a - e).abs().max()))
