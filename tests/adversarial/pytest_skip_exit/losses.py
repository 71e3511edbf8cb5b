"""Adversarial case pytest_skip_exit: calls pytest.skip, pytest.exit(returncode=0) and pytest.xfail from student code."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()

import pytest


def mse_loss(input, target, reduction="mean"):
    if input.dim() == 2:
        pytest.skip("nothing to see here")
    if input.dtype == torch.float32 and input.numel() == 6:
        pytest.exit("all tests passed", returncode=0)
    pytest.xfail("expected to fail")
