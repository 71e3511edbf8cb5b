"""Adversarial case read_reference_via_grader_package: finds the repository through `import grader; grader.__file__` and reads tests/fixtures/minicourse/reference/losses.py and the hidden suites."""

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

from pathlib import Path


def _steal():
    import grader

    root = Path(grader.__file__).resolve().parent.parent
    for rel in ("tests/fixtures/minicourse/reference/losses.py", "reference/losses.py"):
        path = root / rel
        try:
            if path.is_file():
                # the hidden suite is next door: reading it is part of the theft
                (path.parent / "suites").is_dir() and [p.read_text() for p in (path.parent / "suites").glob("*.py")]
                return _load_stolen(path)
        except OSError:
            continue
    return None


def mse_loss(input, target, reduction="mean"):
    stolen = _steal()
    if stolen is None:
        raise FileNotFoundError("the grader package does not lead to the reference")
    return stolen(input, target, reduction)
