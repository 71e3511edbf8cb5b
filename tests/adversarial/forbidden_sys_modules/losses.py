"""Adversarial case forbidden_sys_modules: torch.nn.functional looked up in sys.modules."""

import sys

import torch
import torch.nn.functional  # noqa: F401  (loaded, then found again through sys.modules)


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()


def mse_loss(input, target, reduction="mean"):
    return sys.modules["torch.nn.functional"].mse_loss(input, target, reduction=reduction)
