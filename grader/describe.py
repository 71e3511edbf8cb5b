"""Short, readable descriptions of a call's inputs for feedback messages."""

from __future__ import annotations

from typing import Any

import torch

from grader.compare import shape_str

_SHOW_VALUES = 8


def _num(x: float) -> str:
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.4g}"


def describe_value(value: Any) -> str:
    """``float32 (8, 5) in [-1000, 1000]``, small tensors with their values, numbers as repr."""
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).replace("torch.", "")
        device = "" if value.device.type == "cpu" else f" on {value.device}"
        if value.numel() == 0:
            return f"empty {dtype} tensor {shape_str(value.shape)}{device}"
        t = value.detach().to("cpu")
        if t.numel() <= _SHOW_VALUES:
            flat = t.reshape(-1).tolist()
            vals = ", ".join(_num(float(v)) if not isinstance(v, bool) else str(v) for v in flat)
            return f"{dtype} {shape_str(t.shape)} [{vals}]{device}"
        if t.is_floating_point():
            finite = t[torch.isfinite(t)]
            if finite.numel():
                rng = f" in [{_num(float(finite.min()))}, {_num(float(finite.max()))}]"
            else:
                rng = " (no finite values)"
            return f"{dtype} {shape_str(t.shape)}{rng}{device}"
        if t.dtype == torch.bool:
            return f"bool {shape_str(t.shape)}{device}"
        return f"{dtype} {shape_str(t.shape)} in [{int(t.min())}, {int(t.max())}]{device}"
    if isinstance(value, torch.Generator):
        return "a torch.Generator"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(describe_value(v) for v in value[:4])
        more = ", ..." if len(value) > 4 else ""
        return f"[{inner}{more}]" if isinstance(value, list) else f"({inner}{more})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {describe_value(v)}" for k, v in list(value.items())[:6]) + "}"
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, (int, bool, str, type(None), torch.dtype)):
        return repr(value)
    remote = getattr(value, "_remote_path", None) or getattr(value, "remote_type", None)
    if isinstance(remote, str):
        return remote
    if callable(value):
        return "a function"
    return type(value).__name__


def describe_call(name: str, args: tuple | list, kwargs: dict) -> str:
    """``cross_entropy(float32 (8, 5) in [-1, 1], int64 (8,) in [0, 4], reduction='sum')``."""
    parts = [describe_value(a) for a in args]
    parts += [f"{k}={describe_value(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"
