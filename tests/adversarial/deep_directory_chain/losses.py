"""Adversarial case deep_directory_chain: builds a 3000-level chain of folders in its working folder at import; removing it used to crash the whole class run."""

import os

import torch

for _ in range(3000):
    os.mkdir("d")
    os.chdir("d")
with open("leaf", "w") as fh:
    fh.write("the bottom")


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()


def mse_loss(input, target, reduction="mean"):
    raise RuntimeError("no mse_loss here")
