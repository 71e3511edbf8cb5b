"""Adversarial case forbidden_tuple_alias: torch under a name bound by tuple unpacking, then torch.nn.functional through it."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()


T, unused = torch, None


def mse_loss(input, target, reduction="mean"):
    return T.nn.functional.mse_loss(input, target, reduction=reduction)
