"""Adversarial case forbidden_aten_op: log_softmax through torch.ops.aten._log_softmax.default."""

import torch


def cross_entropy(input, target, reduction="mean"):
    logp = torch.ops.aten._log_softmax.default(input, -1, False)
    losses = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()


def mse_loss(input, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"unknown reduction {reduction!r}")
    sq = (input - target) ** 2
    return sq.mean() if reduction == "mean" else (sq.sum() if reduction == "sum" else sq)
