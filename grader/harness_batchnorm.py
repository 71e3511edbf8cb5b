"""Worker-side driver for batchnorm.py: several forward (and backward) calls in one trip.

Batch normalisation keeps state between calls: the running statistics that
``batchnorm_forward`` updates in place. :func:`run_batchnorm` holds the running buffers
beside the student's functions, feeds them a sequence of batches (training steps, then
evaluation steps), and returns what the grader needs to compare with the reference: each
step's output, the buffers as they are after the step, the backward results for the
steps that ask for them, and which inputs a call modified. It returns data only; the
grader runs the same driver on the reference and decides what the differences mean.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

__all__ = ["run_batchnorm", "run_layernorm"]


def _data(value: Any) -> Any:
    """Tensors detached and copied; containers recursively; anything else by name."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return [_data(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return f"<{type(value).__name__} object>"


def _same(before: torch.Tensor, after: Any) -> bool:
    """``after`` still holds exactly ``before`` (nan where it had nan)."""
    if not isinstance(after, torch.Tensor) or after.shape != before.shape:
        return False
    a = after.detach()
    return bool(torch.equal(a.isnan(), before.isnan()) and torch.equal(a.nan_to_num(), before.nan_to_num()))


def _split(result: Any, n: int, name: str) -> tuple[list | None, str | None]:
    if isinstance(result, (tuple, list)) and len(result) == n:
        return list(result), None
    kind = f"a {type(result).__name__} of length {len(result)}" if isinstance(result, (tuple, list)) \
        else f"a {type(result).__name__}"
    return None, f"{name} must return a tuple of {n} values, returned {kind}"


def _run_backward(backward: Callable[..., Any], dout: torch.Tensor, cache: Any, record: dict,
                  name: str) -> None:
    keep = dout.detach().clone()
    grads, problem = _split(backward(dout, cache), 3, name)
    if problem:
        record["error"] = problem
        return
    record["dx"], record["dgamma"], record["dbeta"] = (_data(g) for g in grads)
    if not _same(keep, dout):
        record["modified"].append("dout")


def run_batchnorm(forward: Callable[..., Any], backward: Callable[..., Any] | None, spec: dict) -> dict:
    """Drive ``forward`` (batchnorm_forward) through ``spec["steps"]``.

    ``spec``: ``gamma``, ``beta``, ``running_mean``, ``running_var`` (the buffers' initial
    values, copied here and then owned by the run) and ``steps``, a list of dicts with
    ``x``, ``training``, optionally ``momentum`` and ``eps`` (passed only when given) and
    ``dout`` (then ``backward(dout, cache)`` runs right after that step's forward).
    Arguments after the first two go by keyword.

    Returns ``{"steps": [...]}``, one dict per step that ran, with ``out``, the buffers
    after the step (``running_mean``, ``running_var``), ``dx``/``dgamma``/``dbeta`` for
    backward steps, and ``modified``: the names of inputs the calls changed (x, gamma,
    beta, dout). A step whose function returned the wrong structure carries ``error``
    and ends the run.
    """
    gamma = spec["gamma"].detach().clone()
    beta = spec["beta"].detach().clone()
    running_mean = None if spec.get("running_mean") is None else spec["running_mean"].detach().clone()
    running_var = None if spec.get("running_var") is None else spec["running_var"].detach().clone()
    steps: list[dict] = []
    for step in spec["steps"]:
        x = step["x"].detach().clone()
        kept = {"x": x.clone(), "gamma": gamma.clone(), "beta": beta.clone()}
        kwargs = {"beta": beta, "running_mean": running_mean, "running_var": running_var,
                  "training": bool(step["training"])}
        for key in ("momentum", "eps"):
            if key in step:
                kwargs[key] = step[key]
        record: dict = {"modified": []}
        steps.append(record)
        pair, problem = _split(forward(x, gamma, **kwargs), 2, "batchnorm_forward")
        if problem:
            record["error"] = problem
            break
        out, cache = pair
        record["out"] = _data(out)
        record["running_mean"] = _data(running_mean)
        record["running_var"] = _data(running_var)
        for name, before in kept.items():
            if not _same(before, {"x": x, "gamma": gamma, "beta": beta}[name]):
                record["modified"].append(name)
        if step.get("dout") is not None and backward is not None:
            _run_backward(backward, step["dout"].detach().clone(), cache, record, "batchnorm_backward")
            if "error" in record:
                break
        # later steps start from the original gamma, beta even if a call modified them
        gamma.copy_(kept["gamma"])
        beta.copy_(kept["beta"])
    return {"steps": steps}


def run_layernorm(forward: Callable[..., Any], backward: Callable[..., Any] | None, spec: dict) -> dict:
    """One ``layernorm_forward(x, gamma, beta=..., eps=...)`` call and, with ``dout`` in
    ``spec``, ``layernorm_backward(dout, cache)`` on its cache. Returns one dict shaped
    like a step of :func:`run_batchnorm` (without buffers)."""
    x = spec["x"].detach().clone()
    gamma = spec["gamma"].detach().clone()
    beta = spec["beta"].detach().clone()
    kept = {"x": x.clone(), "gamma": gamma.clone(), "beta": beta.clone()}
    kwargs = {"beta": beta}
    if "eps" in spec:
        kwargs["eps"] = spec["eps"]
    record: dict = {"modified": []}
    pair, problem = _split(forward(x, gamma, **kwargs), 2, "layernorm_forward")
    if problem:
        record["error"] = problem
        return record
    out, cache = pair
    record["out"] = _data(out)
    for name, before in kept.items():
        if not _same(before, {"x": x, "gamma": gamma, "beta": beta}[name]):
            record["modified"].append(name)
    if spec.get("dout") is not None and backward is not None:
        _run_backward(backward, spec["dout"].detach().clone(), cache, record, "layernorm_backward")
    return record
