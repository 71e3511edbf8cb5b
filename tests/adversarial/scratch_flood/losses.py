"""Adversarial case scratch_flood: writes 10 files of 60 MiB (each under the per-file cap) into its scratch folder, 600 MiB in all."""

import os

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()


def mse_loss(input, target, reduction="mean"):
    block = b"0" * (1 << 20)
    written = 0
    for i in range(10):
        try:
            with open(f"flood{i}.bin", "wb") as fh:
                for _ in range(60):
                    fh.write(block)
                    written += 1
        except OSError:
            break
    raise RuntimeError(f"wrote {written} MiB")
