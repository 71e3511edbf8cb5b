"""Adversarial case ignore_signals: ignores and blocks SIGALRM, SIGTERM, SIGINT, SIGHUP, SIGXCPU and SIGUSR1, then computes the right answer too slowly."""

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

import signal
import time

_SIGNALS = (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU, signal.SIGUSR1)
for _sig in _SIGNALS:
    signal.signal(_sig, signal.SIG_IGN)
signal.pthread_sigmask(signal.SIG_BLOCK, set(_SIGNALS))


def mse_loss(input, target, reduction="mean"):
    end = time.monotonic() + 10.0
    while time.monotonic() < end:
        pass
    return _what_cheating_buys(input, target, reduction)
