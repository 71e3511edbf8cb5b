"""Drivers for weight initializers, run beside the student's functions in the worker.

An initializer must fill its tensor in place under no_grad, return that same tensor,
keep a leaf a leaf, and draw only from the generator it is given. These functions make
the calls on tensors they build themselves and report what came out as plain data. They
hold nothing secret and the grader trusts none of it: it scores only values it can
judge (what was drawn, under which seeds), and what the worker says about Python
objects (the same object returned, a view filled) can only become a note.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch

__all__ = ["run_init", "sample_init", "init_layers"]


def _device(device: Any) -> torch.device:
    return torch.device(device if device is not None else "cpu")


def _fresh(shape: Sequence[int], dtype: torch.dtype, device: torch.device, view: str | None,
           requires_grad: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A tensor of ``shape`` full of nan, or a non-contiguous view into a nan base."""
    shape = tuple(int(s) for s in shape)
    if view is None:
        t = torch.full(shape, math.nan, dtype=dtype, device=device)
        if requires_grad:
            t.requires_grad_(True)
        return t, None
    if view == "transpose":  # t = base.T: the same memory, dimensions reversed
        base = torch.full(tuple(reversed(shape)), math.nan, dtype=dtype, device=device)
        return base.permute(*reversed(range(len(shape)))), base
    if view == "strided":  # every other column of a wider base
        wide = (shape[0], 2 * shape[1], *shape[2:]) if len(shape) >= 2 else (2 * shape[0],)
        base = torch.full(wide, math.nan, dtype=dtype, device=device)
        return (base[:, ::2] if len(shape) >= 2 else base[::2]), base
    raise ValueError(f"unknown view {view!r}")


def run_init(
    fn: Callable[..., Any],
    shape: Sequence[int],
    kwargs: dict | None = None,
    runs: Sequence[dict] = ({},),
    dtype: torch.dtype = torch.float32,
    device: Any = "cpu",
) -> list[dict]:
    """Call the initializer ``fn(t, **kwargs)`` once per entry of ``runs``, each time on
    a fresh tensor ``t`` of ``shape`` filled with nan, and report what happened.

    A run is a dict: ``seed`` (int: pass ``generator=torch.Generator(device).manual_seed(seed)``;
    absent or None: pass no generator), ``global_seed`` (int: ``torch.manual_seed`` first),
    ``requires_grad`` (make ``t`` a leaf that requires grad), ``view`` (``"transpose"`` or
    ``"strided"``: ``t`` is a non-contiguous view into a larger base tensor), ``then_none``
    (afterwards, call ``fn`` once more on a fresh tensor without a generator: a draw from
    torch's global generator, which shows whether the first call moved it).

    Each report: ``returned`` (what ``fn`` returned, when it is a tensor: detached; else
    None), ``returned_type``, ``same_object`` (``fn`` returned ``t`` itself), ``values``
    (``t`` afterwards, detached), ``base`` (the view's base afterwards, or None),
    ``is_leaf``, ``requires_grad``, ``has_grad_fn`` (of ``t`` afterwards) and, with
    ``then_none``, ``then`` (what that second call produced). The grader judges only
    values; the other fields can only ever become notes.
    """
    dev = _device(device)
    reports = []
    for run in runs:
        run = dict(run or {})
        t, base = _fresh(shape, dtype, dev, run.get("view"), bool(run.get("requires_grad")))
        call_kwargs = dict(kwargs or {})
        if run.get("seed") is not None:
            call_kwargs["generator"] = torch.Generator(device=dev).manual_seed(int(run["seed"]))
        if run.get("global_seed") is not None:
            torch.manual_seed(int(run["global_seed"]))
        out = fn(t, **call_kwargs)
        report = {
            "returned": out.detach().clone() if isinstance(out, torch.Tensor) else None,
            "returned_type": type(out).__name__,
            "same_object": out is t,
            "values": t.detach().clone(),
            "base": None if base is None else base.detach().clone(),
            "is_leaf": bool(t.is_leaf),
            "requires_grad": bool(t.requires_grad),
            "has_grad_fn": t.grad_fn is not None,
        }
        if run.get("then_none"):
            t2, _ = _fresh(shape, dtype, dev, None, False)
            out2 = fn(t2, **dict(kwargs or {}))
            report["then"] = (out2 if isinstance(out2, torch.Tensor) and out2.shape == t2.shape else t2).detach().clone()
        reports.append(report)
    return reports


def sample_init(
    fn: Callable[..., Any],
    shape: Sequence[int],
    kwargs: dict | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: Any = "cpu",
) -> Any:
    """``fn(t, **kwargs, generator=g)`` on a fresh tensor ``t`` of ``shape`` (nan-filled)
    with ``g`` seeded by ``seed``; returns the sample to judge: what ``fn`` returned when
    that is a tensor of ``shape`` (a new tensor is graded elsewhere), else ``t``."""
    dev = _device(device)
    t = torch.full(tuple(int(s) for s in shape), math.nan, dtype=dtype, device=dev)
    got = fn(t, **dict(kwargs or {}), generator=torch.Generator(device=dev).manual_seed(int(seed)))
    if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(t.shape):
        return got.detach().clone()
    return t.detach().clone()


def init_layers(
    fn: Callable[..., Any],
    shapes: Sequence[Sequence[int]],
    kwargs: dict | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: Any = "cpu",
) -> list[torch.Tensor | None]:
    """Initialise the weights of a whole network: ``fn(w, **kwargs, generator=g)`` for a
    fresh tensor ``w`` of each shape in turn, with one generator seeded once, as a model
    constructor would. Returns what ``fn`` returned for each layer when that is a tensor
    (detached), else the filled ``w``; the grader runs the network itself."""
    dev = _device(device)
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    out: list[torch.Tensor | None] = []
    for shape in shapes:
        w = torch.full(tuple(int(s) for s in shape), math.nan, dtype=dtype, device=dev)
        got = fn(w, **dict(kwargs or {}), generator=gen)
        out.append((got if isinstance(got, torch.Tensor) else w).detach().clone())
    return out
