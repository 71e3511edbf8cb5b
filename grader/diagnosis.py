"""Naming the likely mistake behind a wrong answer.

Suites list :class:`Mistake` objects for the slips they expect (what a student's
function returns when it forgets the bias correction, say); :func:`likely_mistake`
reports the first one the student's output matches, and otherwise falls back on
:func:`generic_hint`, which recognises shape, dtype, sign and scale slips.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import torch

from grader.compare import Comparison, Tolerance, compare


@dataclass(frozen=True)
class Mistake:
    """A known slip and how to recognise it.

    Give exactly one of ``value`` (what the slip returns for this case, or a function
    computing it), ``problem`` (a :class:`~grader.compare.Comparison` problem such as
    ``"nan"`` or ``"shape"``) or ``when`` (a predicate on the student's output).
    """

    hint: str
    value: Any = None
    problem: str | None = None
    when: Callable[[Any], bool] | None = None
    rtol: float | None = None

    def matches(self, actual: Any, comparison: Comparison, tol: Tolerance | None) -> bool:
        if self.problem is not None:
            return comparison.problem == self.problem
        if self.when is not None:
            try:
                return bool(self.when(actual))
            except Exception:
                return False
        if self.value is None:
            return False
        candidate = self.value() if callable(self.value) else self.value
        if self.rtol is not None and tol is not None:
            tol = Tolerance(self.rtol, tol.atol)
        try:
            return compare(actual, candidate, tol).ok
        except TypeError:
            return False


def likely_mistake(
    actual: Any,
    expected: Any,
    comparison: Comparison,
    mistakes: tuple[Mistake, ...] | list[Mistake] = (),
    tol: Tolerance | None = None,
) -> str | None:
    for mistake in mistakes:
        if mistake.matches(actual, comparison, tol):
            return mistake.hint
    return generic_hint(actual, expected, comparison)


def generic_hint(actual: Any, expected: Any, comparison: Comparison) -> str | None:
    """Hints that need no knowledge of the function under test."""
    problem = comparison.problem
    if problem == "dtype":
        return (
            "keep the input's dtype: make new tensors with dtype=x.dtype (torch.tensor and "
            "torch.zeros default to float32, numpy to float64)"
        )
    if problem == "device":
        return "make new tensors on the input's device (device=x.device)"
    if problem == "type" and isinstance(actual, float) and isinstance(expected, torch.Tensor):
        return "return a tensor, not a Python float (.item() converts to a float)"
    if not (isinstance(actual, torch.Tensor) and isinstance(expected, torch.Tensor)):
        return None
    if problem == "shape":
        return _shape_hint(actual, expected)
    if problem in ("nan", "inf"):
        return (
            "the result is not finite where finite values were expected: some step of the computation "
            "gives inf or nan for these inputs (an exp that overflows, log(0) and 0/0 are the usual "
            "sources; a numerically stable form avoids them: subtract the max before exp, clamp or use log1p)"
        )
    if problem == "values" and expected.is_floating_point() and actual.is_floating_point():
        return _scale_hint(actual.to(torch.float64), expected.to(torch.float64))
    return None


def _shape_hint(actual: torch.Tensor, expected: torch.Tensor) -> str | None:
    if expected.dim() == 1 and actual.dim() == 2 and actual.shape == (expected.shape[0], expected.shape[0]):
        return "an (N, 1) tensor was broadcast against an (N,) one: keep both (N,)"
    if actual.dim() == 0 and expected.dim() > 0:
        return "the result was reduced to a scalar: check the reduction and the dim argument"
    if expected.dim() == 0 and actual.dim() > 0:
        return "the result should be a scalar: reduce over every element"
    if actual.numel() == expected.numel():
        if actual.dim() == 2 and actual.shape == expected.shape[::-1]:
            return "the result looks transposed"
        return "the right number of entries in the wrong shape: check reshapes and keepdim"
    return None


def _scale_hint(a: torch.Tensor, e: torch.Tensor) -> str | None:
    if e.numel() == 0:
        return None
    if e.numel() == 1:
        # Any two scalars are multiples of each other; only a whole-number ratio (a sum
        # instead of a mean, a missing 1/2) is evidence of a missing factor.
        ea, aa = float(e.reshape(())), float(a.reshape(()))
        if ea == 0.0 or aa == 0.0:
            return None
        k = aa / ea
        for ratio in (k, 1.0 / k):
            whole = round(abs(ratio))
            if 2 <= whole <= 100_000 and abs(abs(ratio) - whole) <= 1e-6 * whole:
                sign = "" if ratio > 0 else "minus "
                shown = f"{sign}{whole}" if ratio is k else f"{sign}1/{whole}"
                return f"the result is {shown} times the expected one: check constant factors such as 1/N, 1/2 or 2"
        if abs(k + 1.0) < 1e-6:
            return "the result has the wrong sign"
        return None
    if a.dim() == 2 and a.shape[0] == a.shape[1] and a.shape[0] > 1 and torch.allclose(a.T, e, rtol=1e-5, atol=1e-8):
        return "the result looks transposed"
    denom = float((e * e).sum())
    if denom == 0.0:
        return None
    if not bool(a.any()):
        return "the result is all zeros"
    k = float((a * e).sum()) / denom
    residual = float(((a - k * e) ** 2).sum()) ** 0.5 / denom**0.5
    if residual > 1e-6 or abs(k - 1.0) < 1e-6:
        return None
    if abs(k + 1.0) < 1e-6:
        return "the result has the wrong sign"
    return f"the result is {k:.4g} times the expected one: check constant factors such as 1/N, 1/2 or 2"


def ignore_index_hint(ignore_index: int = -100) -> str:
    """The hint for a target equal to ``ignore_index`` used as a class index (gather,
    indexing, a one-hot row): a negative ignore_index is out of range for every class."""
    which = "-100 by default" if ignore_index == -100 else f"{ignore_index} here"
    return (
        f"a target equals ignore_index ({which}) and was used as a class index: mask the ignored "
        "targets out before indexing (valid = target != ignore_index; pick with torch.where(valid, target, 0)), "
        "then give those rows a loss of 0 and leave them out of the mean"
    )


IGNORE_INDEX_HINT = ignore_index_hint()
NEGATIVE_CLASS_HINT = (
    "a negative class reached one_hot: targets equal to ignore_index (-100 by default) must be masked out "
    "before one_hot (replace them by any valid class, then give those rows a loss of 0 and leave them out "
    "of the mean)"
)
MATH_DOMAIN_HINT = (
    "a math-module function got a number outside its domain: math.sqrt or math.log of a negative number, "
    "math.log(0), math.pow(0, p) with p < 0, or math.pow of a negative base with a fractional power; check "
    "the number passed at this call (a step count that starts at 0, a fan, gain or variance that can be 0 "
    "or negative, a value already wrong earlier in the computation)"
)

TYPE_MIX_HINT = (
    "numpy arrays and torch tensors are mixed here: keep everything a tensor (torch.from_numpy(a) or "
    "torch.as_tensor(a, dtype=x.dtype, device=x.device) converts an array; tensor * array works, "
    "array * tensor does not)"
)
DEVICE_MIX_HINT = (
    "a CPU tensor met one on the GPU: create new tensors on the input's device (torch.zeros_like(x), "
    "torch.ones(n, device=x.device, dtype=x.dtype)) and keep every result there (no .cpu() on the way)"
)
NUMPY_DEVICE_HINT = (
    "a tensor on the GPU has no numpy array: compute with torch (every numpy function has a torch "
    "twin), or convert with x.cpu().numpy() and bring the result back with "
    "torch.as_tensor(a, device=x.device, dtype=x.dtype)"
)
GENERATOR_DEVICE_HINT = (
    "a random draw must happen on its generator's device: draw with device=generator.device (or fill a "
    "tensor on the data's device, x.new_empty(shape).uniform_(generator=generator)); a permutation is "
    "drawn with torch.randperm(N, generator=generator) on the generator's device and then moved to the "
    "data with .to(X.device)"
)
INDEX_DEVICE_HINT = (
    "a CPU tensor was indexed with indices on the GPU: keep the indexed tensor on the data's device "
    "(create it with device=x.device) or move the indices with .cpu()"
)
NONE_HINT = "a value is None here (is a gradient None? skip parameters whose .grad is None)"

# Exception messages that name their cause precisely, as (regular expression, hint),
# searched case-sensitively anywhere in the message (an error reported inside another, a
# callback's, still counts). They are checked before ERROR_HINTS, whose broader substrings
# (e.g. "out of bounds") would otherwise answer first, and a suite with its own fallback
# hint for a call should prefer them too (see specific_error_hint).
ERROR_PATTERNS: tuple[tuple[str, str], ...] = (
    # gather, indexing, scatter, torch.eye(C)[target] (torch and numpy), index_select
    (r"\bindex -100 is out of bounds\b|\bid=-100\b", IGNORE_INDEX_HINT),
    (r"\bClass values must be non-negative\b", NEGATIVE_CLASS_HINT),  # one_hot
    # math.sqrt(-1), math.log(0), math.pow(0, -0.5), math.acos(2); newer Pythons name the bound
    (r"\bmath domain error\b|(^\s*|\bValueError: )expected a (nonnegative|positive) input(, got\b|$)",
     MATH_DOMAIN_HINT),
    # numpy * Tensor, torch.from_numpy(tensor), torch.where(..., ndarray): both kinds named
    (r"(?s)(?=.*\b(numpy\.)?ndarray\b)(?=.*\bTensor\b)", TYPE_MIX_HINT),
    # CUDA's own messages (also raised by grader.accelerator, the simulated GPU)
    (r"\bExpected all tensors to be on the same device\b", DEVICE_MIX_HINT),
    (r"\bcan't convert cuda(:\d+)? device type tensor to numpy\b", NUMPY_DEVICE_HINT),
    (r"\bExpected a '\w+' device type for generator\b", GENERATOR_DEVICE_HINT),
    (r"\bindices should be either on cpu or on the same device\b", INDEX_DEVICE_HINT),
)

# Substrings of common runtime errors and what they usually mean in this course.
ERROR_HINTS: tuple[tuple[str, str], ...] = (
    ("a leaf Variable that requires grad is being used in an in-place operation",
     "update parameters in place inside `with torch.no_grad():`"),
    ("expected scalar type", "mixed dtypes: make new tensors with dtype=x.dtype"),
    ("must match the size of tensor", "the shapes do not line up: check transposes, keepdim and broadcasting"),
    ("mat1 and mat2 shapes cannot be multiplied", "the matrix shapes do not line up: check which side is transposed"),
    ("'NoneType'", NONE_HINT),
    ("unsupported operand type(s) for",
     "an operand has the wrong type for this operator: check the type of each side (tensor, number, list, ...)"),
    ("division by zero",
     "something divided by is 0 here: check each denominator at this line (a count, a step number, a "
     "probability, 1 - p) and the cases where it can be 0"),
    ("out of bounds", "an index is out of range: check the class indices and dims"),
)


def error_hint(type_name: str, message: str) -> str | None:
    """A hint for an exception raised by student code, from its type and message."""
    if type_name == "NotImplementedError":
        return "this function is still the stub: replace the raise NotImplementedError line"
    if type_name in ("MemoryError",) or "can't allocate memory" in message or "DefaultCPUAllocator" in message:
        return "the memory limit was reached: avoid building huge intermediate tensors"
    if type_name == "RecursionError":
        return "the recursion is too deep: use an explicit stack or loop"
    specific = specific_error_hint(type_name, message)
    if specific is not None:
        return specific
    for needle, hint in ERROR_HINTS:
        if needle.lower() in message.lower():
            return hint
    return None


def specific_error_hint(type_name: str, message: str) -> str | None:
    """The hint of an ERROR_PATTERNS entry matching this exception, if any: a cause the
    message names precisely (an ignored target used as an index, a math domain error),
    which beats both the generic ERROR_HINTS and a suite's own guess for the call."""
    for pattern, hint in ERROR_PATTERNS:
        if re.search(pattern, message):
            return hint
    return None
