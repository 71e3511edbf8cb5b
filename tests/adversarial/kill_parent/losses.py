"""Adversarial case kill_parent: os.kill(os.getppid(), SIGKILL): kills the fork server that spawns every worker."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()

import os
import signal
import time


def mse_loss(input, target, reduction="mean"):
    parent = os.getppid()
    if parent > 1:  # 0 inside a PID namespace: the fork server is out of sight
        os.kill(parent, signal.SIGKILL)
    time.sleep(0.5)
    raise RuntimeError("the parent should be gone")
