"""Convergence problems and trajectory scoring for optimizer suites.

Each :class:`Problem` is a differentiable objective with a fixed start. Suites run the
student's optimizer and the reference's from the same start with gradients computed by
the grader (:func:`grader.harness.run_optimizer`), then score two things:

* trajectory match: the largest distance between the two parameter paths, relative to
  the size of the reference's steps, over every step (:func:`trajectory_deviation`);
* final loss: how much of the reference's decrease in loss the student achieved
  (:func:`progress_ratio`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import torch


@dataclass(frozen=True)
class Problem:
    """An objective ``loss(params)`` with a start point; gradients come from autograd."""

    name: str
    start: tuple[torch.Tensor, ...]
    loss: Callable[[Sequence[torch.Tensor]], torch.Tensor]

    def value(self, params: Sequence[torch.Tensor]) -> float:
        with torch.no_grad():
            return float(self.loss([p.to(torch.float64) for p in params]))

    def grad_fn(self) -> Callable[[list[torch.Tensor], int], list[torch.Tensor]]:
        """``grad_fn(params, t)`` as :func:`grader.harness.run_optimizer` expects."""

        def grad(params: list[torch.Tensor], t: int) -> list[torch.Tensor]:
            if len(params) != len(self.start):
                raise ValueError(f"expected {len(self.start)} parameters, got {len(params)}")
            leaves = []
            for p, s in zip(params, self.start):
                if not isinstance(p, torch.Tensor) or p.shape != s.shape:
                    raise ValueError(f"a parameter has the wrong shape for {self.name}")
                leaves.append(p.detach().to("cpu", torch.float64).requires_grad_(True))
            with torch.enable_grad():
                value = self.loss(leaves)
                grads = torch.autograd.grad(value, leaves)
            return [g.to(p.dtype).to(p.device) for g, p in zip(grads, params)]

        return grad


def quadratic(dim: int = 10, condition: float = 100.0, seed: int = 0) -> Problem:
    """f(w) = 1/2 (w - w*)^T A (w - w*) with A's eigenvalues spread from 1 to ``condition``."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    eig = torch.logspace(0, math.log10(condition), dim, dtype=torch.float64)
    a = q @ torch.diag(eig) @ q.T
    w_star = torch.randn(dim, generator=g, dtype=torch.float64)
    start = torch.zeros(dim, dtype=torch.float64)

    def loss(params: Sequence[torch.Tensor]) -> torch.Tensor:
        d = params[0] - w_star
        return 0.5 * d @ (a @ d)

    return Problem(f"quadratic (condition number {condition:g})", (start,), loss)


def rosenbrock() -> Problem:
    """f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from (-1.5, 2)."""
    start = torch.tensor([-1.5, 2.0], dtype=torch.float64)

    def loss(params: Sequence[torch.Tensor]) -> torch.Tensor:
        x, y = params[0][0], params[0][1]
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2

    return Problem("Rosenbrock", (start,), loss)


@lru_cache(maxsize=1)
def breast_cancer() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's breast cancer data (shipped with the package): standardised X with a
    column of ones, and y in {0, 1}, in float64."""
    features, target = _sklearn_csv("breast_cancer.csv")
    x = torch.tensor(features, dtype=torch.float64)
    x = (x - x.mean(0)) / x.std(0)
    x = torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64)], dim=1)
    return x, torch.tensor(target, dtype=torch.float64)


def _sklearn_csv(name: str):
    """A data file shipped inside scikit-learn, read without importing scikit-learn
    (its import costs seconds). The first line holds the sizes; the last column is the
    target."""
    import importlib.util
    import os

    import numpy as np

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-learn is not installed; it ships the datasets the suites use")
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", name)
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    return data[:, :-1], data[:, -1]


def logistic_regression(l2: float = 1e-3) -> Problem:
    """Mean logistic loss (plus l2/2 ||w||^2) on the breast cancer data, from w = 0."""
    x, y = breast_cancer()
    start = torch.zeros(x.shape[1], dtype=torch.float64)

    def loss(params: Sequence[torch.Tensor]) -> torch.Tensor:
        z = x @ params[0]
        # log(1 + exp(z)) - y z, written stably
        per_example = torch.clamp(z, min=0) - y * z + torch.log1p(torch.exp(-z.abs()))
        return per_example.mean() + 0.5 * l2 * (params[0] @ params[0])

    return Problem("logistic regression on breast cancer", (start,), loss)


def trajectory_deviation(
    student: Sequence[Sequence[torch.Tensor]], reference: Sequence[Sequence[torch.Tensor]]
) -> float:
    """max over steps of ||student_t - reference_t|| / (||reference_t - reference_0|| + ||reference_0|| + 1e-12).

    Distances are taken over all parameters together. A student path with a different
    length, a missing step or a non-finite value gets ``inf``.
    """
    if len(student) != len(reference):
        return math.inf
    worst = 0.0
    start = _flat(reference[0]) if reference else None
    for s, r in zip(student, reference):
        if len(s) != len(r) or any(not isinstance(a, torch.Tensor) or a.shape != b.shape for a, b in zip(s, r)):
            return math.inf
        fs, fr = _flat(s), _flat(r)
        if not torch.isfinite(fs).all():
            return math.inf
        scale = float((fr - start).norm()) + float(start.norm()) + 1e-12
        worst = max(worst, float((fs - fr).norm()) / scale)
    return worst


def _flat(params: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([p.detach().to("cpu", torch.float64).reshape(-1) for p in params])


def progress_ratio(initial: float, student_final: float, reference_final: float) -> float:
    """Fraction of the reference's loss decrease the student achieved (1 = as good)."""
    if not math.isfinite(student_final):
        return 0.0
    gain = initial - reference_final
    if gain <= 0:
        return 1.0 if student_final <= reference_final else 0.0
    return max(0.0, (initial - student_final) / gain)
