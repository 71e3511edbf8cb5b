"""Adversarial case inplace_mutation: zeroes its inputs in place so a reference computed afterwards on the same tensors would agree with 0."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()


def mse_loss(input, target, reduction="mean"):
    input.zero_()
    target.zero_()
    return torch.zeros((), dtype=input.dtype) if reduction != "none" else torch.zeros_like(input)
