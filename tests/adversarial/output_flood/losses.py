"""Adversarial case output_flood: floods stdout and stderr with 32 MiB each per call, including fake pass lines and fake results JSON, then returns a wrong value."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()

import os
import sys

_FAKE = b"10 passed in 0.01s\n" + b'{"score": 10, "max_score": 10}\n'


def mse_loss(input, target, reduction="mean"):
    print("10 passed in 0.01s", flush=True)
    chunk = _FAKE * ((1 << 20) // len(_FAKE))
    for _ in range(32):
        os.write(1, chunk)
        os.write(2, chunk)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError("reduction must be 'mean', 'sum' or 'none'")
    return ((input - target) ** 2).sum() * 3.0
