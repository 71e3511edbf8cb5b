"""Adversarial case lying_ndarray_subclass: returns a numpy.ndarray subclass whose __eq__, __array_ufunc__ and __array_function__ always agree."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()

import numpy as np


class Agreeable(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)

    def __ne__(self, other):
        return np.zeros(np.shape(self), dtype=bool)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return True

    def __array_function__(self, func, types, args, kwargs):
        return True


def mse_loss(input, target, reduction="mean"):
    wrong = ((input - target) ** 2).sum().item() * 3.0
    dtype = np.float64 if input.dtype == torch.float64 else np.float32
    return np.asarray(wrong, dtype=dtype).view(Agreeable)
