"""Trusted numerical comparison of a student's value with the reference's.

Pure functions over plain data that the grader decoded itself; nothing here calls a
method of an object the student made. Every result is a :class:`Comparison` whose
message says what is wrong in words a student can act on, without printing the
expected values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch

from grader.wire import NumpyArray

Problem = Literal["type", "shape", "dtype", "device", "nan", "inf", "values", "length", "keys"]


@dataclass(frozen=True)
class Tolerance:
    """``|actual - expected| <= atol + rtol * |expected|`` elementwise."""

    rtol: float
    atol: float

    def scaled(self, scale: float) -> "Tolerance":
        return Tolerance(self.rtol, self.atol * max(1.0, float(scale)))

    def describe(self) -> str:
        return f"atol {self.atol:.0e} + rtol {self.rtol:.0e}·|expected|"


DEFAULT_TOLERANCES: dict[torch.dtype, Tolerance] = {
    torch.float64: Tolerance(1e-7, 1e-10),
    torch.complex128: Tolerance(1e-7, 1e-10),
    torch.float32: Tolerance(1e-5, 1e-6),
    torch.complex64: Tolerance(1e-5, 1e-6),
    torch.float16: Tolerance(1e-2, 1e-3),
    torch.bfloat16: Tolerance(2e-2, 1e-2),
}
PYTHON_FLOAT_TOLERANCE = Tolerance(1e-7, 1e-10)


def tolerance_for(dtype: torch.dtype) -> Tolerance:
    return DEFAULT_TOLERANCES.get(dtype, Tolerance(0.0, 0.0))


@dataclass(frozen=True)
class Comparison:
    """The outcome of one comparison. ``ratio`` is the worst error over its tolerance."""

    ok: bool
    message: str = ""
    problem: Problem | None = None
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    ratio: float | None = None
    worst_index: tuple[int, ...] | None = None
    tolerance: Tolerance | None = None

    def metrics(self) -> dict[str, float]:
        out = {}
        if self.max_abs_err is not None:
            out["max_abs_err"] = _finite_or_big(self.max_abs_err)
        if self.max_rel_err is not None:
            out["max_rel_err"] = _finite_or_big(self.max_rel_err)
        return out


def _finite_or_big(x: float) -> float:
    return x if math.isfinite(x) else 1e308


def kind_of(value: Any) -> str:
    """A short name for what a value is, for messages."""
    if isinstance(value, NumpyArray):
        return "a numpy array"
    if isinstance(value, torch.Tensor):
        return f"a {DTYPE_WORDS.get(value.dtype, str(value.dtype))} tensor of shape {shape_str(value.shape)}"
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "a Python int"
    if isinstance(value, float):
        return "a Python float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, tuple):
        return f"a tuple of length {len(value)}"
    if isinstance(value, list):
        return f"a list of length {len(value)}"
    if isinstance(value, dict):
        return "a dict"
    remote = getattr(value, "remote_type", None)
    if isinstance(remote, str):
        return f"an object of type {remote}"
    return f"a {type(value).__name__}"


DTYPE_WORDS = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64", torch.bool: "bool"}


def shape_str(shape: Any) -> str:
    dims = tuple(int(s) for s in shape)
    return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"


def _index(flat: int, shape: torch.Size) -> tuple[int, ...]:
    idx = []
    for size in reversed(shape):
        idx.append(flat % size)
        flat //= size
    return tuple(reversed(idx))


def compare_tensors(
    actual: Any,
    expected: torch.Tensor,
    tol: Tolerance | None = None,
    check_dtype: bool = True,
    check_device: bool = True,
) -> Comparison:
    """Compare a student's tensor with the expected one (shape, dtype, device, values)."""
    if isinstance(actual, NumpyArray):
        return Comparison(False, "is a numpy array: return a torch tensor", "type")
    if not isinstance(actual, torch.Tensor):
        return Comparison(False, f"is {kind_of(actual)} where a tensor was expected", "type")
    if actual.shape != expected.shape:
        return Comparison(
            False,
            f"has shape {shape_str(actual.shape)} but should have shape {shape_str(expected.shape)}",
            "shape",
        )
    if check_dtype and actual.dtype != expected.dtype:
        return Comparison(
            False,
            f"has dtype {str(actual.dtype).replace('torch.', '')} but should have dtype "
            f"{str(expected.dtype).replace('torch.', '')}",
            "dtype",
        )
    if check_device and actual.device != expected.device:
        return Comparison(False, f"is on {actual.device} but should be on {expected.device}", "device")
    a = actual.detach().to("cpu")
    e = expected.detach().to("cpu")
    if not (e.is_floating_point() or e.is_complex()):
        if a.dtype != e.dtype:
            a = a.to(e.dtype)
        wrong = a != e
        n = int(wrong.sum())
        if n == 0:
            return Comparison(True, tolerance=Tolerance(0.0, 0.0), max_abs_err=0.0, max_rel_err=0.0, ratio=0.0)
        first = _index(int(wrong.reshape(-1).nonzero()[0]), e.shape)
        return Comparison(
            False, f"differs at {n} of {e.numel()} entries (first at index {first})", "values",
            worst_index=first, ratio=math.inf,
        )
    tol = tol or tolerance_for(e.dtype)
    a = a.to(torch.complex128 if e.is_complex() else torch.float64)
    e = e.to(a.dtype)
    a_nan, e_nan = torch.isnan(a), torch.isnan(e)
    if e.is_complex():
        a_nan, e_nan = a_nan | torch.isinf(a), e_nan | torch.isinf(e)
    bad_nan = a_nan & ~e_nan
    if bad_nan.any():
        n = int(bad_nan.sum())
        first = _index(int(bad_nan.reshape(-1).nonzero()[0]), e.shape)
        return Comparison(
            False,
            f"is nan at {n} of {e.numel()} entries (first at index {first}) where finite values were expected",
            "nan", worst_index=first, max_abs_err=math.inf, max_rel_err=math.inf, ratio=math.inf,
        )
    missing_nan = e_nan & ~a_nan
    if missing_nan.any():
        n = int(missing_nan.sum())
        first = _index(int(missing_nan.reshape(-1).nonzero()[0]), e.shape)
        return Comparison(
            False, f"is a number at {n} entries (first at index {first}) where nan was expected",
            "nan", worst_index=first, ratio=math.inf,
        )
    if not e.is_complex():
        a_inf, e_inf = torch.isinf(a), torch.isinf(e)
        bad_inf = (a_inf | e_inf) & ~((a == e) & a_inf) & ~e_nan
        if bad_inf.any():
            n = int(bad_inf.sum())
            first = _index(int(bad_inf.reshape(-1).nonzero()[0]), e.shape)
            what = "infinite" if bool(a_inf.reshape(-1)[_flat(first, e.shape)]) else "finite"
            expected_what = "finite values were" if what == "infinite" else "an infinity was"
            return Comparison(
                False,
                f"is {what} at {n} of {e.numel()} entries (first at index {first}) where {expected_what} expected",
                "inf", worst_index=first, max_abs_err=math.inf, max_rel_err=math.inf, ratio=math.inf,
            )
    usable = ~(e_nan | (torch.isinf(e) if not e.is_complex() else e_nan))
    if not usable.any():
        return Comparison(True, tolerance=tol, max_abs_err=0.0, max_rel_err=0.0, ratio=0.0)
    diff = torch.where(usable, (a - e).abs(), torch.zeros((), dtype=torch.float64))
    mag = torch.where(usable, e.abs(), torch.zeros((), dtype=torch.float64))
    allowed = tol.atol + tol.rtol * mag
    ratios = diff / allowed if tol.atol > 0 else torch.where(diff > 0, diff / allowed, torch.zeros_like(diff))
    ratios = torch.nan_to_num(ratios, nan=math.inf)
    flat = int(torch.argmax(ratios.reshape(-1)))
    ratio = float(ratios.reshape(-1)[flat])
    max_abs = float(diff.max())
    max_rel = float((diff / torch.clamp(mag, min=max(tol.atol, 1e-300))).max())
    worst = _index(flat, e.shape)
    if ratio <= 1.0:
        return Comparison(True, tolerance=tol, max_abs_err=max_abs, max_rel_err=max_rel, ratio=ratio, worst_index=worst)
    where = f" at index {worst}" if e.dim() else ""
    return Comparison(
        False,
        f"is off by up to {max_abs:.3g}{where} (max relative error {max_rel:.3g}; tolerance {tol.describe()})",
        "values", max_abs_err=max_abs, max_rel_err=max_rel, ratio=ratio, worst_index=worst, tolerance=tol,
    )


def _flat(index: tuple[int, ...], shape: torch.Size) -> int:
    flat = 0
    for i, size in zip(index, shape):
        flat = flat * size + i
    return flat


def compare_numbers(actual: Any, expected: float, tol: Tolerance | None = None) -> Comparison:
    """Compare a Python number; a 0-d tensor is not accepted where a float is expected."""
    if isinstance(actual, bool) or not isinstance(actual, (int, float)):
        return Comparison(False, f"is {kind_of(actual)} where a Python number was expected", "type")
    return compare_tensors(
        torch.tensor(float(actual), dtype=torch.float64),
        torch.tensor(float(expected), dtype=torch.float64),
        tol or PYTHON_FLOAT_TOLERANCE,
    )


def compare(actual: Any, expected: Any, tol: Tolerance | None = None, check_dtype: bool = True) -> Comparison:
    """Compare nested values of the shape of ``expected`` (tensors, numbers, sequences, dicts)."""
    if isinstance(expected, torch.Tensor):
        return compare_tensors(actual, expected, tol, check_dtype=check_dtype)
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        if actual == expected and type(actual) is type(expected):
            return Comparison(True, ratio=0.0)
        return Comparison(False, f"is {_brief(actual)} but should be {_brief(expected)}", "values", ratio=math.inf)
    if isinstance(expected, (int, float)):
        return compare_numbers(actual, expected, tol)
    if isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)):
            return Comparison(False, f"is {kind_of(actual)} where a sequence of {len(expected)} was expected", "type")
        if len(actual) != len(expected):
            return Comparison(
                False, f"has {len(actual)} items but should have {len(expected)}", "length", ratio=math.inf
            )
        return _worst(
            [(f"item {i}", compare(a, e, tol, check_dtype)) for i, (a, e) in enumerate(zip(actual, expected))]
        )
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return Comparison(False, f"is {kind_of(actual)} where a dict was expected", "type")
        missing = [k for k in expected if k not in actual]
        if missing:
            return Comparison(False, f"has no key {missing[0]!r}", "keys", ratio=math.inf)
        return _worst([(f"[{k!r}]", compare(actual[k], v, tol, check_dtype)) for k, v in expected.items()])
    raise TypeError(f"cannot compare against {type(expected).__name__}")


def _worst(parts: list[tuple[str, Comparison]]) -> Comparison:
    failed = [(label, c) for label, c in parts if not c.ok]
    if failed:
        label, c = failed[0]
        return Comparison(
            False, f"{label} {c.message}", c.problem, c.max_abs_err, c.max_rel_err, c.ratio, c.worst_index, c.tolerance
        )
    if not parts:
        return Comparison(True, ratio=0.0)
    best = max((c for _, c in parts), key=lambda c: c.ratio or 0.0)
    return best


def _brief(value: Any) -> str:
    if isinstance(value, (bool, type(None))) or isinstance(value, str) and len(value) < 40:
        return repr(value)
    return kind_of(value)
