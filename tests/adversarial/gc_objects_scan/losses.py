"""Adversarial case gc_objects_scan: searches gc.get_objects() for the reference's functions and the hidden suite's code."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()

import gc
import sys
import types


def _steal():
    for obj in gc.get_objects():
        if not isinstance(obj, types.FunctionType):
            continue
        filename = obj.__code__.co_filename
        installed = filename.startswith((sys.prefix, sys.base_prefix)) or "-packages" in filename
        if filename == __file__ or installed or "/grader/" in filename:
            continue  # our own code, installed packages (torch has mse_loss functions) and the worker
        if obj.__name__ in ("mse_loss", "test_mse_loss"):
            return obj
    return None


def mse_loss(input, target, reduction="mean"):
    stolen = _steal()
    if stolen is None or stolen.__name__ != "mse_loss":
        raise LookupError("nothing secret in this process's objects")
    return stolen(input, target, reduction)
