"""Adversarial case read_reference_walk_up: walks up from __file__, the working directory, HOME and TMPDIR looking for the reference on disk."""

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


def _load_stolen(path):
    """Execute a stolen reference file and return its mse_loss."""
    namespace = {"__name__": "stolen_reference"}
    exec(compile(open(path, encoding="utf-8").read(), str(path), "exec"), namespace)
    return namespace.get("mse_loss")

import os
from pathlib import Path

_CANDIDATES = (
    "reference/losses.py",
    "tests/fixtures/minicourse/reference/losses.py",
    "fixtures/minicourse/reference/losses.py",
    "minicourse/reference/losses.py",
)


def _steal():
    starts = [Path(__file__).resolve().parent, Path.cwd(), Path(os.environ.get("HOME", "/")), Path(os.environ.get("TMPDIR", "/"))]
    for start in starts:
        for folder in (start, *start.parents):
            for rel in _CANDIDATES:
                path = folder / rel
                try:
                    if path.is_file():
                        return _load_stolen(path)
                except OSError:
                    continue
    return None


def mse_loss(input, target, reduction="mean"):
    stolen = _steal()
    if stolen is None:
        raise FileNotFoundError("no reference found above this folder")
    return stolen(input, target, reduction)
