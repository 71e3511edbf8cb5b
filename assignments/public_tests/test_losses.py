"""Public self-check for losses.py: a few basic cases per function, compared with PyTorch.

The hidden suite checks much more (every reduction, edge cases, large logits, error
messages); passing these is a start, not a guarantee.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Categorical

from grader.diagnosis import Mistake

NAN_HINT = Mistake("nan or inf: use a numerically stable formula (subtract the max before exp, "
                   "clamp the logs, log1p)", problem="nan")
INF_HINT = Mistake("nan or inf: use a numerically stable formula (subtract the max before exp, "
                   "clamp the logs, log1p)", problem="inf")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(student, check, gen, device, dtype, reduction):
    x = torch.randn(5, 3, generator=gen, dtype=dtype).to(device)
    y = torch.randn(5, 3, generator=gen, dtype=dtype).to(device)
    check.close(student.losses.mse_loss(x, y, reduction=reduction), F.mse_loss(x, y, reduction=reduction))


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_l1_loss(student, check, gen, device, dtype, reduction):
    x = torch.randn(4, 6, generator=gen, dtype=dtype)
    y = torch.randn(4, 6, generator=gen, dtype=dtype)
    x[0] = y[0]  # zero residuals
    x, y = x.to(device), y.to(device)
    check.close(student.losses.l1_loss(x, y, reduction=reduction), F.l1_loss(x, y, reduction=reduction))


@pytest.mark.parametrize("delta", [1.0, 2.0])
def test_huber_loss(student, check, gen, device, dtype, delta):
    y = torch.zeros(8, dtype=dtype)
    x = torch.tensor([-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.5, 4.0], dtype=dtype) * delta
    x, y = x.to(device), y.to(device)
    check.close(student.losses.huber_loss(x, y, reduction="none", delta=delta),
                F.huber_loss(x, y, reduction="none", delta=delta))


def test_regression_shape_mismatch(student, check, gen, device):
    x = torch.randn(6, 1, generator=gen).to(device)
    y = torch.randn(6, generator=gen).to(device)
    with check.raises(ValueError, match="shape|target|input"):
        student.losses.mse_loss(x, y)


@pytest.mark.parametrize("case", ["random", "exact-0-and-1"])
def test_binary_cross_entropy(student, check, gen, device, dtype, case):
    if case == "random":
        p = torch.rand(4, 5, generator=gen, dtype=dtype) * 0.98 + 0.01
        y = (torch.rand(4, 5, generator=gen, dtype=dtype) > 0.5).to(dtype)
    else:  # torch clamps each log at -100: a confident wrong answer costs 100
        p = torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=dtype)
        y = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=dtype)
    p, y = p.to(device), y.to(device)
    reduction = "mean" if case == "random" else "none"
    check.close(student.losses.binary_cross_entropy(p, y, reduction=reduction),
                F.binary_cross_entropy(p, y, reduction=reduction), scale=100.0, mistakes=[NAN_HINT, INF_HINT])


@pytest.mark.parametrize("scale", [1.0, 1e3])
def test_binary_cross_entropy_with_logits(student, check, gen, device, dtype, scale):
    z = (torch.randn(3, 4, generator=gen, dtype=dtype) * 4 * scale).to(device)
    y = torch.rand(3, 4, generator=gen, dtype=dtype).to(device)
    check.close(student.losses.binary_cross_entropy_with_logits(z, y, reduction="none"),
                F.binary_cross_entropy_with_logits(z, y, reduction="none"),
                scale=float(z.abs().max()), mistakes=[NAN_HINT, INF_HINT])


CE_CASES = [
    pytest.param(1.0, {}, id="basic"),
    pytest.param(1e3, {}, id="large-logits"),
    pytest.param(1.0, {"ignore_index": 1}, id="ignore_index"),
    pytest.param(1.0, {"label_smoothing": 0.1}, id="label_smoothing"),
]


@pytest.mark.parametrize("scale,kwargs", CE_CASES)
def test_cross_entropy(student, check, gen, device, dtype, scale, kwargs):
    x = (torch.randn(6, 4, generator=gen, dtype=dtype) * 3 * scale).to(device)
    t = torch.tensor([0, 1, 2, 3, 1, 0]).to(device)
    check.close(student.losses.cross_entropy(x, t, **kwargs), F.cross_entropy(x, t, **kwargs),
                scale=float(x.abs().max()), mistakes=[NAN_HINT, INF_HINT])


def test_cross_entropy_prob_targets(student, check, gen, device, dtype):
    x = (torch.randn(5, 3, generator=gen, dtype=dtype) * 3).to(device)
    p = torch.softmax(torch.randn(5, 3, generator=gen, dtype=dtype), -1).to(device)
    check.close(student.losses.cross_entropy(x, p), F.cross_entropy(x, p), scale=float(x.abs().max()))


def test_nll_loss(student, check, gen, device, dtype):
    logp = torch.log_softmax(torch.randn(5, 4, generator=gen, dtype=dtype), -1).to(device)
    t = torch.tensor([3, 0, -100, 1, 2]).to(device)
    check.close(student.losses.nll_loss(logp, t), F.nll_loss(logp, t))


def _dists(gen, dtype):
    p = torch.softmax(torch.randn(4, 5, generator=gen, dtype=dtype), -1)
    p[0, 1:3] = 0.0  # zero probabilities contribute 0
    p = p / p.sum(-1, keepdim=True)
    q = torch.softmax(torch.randn(4, 5, generator=gen, dtype=dtype), -1)
    return p, q


@pytest.mark.parametrize("fn", ["entropy", "cross_entropy_dist", "kl_divergence", "perplexity"])
def test_information_theory(student, check, gen, device, dtype, fn):
    p, q = _dists(gen, dtype)
    p, q = p.to(device), q.to(device)
    h = -torch.xlogy(p, q).sum(-1)
    expected = {
        "entropy": Categorical(probs=p).entropy(),
        "cross_entropy_dist": h,
        "kl_divergence": (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(-1),
        "perplexity": torch.exp(h),
    }[fn]
    args = (p,) if fn == "entropy" else (p, q)
    check.close(getattr(student.losses, fn)(*args), expected, mistakes=[
        Mistake("nan at zero probabilities: 0 * log 0 must count as 0 (torch.xlogy)", problem="nan")])


def test_entropy_base(student, check, gen, device, dtype):
    p, _ = _dists(gen, dtype)
    p = p.to(device)
    check.close(student.losses.entropy(p, base=2), Categorical(probs=p).entropy() / torch.log(
        torch.tensor(2.0, dtype=dtype, device=device)))


@pytest.mark.parametrize("case", ["reduction", "delta", "label_smoothing", "class-index"])
def test_bad_arguments(student, check, gen, device, case):
    x = torch.randn(3, 4, generator=gen).to(device)
    t = torch.tensor([0, 1, 3]).to(device)
    if case == "reduction":
        with check.raises(ValueError, match="reduction"):
            student.losses.mse_loss(x, x, reduction="avg")
    elif case == "delta":
        with check.raises(ValueError, match="delta"):
            student.losses.huber_loss(x, x, delta=0.0)
    elif case == "label_smoothing":
        with check.raises(ValueError, match="label_smoothing"):
            student.losses.cross_entropy(x, t, label_smoothing=1.5)
    else:
        with check.raises(ValueError, match="target|class|index|range"):
            student.losses.cross_entropy(x, torch.tensor([0, 4, 1]).to(device))
