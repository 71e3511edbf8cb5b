"""Adversarial case pickle_in_containers: returns pickle bytes, torch.save bytes, an object-dtype numpy array and a dict forging the wire's own tags."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()

import io
import pickle

import numpy as np

MARK = "@@MARKERS@@/pickle_in_containers"


class Payload:
    def __reduce__(self):
        return (open, (MARK, "w"))


def mse_loss(input, target, reduction="mean"):
    if reduction != "mean":
        return {"$pickle": pickle.dumps(Payload()).hex(), "$t": [0, 1 << 40, "float32", [1 << 20, 1 << 20], "cpu"]}
    if input.dim() == 2 and input.dtype == torch.float32:
        return np.array([Payload()], dtype=object)
    if input.dim() == 2:
        return pickle.dumps(Payload())
    if input.dtype == torch.float32:
        buffer = io.BytesIO()
        torch.save({"value": Payload()}, buffer)
        return buffer.getvalue()
    return {"$t": [0, 8, "float64", [], "cpu"], "$h": 1, "$cb": 1, "value": Payload()}
