"""Worker-side check for dropout.py, and the sampling bounds its suites grade with.

:func:`run_rng_watch` runs beside the student's function: it calls it once and reports
whether the global random generators moved, which only the worker can see. It returns
data only; the grader decides what the report means.

The bound helpers (not exported to the worker) turn a failure probability into an
acceptance interval for a statistic of a correct implementation, from the exact
sampling distribution where it is cheap (binomial counts, the Gaussian mean) and from
a proven tail inequality otherwise (Laurent and Massart for chi-square).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import torch

__all__ = ["run_rng_watch"]


def _on_cuda(values: Sequence[Any]) -> bool:
    for v in values:
        if isinstance(v, torch.Tensor) and v.is_cuda:
            return True
        if isinstance(v, torch.Generator) and v.device.type == "cuda":
            return True
        if isinstance(v, (list, tuple)) and _on_cuda(v):
            return True
    return False


def run_rng_watch(fn: Callable[..., Any], args: Sequence[Any] = (), kwargs: dict | None = None) -> dict:
    """Call ``fn(*args, **kwargs)`` once and report whether it touched the global RNG.

    The CPU default generator's state is compared before and after the call, and so is
    the current CUDA device's default generator when any argument lives on CUDA.
    Returns ``{"result": what fn returned, "global_rng_changed": bool}``.
    """
    kwargs = dict(kwargs or {})
    values = list(args) + list(kwargs.values())
    cuda = _on_cuda(values) and torch.cuda.is_available()
    cpu_before = torch.get_rng_state()
    cuda_before = torch.cuda.get_rng_state() if cuda else None
    result = fn(*args, **kwargs)
    changed = not torch.equal(cpu_before, torch.get_rng_state())
    if cuda_before is not None:
        changed = changed or not torch.equal(cuda_before, torch.cuda.get_rng_state())
    return {"result": result, "global_rng_changed": bool(changed)}


# ------------------------------------------------------------- sampling bounds (grader side)

@functools.lru_cache(maxsize=256)
def binomial_interval(n: int, q: float, delta: float) -> tuple[int, int]:
    """Integers (lo, hi) with P(Z < lo) <= delta/2 and P(Z > hi) <= delta/2 for
    Z ~ Binomial(n, q), from the exact probability mass function (float64).

    A correct implementation's count therefore falls outside [lo, hi] with probability
    at most delta.
    """
    n = int(n)
    q = float(q)
    if n <= 0:
        return 0, max(n, 0)
    if q <= 0.0:
        return 0, 0
    if q >= 1.0:
        return n, n
    k = torch.arange(n + 1, dtype=torch.float64)
    log_pmf = (math.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)
               + k * math.log(q) + (n - k) * math.log1p(-q))
    pmf = torch.exp(log_pmf)
    cdf = torch.cumsum(pmf, 0)                       # P(Z <= k)
    sf = torch.flip(torch.cumsum(torch.flip(pmf, [0]), 0), [0])  # P(Z >= k)
    half = delta / 2
    lo = int((cdf <= half).sum())                    # P(Z <= lo - 1) <= delta/2
    hi = n + 1 - int((sf <= half).sum()) - 1         # P(Z >= hi + 1) <= delta/2
    return lo, hi


def gaussian_z(delta: float) -> float:
    """z with P(|N(0, 1)| > z) = delta."""
    return math.sqrt(2.0) * float(torch.special.erfinv(torch.tensor(1.0 - delta, dtype=torch.float64)))


def chi2_mean_interval(k: int, delta: float) -> tuple[float, float]:
    """(lo, hi) with P(X/k < lo) <= delta/2 and P(X/k > hi) <= delta/2 for X ~ chi2(k).

    Laurent and Massart (2000, Lemma 1): P(X - k >= 2 sqrt(k t) + 2 t) <= exp(-t) and
    P(k - X >= 2 sqrt(k t)) <= exp(-t); here exp(-t) = delta/2. X/k is the mean of k
    squared standard normals, i.e. the ratio of the mean squared noise to std**2.
    """
    t = math.log(2.0 / delta)
    return 1.0 - 2.0 * math.sqrt(t / k), 1.0 + 2.0 * math.sqrt(t / k) + 2.0 * t / k
