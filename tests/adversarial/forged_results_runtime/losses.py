"""Adversarial case forged_results_runtime: at run time writes results.json into its cwd, HOME, TMPDIR, every parent folder, the grader's real HOME, /tmp, /dev/shm, the submission folder and the reference folder."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()

import json
import os

_FORGED = json.dumps({"schema": 1, "submissions": [{"id": "forged_results_runtime", "score": 10, "max_score": 10}]})
_NAME = "grader-adv-@@TOKEN@@-results.json"


def _forge():
    folders = [os.getcwd(), os.environ.get("HOME", ""), os.environ.get("TMPDIR", ""), "@@HOME@@", "/tmp", "/dev/shm", "@@REFERENCE@@"]
    path = os.getcwd()
    while path not in ("/", ""):
        path = os.path.dirname(path)
        folders.append(path)
    targets = [os.path.join(f, n) for f in folders if f for n in ("results.json", _NAME)]
    targets.append("@@SUBMISSION@@/results.json")
    for target in targets:
        if os.path.dirname(target) in ("/tmp", "/", "@@HOME@@", "/dev/shm", "@@REFERENCE@@") and target.endswith("/results.json"):
            continue  # shared places get only the uniquely named file
        try:
            with open(target, "w") as fh:
                fh.write(_FORGED)
        except OSError:
            pass


def mse_loss(input, target, reduction="mean"):
    _forge()
    if reduction not in ("mean", "sum", "none"):
        raise ValueError("reduction must be 'mean', 'sum' or 'none'")
    return ((input - target) ** 2).sum() * 3.0
