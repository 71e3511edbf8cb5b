"""Adversarial case pickle_reduce_return: returns objects (plain and a tensor subclass) whose __reduce__/__reduce_ex__ create a marker file when unpickled."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()

MARK = "@@MARKERS@@/pickle_reduce_return"


class Payload:
    def __reduce__(self):
        return (open, (MARK, "w"))


class PayloadTensor(torch.Tensor):
    def __reduce_ex__(self, protocol):
        return (open, (MARK, "w"))


def mse_loss(input, target, reduction="mean"):
    if input.dim() == 1:
        return (((input - target) ** 2).sum() * 3.0).as_subclass(PayloadTensor)
    return Payload()
