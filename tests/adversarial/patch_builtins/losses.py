"""Adversarial case patch_builtins: replaces builtins.isinstance, abs, all and any with liars, and returns a fake that claims to be a tensor."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()

import builtins

_real_isinstance = builtins.isinstance


class Fake:
    """Claims to be every type; equal to everything."""

    def __eq__(self, other):
        return True

    def __float__(self):
        return 0.0


def _lying_isinstance(obj, classes):
    if type(obj) is Fake:
        return True
    return _real_isinstance(obj, classes)


builtins.isinstance = _lying_isinstance
builtins.abs = lambda x: 0.0
builtins.all = lambda iterable: True
builtins.any = lambda iterable: True


def mse_loss(input, target, reduction="mean"):
    return Fake()
