"""Adversarial case evil_wire_frames: writes forged and malformed reply frames straight into the worker's reply pipe (huge lengths, bad JSON, tensors past the blob, unknown handles, callbacks)."""

import torch


def cross_entropy(input, target, reduction="mean"):
    # the honest part: a correct cross-entropy that must keep its points
    m = input.amax(dim=-1, keepdim=True)
    lse = (input - m).exp().sum(-1).log() + m.squeeze(-1)
    losses = lse - input.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return losses.mean() if reduction == "mean" else losses.sum()

import gc
import json
import os
import struct
import time

_FRAME = struct.Struct("<IQ")


def _reply_fd():
    for obj in gc.get_objects():
        if type(obj).__name__ == "Worker" and hasattr(obj, "resp_fd"):
            return obj.resp_fd
    return 1


def _frame(header, blob=b""):
    data = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return _FRAME.pack(len(data), len(blob)) + data + blob


def mse_loss(input, target, reduction="mean"):
    variants = {
        (12, torch.float32): _FRAME.pack(0xFFFFFFFF, 1 << 62),
        (12, torch.float64): _frame(b"{not json at all"),
        (6, torch.float32): _frame({"op": "result", "value": {"$t": [0, 1 << 40, "float32", [1 << 20, 1 << 20], "cpu"]}}, b"\0" * 8),
        (6, torch.float64): _frame({"op": "result", "value": {"$h": 987654, "type": "Tensor"}}),
        (2, torch.float32): _frame({"op": "callback", "id": 424242, "args": [], "kwargs": {}}),
        (3, torch.float32): _frame({"op": "result", "value": {"$pickle": "80049500"}, "args": [{"$t": [0, 12, "float32", [3], "cpu"]}]}, b"\0" * 4),
    }
    frame = variants.get((input.numel(), input.dtype), _frame({"op": "result", "value": 0.0}) * 50)
    os.write(_reply_fd(), frame)
    time.sleep(30)
