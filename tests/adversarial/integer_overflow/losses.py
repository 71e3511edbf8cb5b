"""Adversarial case integer_overflow: returns an integer far outside any float, which the grader used to choke on."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()


def mse_loss(input, target, reduction="mean"):
    return 10 ** 400
