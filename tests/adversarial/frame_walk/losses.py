"""Adversarial case frame_walk: walks the call stack (sys._getframe, inspect) looking for the expected value."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()

import inspect
import sys

_WANTED = ("expected", "reference", "ref", "want", "wanted", "answer")


def _hunt():
    frame = sys._getframe(1)
    while frame is not None:
        for key, value in frame.f_locals.items():
            if key in _WANTED and isinstance(value, torch.Tensor):
                return value
        frame = frame.f_back
    for info in inspect.stack():
        for key, value in info.frame.f_locals.items():
            if key in _WANTED and isinstance(value, torch.Tensor):
                return value
    return None


def mse_loss(input, target, reduction="mean"):
    found = _hunt()
    if found is not None:
        return found
    raise LookupError("no expected value anywhere on the stack")
