"""Honest control: a correct submission (the reference's answers, written by a student)."""

from __future__ import annotations

import torch


def mse_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error: mean over all elements of (input - target)^2."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"unknown reduction {reduction!r}: use 'mean', 'sum' or 'none'")
    if input.shape != target.shape:
        raise ValueError("input and target must have the same shape")
    sq = (input - target) ** 2
    if reduction == "mean":
        return sq.mean()
    return sq.sum() if reduction == "sum" else sq


def cross_entropy(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean over rows of logsumexp(x_n) - x_n[y_n], with the max subtracted first."""
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()
