"""Adversarial case time_patching: freezes time.time, perf_counter, monotonic and process_time (and their _ns forms), then takes 5 s for the right answer."""

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

import time

_real_sleep = time.sleep
_FROZEN = time.time()
for _name in ("time", "perf_counter", "monotonic", "process_time"):
    setattr(time, _name, lambda: _FROZEN)
    setattr(time, _name + "_ns", lambda: int(_FROZEN * 1e9))


def mse_loss(input, target, reduction="mean"):
    _real_sleep(5.0)
    return _what_cheating_buys(input, target, reduction)
