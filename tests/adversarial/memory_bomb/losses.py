"""Adversarial case memory_bomb: allocates and touches 5 GiB (over the 4 GiB memory limit), then grows a list; the right answer only if that succeeds."""

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


def mse_loss(input, target, reduction="mean"):
    hog = torch.empty(5 << 30, dtype=torch.uint8)
    hog.fill_(1)
    more = [bytearray(64 << 20) for _ in range(80)]
    del hog, more
    return _what_cheating_buys(input, target, reduction)
