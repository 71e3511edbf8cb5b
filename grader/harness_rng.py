"""A driver for checks of randomness: calls made in order right after seeding torch's
global generator, run beside the student's code.

Whether a function draws from torch's global generator, or changes its state, can only
be seen through what the function returns: the grader asks for the same calls under
different global seeds, or with and without a call in between, and compares the values
itself. This driver only makes the calls and returns what they returned; it judges
nothing.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

__all__ = ["run_sequence"]

Call = Sequence[Any]  # [fn, args, kwargs] or [fn, args, kwargs, pick]


def run_sequence(calls: Sequence[Call], global_seed: int | None = None) -> list:
    """``torch.manual_seed(global_seed)`` (unless None), then each ``fn(*args, **kwargs)``
    in order. Returns what each call returned, or item ``pick`` of it when a fourth
    element is given (``dropout_forward``'s output without its cache, say)."""
    if global_seed is not None:
        torch.manual_seed(int(global_seed))
    out = []
    for call in calls:
        fn: Callable[..., Any] = call[0]
        result = fn(*list(call[1] or ()), **dict(call[2] or {}))
        if len(call) > 3 and call[3] is not None:
            result = result[int(call[3])]
        out.append(result)
    return out
