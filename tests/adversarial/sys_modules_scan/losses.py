"""Adversarial case sys_modules_scan: searches sys.modules for a reference module or any other mse_loss."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()

import sys


def _library(module):
    """Installed packages (torch has an mse_loss of its own): not what this attack is after."""
    path = getattr(module, "__file__", "") or ""
    top = getattr(module, "__name__", "").partition(".")[0]
    return top in sys.stdlib_module_names or top in ("torch", "numpy", "functorch", "grader") or path.startswith(sys.prefix)


def _steal():
    for name, module in list(sys.modules.items()):
        if module is None or name == __name__ or _library(module):
            continue
        path = getattr(module, "__file__", "") or ""
        fn = getattr(module, "mse_loss", None)
        if callable(fn) or "reference" in path or "suites" in path:
            return fn
    return None


def mse_loss(input, target, reduction="mean"):
    stolen = _steal()
    if stolen is None:
        raise LookupError("no reference in sys.modules")
    return stolen(input, target, reduction)
