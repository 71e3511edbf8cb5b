"""Adversarial case forbidden_computed_name: torch.nn.functional.mse_loss found by a name assembled at run time, invisible to the static check."""

import importlib

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()


def mse_loss(input, target, reduction="mean"):
    module = importlib.import_module("torch.nn." + "functional"[::-1][::-1])
    name = "".join(["ms", "e_", "loss"])
    return getattr(module, name)(input, target, reduction=reduction)
