"""Adversarial case import_reference_module: imports the reference as a module (reference.losses, tests.fixtures...), adding every ancestor of sys.path to sys.path."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()


def _what_cheating_buys(input, target, reduction="mean"):
    # the right answer: what the attack earns if the grader fails to stop it
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"unknown reduction {reduction!r}: use 'mean', 'sum' or 'none'")
    sq = (input - target) ** 2
    if reduction == "mean":
        return sq.mean()
    return sq.sum() if reduction == "sum" else sq

import importlib
import os
import sys

_NAMES = ("reference.losses", "tests.fixtures.minicourse.reference.losses", "minicourse.reference.losses")


def _try_import():
    for name in _NAMES:
        try:
            module = importlib.import_module(name)
        except BaseException:
            continue
        if hasattr(module, "mse_loss") and module.__name__ != __name__:
            return module.mse_loss
    return None


def _steal():
    found = _try_import()
    if found is not None:
        return found
    for entry in list(sys.path):
        path = os.path.realpath(entry or ".")
        while path not in ("/", ""):
            if path not in sys.path:
                sys.path.append(path)
            path = os.path.dirname(path)
    return _try_import()


def mse_loss(input, target, reduction="mean"):
    stolen = _steal()
    if stolen is None:
        raise ImportError("no reference module importable")
    return stolen(input, target, reduction)
