"""The sampling bounds the dropout suites grade with (used in the grader only).

Each helper turns a failure probability into an acceptance interval for a statistic of
a correct implementation, from the exact sampling distribution where it is cheap
(binomial counts, the Gaussian mean) and from a proven tail inequality otherwise
(Laurent and Massart for chi-square).
"""

from __future__ import annotations

import functools
import math
import torch

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
