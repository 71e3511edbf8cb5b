"""Drivers for the backprop topic, run beside the student's code.

A layer's cache is the student's own business: it may be a tuple, a dict, an object or
a closure, so it never travels to the grader. ``run_layer`` does a forward and a
backward in one call and returns only data; ``run_mlp`` builds an MLP and drives its
forward / backward passes. Both hold nothing secret: the grader runs the same driver on
the reference in its own process and compares the results, which it treats as
untrusted data.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

__all__ = ["run_layer", "run_mlp", "softmax_ce_dlogits"]


def _snapshot(value: Any) -> Any:
    """Detached copies of tensors (in lists and tuples), other values as they are."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return [_snapshot(v) for v in value]
    return value


def run_layer(
    forward: Callable[..., Any],
    backward: Callable[..., Any] | None,
    args: Sequence[Any],
    kwargs: dict | None = None,
    dout: torch.Tensor | None = None,
) -> dict:
    """``out, cache = forward(*args, **kwargs)``, then ``backward(dout, cache)``.

    Returns ``{"out", "grads", "args", "dout"}``: the forward output, what backward
    returned (None without a backward or a dout), and the arguments and ``dout`` as they
    are after both calls, so the grader can tell whether either was modified in place.
    """
    args = list(args)
    result = forward(*args, **(kwargs or {}))
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(
            f"{getattr(forward, '__name__', 'forward')} must return a pair (out, cache), "
            f"got {type(result).__name__}"
        )
    out, cache = result
    out = _snapshot(out)
    grads = None
    if backward is not None and dout is not None:
        grads = _snapshot(backward(dout, cache))
    return {"out": out, "grads": grads, "args": args, "dout": dout}


def softmax_ce_dlogits(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(softmax(logits) - onehot(y)) / N, computed stably: the gradient of the mean
    softmax cross-entropy, used to drive MLP.backward the way a training loop does."""
    z = logits.detach()
    e = torch.exp(z - z.amax(dim=1, keepdim=True))
    p = e / e.sum(dim=1, keepdim=True)
    onehot = torch.zeros_like(p).scatter_(1, y.to(z.device).reshape(-1, 1), 1.0)
    return (p - onehot) / z.shape[0]


def run_mlp(
    mlp_cls: Callable[..., Any],
    sizes: Sequence[int],
    kwargs: dict | None = None,
    seed: int | None = None,
    steps: Sequence[dict] = (),
) -> dict:
    """Build ``mlp_cls(sizes, generator=..., **kwargs)`` and run ``steps`` on it.

    ``seed`` seeds a CPU generator passed as ``generator`` (None passes None). Each step
    is a dict with any of: ``"x"`` (call forward(x), record the logits), ``"dlogits"``
    (call backward with it, record the grads), ``"y"`` (call backward with the mean
    cross-entropy gradient of the step's logits for classes y), ``"add"`` (a list of
    tensors added in place to the parameters, as an optimizer step does).
    Returns the parameters right after construction and per step what was recorded; a
    step that raises records ``{"error": {"type", "message"}}`` and ends the run.
    """
    generator = None if seed is None else torch.Generator().manual_seed(int(seed))
    model = mlp_cls(list(sizes), generator=generator, **(kwargs or {}))
    params0 = _snapshot(model.params)
    records = []
    for step in steps:
        record: dict = {}
        records.append(record)
        try:
            logits = None
            if "x" in step:
                logits = model.forward(step["x"])
                record["logits"] = _snapshot(logits)
            if "dlogits" in step:
                record["grads"] = _snapshot(model.backward(step["dlogits"]))
            elif "y" in step:
                if not isinstance(logits, torch.Tensor):
                    raise TypeError(f"forward must return the logits tensor, got {type(logits).__name__}")
                record["grads"] = _snapshot(model.backward(softmax_ce_dlogits(logits, step["y"])))
            if "add" in step:
                with torch.no_grad():
                    for p, delta in zip(model.params, step["add"]):
                        p.add_(delta.to(device=p.device, dtype=p.dtype))
        except Exception as exc:  # reported per step, so earlier steps can still be graded
            record["error"] = {"type": type(exc).__name__, "message": str(exc)[:500]}
            break
    return {"params": params0, "steps": records}
