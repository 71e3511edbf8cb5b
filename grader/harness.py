"""Drivers for stateful student objects, run beside them in the worker.

Driving an optimizer through one remote call per operation would cost three round trips
a step; these functions run the loop next to the student's object instead. They hold
nothing secret, and the grader treats what they return as untrusted data: it runs the
same driver on the reference in its own process and compares the two results.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch


GradFn = Callable[[list[torch.Tensor], int], Sequence["torch.Tensor | None"]]


def gradient_field(spec: dict) -> GradFn:
    """A gradient function described by data, so it runs beside the optimizer without a
    round trip to the grader per step. Both sides build it from the same spec, so they
    compute bit-identical gradients for identical parameters (in float64 on the CPU,
    returned in each parameter's dtype and device).

    ``{"field": "feedback", "target": [...], "curv": [...], "mask": [...], "amp": 0.5,
    "freq": 3.0, "none": [[i, t], ...]}``: g_i = mask_i (curv_i (x_i - target_i) +
    amp sin(freq x_i + i)), None for parameter i at step t when listed.

    ``{"field": "problem", "name": "quadratic" | "rosenbrock" | "logistic_regression",
    "kwargs": {...}}``: the gradient of a :mod:`grader.convergence` problem.
    """
    kind = spec.get("field")
    if kind == "feedback":
        target = [torch.as_tensor(t, dtype=torch.float64, device="cpu") for t in spec["target"]]
        curv = [torch.as_tensor(c, dtype=torch.float64, device="cpu") for c in spec["curv"]]
        mask = [torch.as_tensor(m, dtype=torch.float64, device="cpu") for m in spec["mask"]]
        amp = float(spec.get("amp", 0.5))
        freq = float(spec.get("freq", 3.0))
        none = {(int(i), int(t)) for i, t in spec.get("none", [])}

        def feedback(params: list[torch.Tensor], t: int) -> list[torch.Tensor | None]:
            out: list[torch.Tensor | None] = []
            for i, p in enumerate(params):
                if (i, t) in none:
                    out.append(None)
                    continue
                x = p.detach().to("cpu", torch.float64)
                g = mask[i] * (curv[i] * (x - target[i]) + amp * torch.sin(freq * x + i))
                out.append(g.to(p.dtype).to(p.device))
            return out

        return feedback
    if kind == "problem":
        from grader import convergence

        makers = {
            "quadratic": convergence.quadratic,
            "rosenbrock": convergence.rosenbrock,
            "logistic_regression": convergence.logistic_regression,
        }
        if spec.get("name") not in makers:
            raise ValueError(f"unknown problem {spec.get('name')!r}")
        return makers[spec["name"]](**dict(spec.get("kwargs") or {})).grad_fn()
    raise ValueError(f"unknown gradient field {kind!r}")


def run_optimizer(
    optimizer_cls: Callable[..., Any],
    params0: Sequence[torch.Tensor],
    grad_fn: GradFn | dict,
    steps: int,
    hparams: dict | None = None,
    changes: Sequence[tuple[int, dict]] = (),
    check_grads: bool = False,
) -> dict:
    """Run ``steps`` optimizer steps from ``params0`` with gradients from ``grad_fn``.

    ``grad_fn(params, t)`` gets detached copies of the current parameters and the step
    index and returns one gradient (or None) per parameter; a dict is a
    :func:`gradient_field` spec, evaluated here without calling back to the grader. ``changes`` lists
    ``(t, {name: value})`` updates applied to ``param_groups[0]`` before step ``t``.
    Returns the parameters after every step and, with ``check_grads``, whether any step
    modified a gradient in place or left a parameter with an autograd history.
    """
    if isinstance(grad_fn, dict):
        grad_fn = gradient_field(grad_fn)
    params = [p.detach().clone().requires_grad_(True) for p in params0]
    optimizer = optimizer_cls(params, **(hparams or {}))
    pending = {int(t): dict(update) for t, update in changes}
    trajectory: list[list[torch.Tensor]] = []
    grads_modified = False
    graph_built = False
    for t in range(int(steps)):
        if t in pending:
            optimizer.param_groups[0].update(pending[t])
        grads = grad_fn([p.detach().clone() for p in params], t)
        given = []
        for p, g in zip(params, grads):
            p.grad = None if g is None else g.detach().clone().to(dtype=p.dtype)
            given.append(None if g is None else p.grad.clone())
        optimizer.step()
        if check_grads:
            for p, g in zip(params, given):
                if g is not None and (p.grad is None or not torch.equal(p.grad, g)):
                    grads_modified = True
                if p.grad_fn is not None or not p.is_leaf:
                    graph_built = True
        trajectory.append([p.detach().clone() for p in params])
    return {"trajectory": trajectory, "grads_modified": grads_modified, "graph_built": graph_built}


def run_zero_grad(
    optimizer_cls: Callable[..., Any],
    params0: Sequence[torch.Tensor],
    grad_fn: GradFn | dict,
    steps: int,
    hparams: dict | None = None,
) -> dict:
    """Run ``steps`` optimizer steps as :func:`run_optimizer`, then call ``zero_grad()``
    and ``step()`` once more without giving new gradients.

    Returns the parameters after the ``steps`` steps (``before``), every parameter's
    ``.grad`` right after ``zero_grad()`` (None where it is None, otherwise a copy of the
    tensor) and the parameters after the extra step (``after``), so the grader can
    compare all of it with the reference's run (whose zero_grad sets every .grad to None,
    so the extra step changes nothing).
    """
    if isinstance(grad_fn, dict):
        grad_fn = gradient_field(grad_fn)
    params = [p.detach().clone().requires_grad_(True) for p in params0]
    optimizer = optimizer_cls(params, **(hparams or {}))
    for t in range(int(steps)):
        grads = grad_fn([p.detach().clone() for p in params], t)
        for p, g in zip(params, grads):
            p.grad = None if g is None else g.detach().clone().to(dtype=p.dtype)
        optimizer.step()
    before = [p.detach().clone() for p in params]
    optimizer.zero_grad()
    grads_after = [None if p.grad is None else p.grad.detach().clone() for p in params]
    optimizer.step()
    after = [p.detach().clone() for p in params]
    return {"before": before, "grads": grads_after, "after": after}


def on_device(fn: Callable[..., Any], args: Sequence[Any] = (), kwargs: dict | None = None,
              generators: bool = True) -> dict:
    """``fn(*args, **kwargs)`` with every tensor argument on the simulated accelerator
    (:mod:`grader.accelerator`) and, with ``generators``, every generator too (a
    permutation's generator stays on the CPU: pass False).

    ``fn`` is a student function, or a driver of this module (``student.harness.run_layer``)
    that then runs on the accelerator with its arguments. Returns ``{"value", "left"}``:
    what ``fn`` returned and where in it a tensor is not on the accelerator (paths such
    as ``[1]``). An error that CUDA would raise (devices mixed, ``.numpy()`` of a tensor
    on the accelerator, a generator on the wrong device) propagates as the student's.
    """
    from grader import accelerator

    with accelerator.simulated():
        args = accelerator.put(list(args), generators)
        kwargs = accelerator.put(dict(kwargs or {}), generators)
        value = fn(*args, **kwargs)
    return {"value": value, "left": accelerator.left_behind(value)}


def smooth_scalar(x: torch.Tensor) -> torch.Tensor:
    """sum(x sin x): a smooth scalar function of a tensor, on the tensor's device, for a
    student's numerical_gradient to differentiate."""
    return (x * torch.sin(x)).sum()


def descend(method: Callable[..., Any], X: torch.Tensor, y: torch.Tensor, w0: torch.Tensor,
            kwargs: dict | None = None, minibatch: bool = False) -> Any:
    """Run a student's ``gradient_descent(grad_fn, w0, ...)`` (or, with ``minibatch``,
    ``minibatch_sgd(grad_fn, X, y, w0, ...)``) on least squares with data ``X, y``: the
    gradient is computed here, on the data's device."""
    if minibatch:
        return method(lambda Xb, yb, w: Xb.T @ (Xb @ w - yb) / Xb.shape[0], X, y, w0, **(kwargs or {}))
    return method(lambda w: X.T @ (X @ w - y) / X.shape[0], w0, **(kwargs or {}))


def run_clipping(
    clip_fn: Callable[..., Any],
    grads: Sequence[torch.Tensor | None],
    kwargs: dict | None = None,
    single: bool = False,
) -> dict:
    """Call a gradient-clipping function on parameters whose ``.grad`` are ``grads``.

    With ``single`` the one parameter is passed as a tensor rather than a list. Returns
    what the function returned, every parameter's gradient afterwards (None where there
    was none), and whether any ``.grad`` was replaced by a new tensor instead of being
    modified in place, so the grader can compare all of it with the reference.
    """
    params = []
    for g in grads:
        if g is None:
            params.append(torch.zeros(1, requires_grad=True))
        else:
            p = torch.zeros_like(g, requires_grad=True)
            p.grad = g.detach().clone()
            params.append(p)
    before = [p.grad for p in params]
    result = clip_fn(params[0] if single else params, **(kwargs or {}))
    replaced = any(b is not None and p.grad is not b for b, p in zip(before, params))
    return {
        "result": result,
        "grads": [None if p.grad is None else p.grad.detach().clone() for p in params],
        "grads_replaced": replaced,
    }
from grader.capstone import capstone_gradients, capstone_replay_optimizer, capstone_trainer  # noqa: E402,F401
from grader.harness_backprop import *  # noqa: E402,F401,F403
from grader.harness_batchnorm import *  # noqa: E402,F401,F403
from grader.harness_init import *  # noqa: E402,F401,F403
from grader.harness_training import *  # noqa: E402,F401,F403
from grader.harness_autodiff import *  # noqa: E402,F401,F403
from grader.harness_rng import *  # noqa: E402,F401,F403
