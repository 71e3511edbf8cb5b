"""Adversarial case forbidden_method_shadow: Tensor.log_softmax called in a module that also defines a function named log_softmax."""

import torch


def log_softmax(x):
    # an honest helper, never used: its name used to hide the tensor method below
    return x - x.exp().sum(-1, keepdim=True).log()


def cross_entropy(input, target, reduction="mean"):
    losses = -input.log_softmax(-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()


def mse_loss(input, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"unknown reduction {reduction!r}")
    sq = (input - target) ** 2
    return sq.mean() if reduction == "mean" else (sq.sum() if reduction == "sum" else sq)
