from __future__ import annotations

import torch

from grader.compare import compare
from grader.diagnosis import (
    IGNORE_INDEX_HINT,
    MATH_DOMAIN_HINT,
    NEGATIVE_CLASS_HINT,
    Mistake,
    error_hint,
    generic_hint,
    ignore_index_hint,
    likely_mistake,
    specific_error_hint,
)


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


# ------------------------------------------------------------------ error hints

def test_an_ignored_target_used_as_a_class_index_is_named():
    for type_name, message in [
        ("RuntimeError", "index -100 is out of bounds for dimension 1 with size 5"),  # gather, scatter
        ("IndexError", "index -100 is out of bounds for dimension 0 with size 5"),  # logp[i, t], eye(C)[t]
        ("IndexError", "index -100 is out of bounds for axis 1 with size 5"),  # numpy
        ("RuntimeError", "INDICES element is out of DATA bounds, id=-100 axis_dim=5"),  # index_select
        ("CallbackFailed", "f raised IndexError: index -100 is out of bounds for dimension 0 with size 3"),
    ]:
        hint = error_hint(type_name, message)
        assert hint == IGNORE_INDEX_HINT == specific_error_hint(type_name, message), message
        assert "ignore_index (-100 by default)" in hint and "mask" in hint
    one_hot = error_hint("RuntimeError", "Class values must be non-negative.")
    assert one_hot == NEGATIVE_CLASS_HINT and "ignore_index" in one_hot
    assert "-1 here" in ignore_index_hint(-1) and "by default" not in ignore_index_hint(-1)


def test_other_out_of_range_indices_keep_the_generic_hint():
    generic = "an index is out of range: check the class indices and dims"
    for message in ["index 7 is out of bounds for dimension 0 with size 5",
                    "index -1 is out of bounds for dimension 1 with size 5",
                    "index -1000 is out of bounds for dimension 0 with size 5",
                    "index 100 is out of bounds for dimension 0 with size 5",
                    "index -1001 is out of bounds for axis 0 with size 4"]:
        assert error_hint("IndexError", message) == generic, message
        assert specific_error_hint("IndexError", message) is None


def test_math_domain_errors_are_explained():
    for type_name, message in [
        ("ValueError", "math domain error"),  # math.sqrt(-1), math.log(0), math.pow(0, -0.5)
        ("ValueError", "expected a nonnegative input, got -1.0"),  # newer Pythons' math.sqrt
        ("ValueError", "expected a positive input"),
        ("CallbackFailed", "Value.__rtruediv__ raised ValueError: math domain error (autodiff.py:95 in __pow__)"),
    ]:
        hint = error_hint(type_name, message)
        assert hint == MATH_DOMAIN_HINT, message
        assert "outside its domain" in hint and "math.sqrt" in hint and "math.log(0)" in hint
    # look-alikes from elsewhere are not math domain errors
    assert error_hint("RuntimeError", "Expected a positive input size, got 0") is None
    assert error_hint("ValueError", "the domain of f must be finite") is None


def test_generic_error_hints_still_fire_for_their_own_cases():
    cases = {
        "a leaf Variable that requires grad is being used in an in-place operation.": "torch.no_grad",
        "expected scalar type Double but found Float": "mixed dtypes",
        "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1": "shapes",
        "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)": "transposed",
        "unsupported operand type(s) for *: 'float' and 'NoneType'": "None",
        "'NoneType' object has no attribute 'add_'": ".grad is None",
        "float division by zero": "divided by is 0 here",
        "index 5 is out of bounds for dimension 0 with size 5": "index is out of range",
    }
    for message, needle in cases.items():
        hint = error_hint("RuntimeError", message)
        assert hint is not None and needle in hint, (message, hint)
        assert specific_error_hint("RuntimeError", message) is None
    assert "stub" in error_hint("NotImplementedError", "")
    assert "recursion" in error_hint("RecursionError", "maximum recursion depth exceeded")
    assert error_hint("ValueError", "reduction must be 'mean', 'sum' or 'none'") is None


def test_device_errors_get_device_hints():
    """CUDA's messages (also the simulated GPU's, grader.accelerator) name the cause
    exactly, so their hints beat a suite's own guesses."""
    cases = {
        "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!":
            "device=x.device",
        "can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory "
        "first.": "x.cpu().numpy()",
        "Expected a 'cuda' device type for generator but found 'cpu'": "torch.randperm(N, generator=generator)",
        "indices should be either on cpu or on the same device as the indexed tensor (cpu)": "indices",
    }
    for message, needle in cases.items():
        hint = specific_error_hint("RuntimeError", message)
        assert hint is not None and needle in hint, (message, hint)
        assert error_hint("RuntimeError", message) == hint
    assert specific_error_hint("RuntimeError", "Expected all tensors to be finite") is None


def test_type_mix_is_not_called_a_none_gradient():
    from grader.diagnosis import TYPE_MIX_HINT
    for message in [
        "unsupported operand type(s) for *: 'numpy.ndarray' and 'Tensor'",
        "unsupported operand type(s) for -: 'Tensor' and 'numpy.ndarray'",
        "expected np.ndarray (got Tensor)",
        "where(): argument 'other' (position 3) must be Tensor, not numpy.ndarray",
    ]:
        hint = error_hint("TypeError", message)
        assert hint == TYPE_MIX_HINT, message
        assert "None" not in hint
    assert "None" in error_hint("TypeError", "unsupported operand type(s) for *: 'Tensor' and 'NoneType'")
    other = error_hint("TypeError", "unsupported operand type(s) for +: 'int' and 'list'")
    assert other is not None and "None" not in other and "numpy" not in other


def test_division_by_zero_hint_is_neutral():
    hint = error_hint("ZeroDivisionError", "float division by zero")
    assert "divided by is 0" in hint
    assert not hint.startswith("a count or step number")
