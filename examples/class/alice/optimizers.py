"""Optimizers, learning-rate schedules and gradient clipping, written by hand.

Every optimizer here matches PyTorch's ``optim.<Name>`` with the same arguments
(torch's single-tensor code path: ``foreach=False``, ``maximize=False``).
The base class :class:`Optimizer` and every ``__init__`` (with its argument checks) are
provided; you write the ``step()`` methods, the schedules and the clipping functions.

Rules every ``step()`` must follow (the grader checks each of them):

* update the parameters IN PLACE inside ``with torch.no_grad():`` -- the parameters must
  stay leaf tensors with no ``grad_fn`` and no autograd graph may be built;
* read the hyperparameters from ``self.param_groups[0]`` at EVERY call (a training loop
  or a schedule may change ``group["lr"]``, ``group["momentum"]`` or ``group["betas"]``
  between two steps, and the next step must use the new value);
* skip every parameter whose ``.grad`` is None (no update, no state, no step count);
* keep per-parameter state (step counter, buffers) in ``self.state[p]``;
* never modify ``p.grad`` in place (write ``g = g + wd * p``, not ``g += wd * p``).
"""

from __future__ import annotations

import collections
import math
import numbers
from collections.abc import Iterable
from typing import Any

import torch

__all__ = [
    "Optimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "step_decay",
    "exponential_decay",
    "linear_decay",
    "power_decay",
    "cosine_decay",
    "inverse_sqrt_warmup",
    "clip_grad_norm_",
    "clip_grad_value_",
]


# --------------------------------------------------------------------------- helpers
# (provided: used by the provided constructors)


def _check_real(name: str, value: Any) -> float:
    """Raise ValueError unless ``value`` is a real number (bool and NaN rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    return value


def _check_nonnegative(name: str, value: Any) -> None:
    """Raise ValueError unless ``value`` is a real number >= 0."""
    _check_real(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")


# --------------------------------------------------------------------------- base class


class Optimizer:
    """Base class (provided): holds the parameters, the hyperparameters and the state.

    Attributes:
        params: list of the leaf tensors to optimize (``.grad`` is filled by autograd).
        defaults: dict of the hyperparameters given to the constructor.
        param_groups: a list holding ONE dict: the hyperparameters plus ``"params"``
            (the same list as ``self.params``). ``step()`` reads its hyperparameters
            from ``self.param_groups[0]`` on every call.
        state: ``collections.defaultdict(dict)`` keyed by parameter tensor: the
            per-parameter state (``self.state[p]["step"]``, buffers, ...).

    Raises ValueError (naming ``params``) when ``params`` is a single tensor, a set,
    empty, contains something that is not a tensor, a non-leaf tensor, or the same
    tensor twice.
    """

    def __init__(self, params: Iterable[torch.Tensor], defaults: dict[str, Any]) -> None:
        if isinstance(params, torch.Tensor):
            raise ValueError(
                "params must be an iterable of tensors (e.g. a list), got a single Tensor"
            )
        if isinstance(params, (set, frozenset)):
            raise ValueError("params must be an ordered iterable (e.g. a list), got a set")
        try:
            params = list(params)
        except TypeError:
            raise ValueError(
                f"params must be an iterable of tensors, got {type(params).__name__}"
            ) from None
        if len(params) == 0:
            raise ValueError("params is empty: the optimizer has nothing to optimize")
        for p in params:
            if not isinstance(p, torch.Tensor):
                raise ValueError(
                    f"params must contain only tensors, got {type(p).__name__}"
                )
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("params must be leaf tensors, got a non-leaf tensor")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("params contains the same tensor more than once")

        self.params: list[torch.Tensor] = params
        self.defaults: dict[str, Any] = dict(defaults)
        self.param_groups: list[dict[str, Any]] = [dict(defaults, params=self.params)]
        self.state: collections.defaultdict[torch.Tensor, dict[str, Any]] = (
            collections.defaultdict(dict)
        )

    def zero_grad(self) -> None:
        """Set ``p.grad = None`` for every parameter (torch's default ``set_to_none``)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient (subclasses)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement step()")


# --------------------------------------------------------------------------- optimizers


class SGD(Optimizer):
    """SGD with optional momentum / Nesterov momentum, as PyTorch's optim.SGD.

    Raises ValueError for lr, momentum or weight_decay < 0, and for ``nesterov=True``
    with ``momentum <= 0`` or ``dampening != 0``.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
    ) -> None:
        _check_nonnegative("lr", lr)
        _check_nonnegative("momentum", momentum)
        _check_real("dampening", dampening)
        _check_nonnegative("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                "nesterov=True requires momentum > 0 and dampening = 0, "
                f"got momentum={momentum!r}, dampening={dampening!r}"
            )
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
        )
        super().__init__(params, defaults)

    def step(self) -> None:
        """One SGD step for every parameter p whose p.grad is not None.

        With lr, mu = momentum, tau = dampening, wd = weight_decay read from
        self.param_groups[0] at this call, and g = p.grad:

            if wd != 0:  g = g + wd * p
            if mu != 0:
                first step of p:  buf = copy of g          (NOT (1 - tau) * g)
                later steps:      buf = mu * buf + (1 - tau) * g
                g = g + mu * buf   if nesterov   else   g = buf
            p = p - lr * g

        State: self.state[p]["momentum_buffer"] (only when mu != 0). Update p in place
        under torch.no_grad(); never modify p.grad; skip p whose grad is None.
        """
        group = self.param_groups[0]
        lr = group["lr"]
        momentum = group["momentum"]
        dampening = group["dampening"]
        weight_decay = group["weight_decay"]
        nesterov = group["nesterov"]
        with torch.no_grad():
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if weight_decay != 0:
                    grad = grad.add(p, alpha=weight_decay)  # new tensor: p.grad untouched
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = grad.clone()
                        state["momentum_buffer"] = buf
                    else:
                        buf.mul_(momentum).add_(grad, alpha=1 - dampening)
                    if nesterov:
                        grad = grad.add(buf, alpha=momentum)
                    else:
                        grad = buf
                p.add_(grad, alpha=-lr)


class Adagrad(Optimizer):
    """Adagrad, as PyTorch's optim.Adagrad.

    Raises ValueError for lr, lr_decay, weight_decay, initial_accumulator_value or
    eps < 0.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 0.01,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
    ) -> None:
        _check_nonnegative("lr", lr)
        _check_nonnegative("lr_decay", lr_decay)
        _check_nonnegative("weight_decay", weight_decay)
        _check_nonnegative("initial_accumulator_value", initial_accumulator_value)
        _check_nonnegative("eps", eps)
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )
        super().__init__(params, defaults)

    def step(self) -> None:
        """One Adagrad step for every parameter p whose p.grad is not None.

        With lr, lr_decay, wd = weight_decay, eps read from self.param_groups[0] at this
        call, and g = p.grad:

            t = t + 1                                   (per-parameter step count, from 0)
            if wd != 0:  g = g + wd * p
            clr = lr / (1 + (t - 1) * lr_decay)
            sum = sum + g * g           (elementwise; starts at initial_accumulator_value)
            p = p - clr * g / (sqrt(sum) + eps)         (eps OUTSIDE the sqrt)

        State: self.state[p]["step"] (int t) and self.state[p]["sum"] (tensor like p).
        Update p in place under torch.no_grad(); never modify p.grad; skip p whose grad
        is None (its t does not advance).
        """
        group = self.param_groups[0]
        lr = group["lr"]
        lr_decay = group["lr_decay"]
        weight_decay = group["weight_decay"]
        eps = group["eps"]
        with torch.no_grad():
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["sum"] = torch.full_like(
                        p, group["initial_accumulator_value"]
                    )
                state["step"] += 1
                step = state["step"]
                grad = p.grad
                if weight_decay != 0:
                    grad = grad.add(p, alpha=weight_decay)
                clr = lr / (1 + (step - 1) * lr_decay)
                state_sum = state["sum"]
                state_sum.addcmul_(grad, grad, value=1)
                std = state_sum.sqrt().add_(eps)
                p.addcdiv_(grad, std, value=-clr)


class RMSprop(Optimizer):
    """RMSprop (optionally centered, optionally with momentum), as PyTorch's optim.RMSprop.

    Raises ValueError for lr, alpha, eps, weight_decay or momentum < 0.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
    ) -> None:
        _check_nonnegative("lr", lr)
        _check_nonnegative("alpha", alpha)
        _check_nonnegative("eps", eps)
        _check_nonnegative("weight_decay", weight_decay)
        _check_nonnegative("momentum", momentum)
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
        )
        super().__init__(params, defaults)

    def step(self) -> None:
        """One RMSprop step for every parameter p whose p.grad is not None.

        With lr, alpha, eps, wd = weight_decay, mu = momentum, centered read from
        self.param_groups[0] at this call, and g = p.grad (all buffers start at 0):

            t = t + 1
            if wd != 0:  g = g + wd * p
            v = alpha * v + (1 - alpha) * g * g                      (square_avg)
            if centered:
                m = alpha * m + (1 - alpha) * g                      (grad_avg)
                avg = sqrt(v - m * m) + eps
            else:
                avg = sqrt(v) + eps                                  (eps OUTSIDE the sqrt)
            if mu > 0:
                buf = mu * buf + g / avg                             (momentum_buffer)
                p = p - lr * buf
            else:
                p = p - lr * g / avg

        State in self.state[p]: "step", "square_avg", plus "grad_avg" (centered) and
        "momentum_buffer" (mu > 0). Update p in place under torch.no_grad(); never
        modify p.grad; skip p whose grad is None.
        """
        group = self.param_groups[0]
        lr = group["lr"]
        alpha = group["alpha"]
        eps = group["eps"]
        weight_decay = group["weight_decay"]
        momentum = group["momentum"]
        centered = group["centered"]
        with torch.no_grad():
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["square_avg"] = torch.zeros_like(p)
                state["step"] += 1
                grad = p.grad
                if weight_decay != 0:
                    grad = grad.add(p, alpha=weight_decay)

                square_avg = state["square_avg"]
                square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
                if centered:
                    if "grad_avg" not in state:
                        state["grad_avg"] = torch.zeros_like(p)
                    grad_avg = state["grad_avg"]
                    grad_avg.lerp_(grad, 1 - alpha)  # alpha * m + (1 - alpha) * g
                    avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
                else:
                    avg = square_avg.sqrt()
                avg = avg.add_(eps)

                if momentum > 0:
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = torch.zeros_like(p)
                    buf = state["momentum_buffer"]
                    buf.mul_(momentum).addcdiv_(grad, avg)
                    p.add_(buf, alpha=-lr)
                else:
                    p.addcdiv_(grad, avg, value=-lr)


def _check_adam_args(
    lr: float, betas: tuple[float, float], eps: float, weight_decay: float
) -> None:
    """Argument checks shared by Adam and AdamW (provided)."""
    _check_nonnegative("lr", lr)
    _check_nonnegative("eps", eps)
    _check_nonnegative("weight_decay", weight_decay)
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        _check_real(f"betas[{i}]", beta)
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"betas[{i}] must be in [0, 1), got {beta!r}")


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False):
        _check_adam_args(lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def step(self):
        h = self.param_groups[0]
        lr, (b1, b2), eps, wd = h["lr"], h["betas"], h["eps"], h["weight_decay"]
        with torch.no_grad():
            for p in self.params:
                if p.grad is None:
                    continue
                st = self.state[p]
                if len(st) == 0:
                    st["t"] = 0
                    st["m"] = torch.zeros_like(p)
                    st["v"] = torch.zeros_like(p)
                    st["vmax"] = torch.zeros_like(p)
                st["t"] = st["t"] + 1
                t = st["t"]
                g = p.grad
                if wd != 0:
                    g = g + wd * p
                st["m"] = st["m"] + (1 - b1) * (g - st["m"])
                st["v"] = b2 * st["v"] + (1 - b2) * g ** 2
                v = st["v"]
                if h["amsgrad"]:
                    st["vmax"] = torch.maximum(st["vmax"], v)
                    v = st["vmax"]
                m_hat = st["m"] / (1 - b1 ** t)
                v_hat = v / (1 - b2 ** t)
                p.sub_(lr * m_hat / (torch.sqrt(v_hat) + eps))


class AdamW(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        _check_adam_args(lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def step(self):
        h = self.param_groups[0]
        lr, (b1, b2), eps, wd = h["lr"], h["betas"], h["eps"], h["weight_decay"]
        with torch.no_grad():
            for p in self.params:
                if p.grad is None:
                    continue
                st = self.state[p]
                if len(st) == 0:
                    st["t"] = 0
                    st["m"] = torch.zeros_like(p)
                    st["v"] = torch.zeros_like(p)
                    st["vmax"] = torch.zeros_like(p)
                st["t"] += 1
                t = st["t"]
                g = p.grad
                st["m"] = b1 * st["m"] + (1 - b1) * g
                st["v"] = b2 * st["v"] + (1 - b2) * g * g
                v = st["v"]
                if h["amsgrad"]:
                    st["vmax"] = torch.maximum(st["vmax"], v)
                    v = st["vmax"]
                m_hat = st["m"] / (1 - b1 ** t)
                v_hat = v / (1 - b2 ** t)
                update = m_hat / (v_hat.sqrt() + eps)
                p.copy_(p - lr * wd * p - lr * update)


# --------------------------------------------------------------------------- schedules

def _check_t(t: Any) -> None:
    """ValueError unless t is a real number >= 0 (bool and NaN rejected)."""
    if isinstance(t, bool) or not isinstance(t, numbers.Real) or not t >= 0:
        raise ValueError(f"t must be a step number >= 0, got {t!r}")


def _check_at_least_one(name: str, value: Any) -> None:
    """ValueError unless value is a real number >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")




def step_decay(t: int, lr0: float, step_size: int, gamma: float = 0.1) -> float:
    """Step decay: lr(t) = lr0 * gamma^floor(t / step_size), as torch's StepLR.

    The rate is multiplied by gamma every ``step_size`` steps (t = 0, 1, 2, ...).
    Returns a Python float. Raises ValueError for t < 0 or step_size < 1.
    """
    _check_t(t)
    _check_at_least_one("step_size", step_size)
    return float(lr0 * gamma ** math.floor(t / step_size))


def exponential_decay(t: int, lr0: float, gamma: float) -> float:
    """Exponential decay: lr(t) = lr0 * gamma^t, as torch's ExponentialLR.

    Returns a Python float. Raises ValueError for t < 0.
    """
    _check_t(t)
    return float(lr0 * gamma**t)


def linear_decay(t: int, lr0: float, lr_end: float, total_steps: int) -> float:
    """Linear decay from lr0 (t = 0) to lr_end (t = K = total_steps), then constant.

        lr(t) = (1 - t/K) * lr0 + (t/K) * lr_end   for t <= K
        lr(t) = lr_end                             for t > K

    Returns a Python float. Raises ValueError for t < 0 or total_steps < 1.
    """
    _check_t(t)
    _check_at_least_one("total_steps", total_steps)
    if t >= total_steps:
        return float(lr_end)
    frac = t / total_steps
    return float((1 - frac) * lr0 + frac * lr_end)


def power_decay(t: int, lr0: float, s: float, c: float) -> float:
    """Power (polynomial) decay: lr(t) = lr0 * (1 + t/s)^c.

    ``s`` sets the time scale and ``c`` the exponent (c < 0 decays, e.g. c = -0.5 gives
    lr0 / sqrt(1 + t/s)). Returns a Python float. Raises ValueError for t < 0 or s <= 0.
    """
    _check_t(t)
    if isinstance(s, bool) or not isinstance(s, numbers.Real) or not s > 0:
        raise ValueError(f"s must be > 0, got {s!r}")
    return float(lr0 * (1 + t / s) ** c)


def cosine_decay(t: int, lr0: float, total_steps: int, lr_min: float = 0.0) -> float:
    """Cosine decay from lr0 (t = 0) to lr_min (t = K = total_steps), then constant.

        lr(t) = lr_min + (lr0 - lr_min) * (1 + cos(pi * t / K)) / 2   for t <= K
        lr(t) = lr_min                                               for t > K

    Within [0, K] this is torch's CosineAnnealingLR(T_max=K, eta_min=lr_min).
    Returns a Python float. Raises ValueError for t < 0 or total_steps < 1.
    """
    _check_t(t)
    _check_at_least_one("total_steps", total_steps)
    if t >= total_steps:
        return float(lr_min)
    return float(lr_min + (lr0 - lr_min) * (1 + math.cos(math.pi * t / total_steps)) / 2)


def inverse_sqrt_warmup(t: int, d_model: int, warmup_steps: int) -> float:
    """Transformer ("Noam") schedule: linear warm-up, then 1/sqrt decay.

        n = t + 1
        lr(t) = d_model^-0.5 * min(n^-0.5, n * warmup_steps^-1.5)

    The two branches meet at n = warmup_steps (the peak). Returns a Python float.
    Raises ValueError for t < 0, d_model < 1 or warmup_steps < 1.
    """
    _check_t(t)
    _check_at_least_one("d_model", d_model)
    _check_at_least_one("warmup_steps", warmup_steps)
    n = t + 1
    return float(d_model**-0.5 * min(n**-0.5, n * warmup_steps**-1.5))


# --------------------------------------------------------------------------- clipping


def clip_grad_norm_(
    params: torch.Tensor | Iterable[torch.Tensor],
    max_norm: float,
    norm_type: float = 2.0,
) -> torch.Tensor:
    """Rescale the gradients in place so their joint norm is at most max_norm.

    As PyTorch's nn.utils.clip_grad_norm_. ``params`` is one tensor or an iterable of
    tensors; tensors whose .grad is None are skipped. With grads g_1..g_k:

        total = || (||g_1||_p, ..., ||g_k||_p) ||_p     (= the p-norm of all grads
                                                           concatenated; p = inf: max|g|)
        coef  = min(max_norm / (total + 1e-6), 1)       (computed as a tensor)
        g_i   = g_i * coef                              (in place, every i)

    Returns ``total`` as a 0-dim tensor (dtype/device of the first grad); with no grads
    at all, ``torch.tensor(0.0)`` like torch. ``norm_type`` may be any float or inf.
    Raises ValueError for max_norm < 0 (stricter than torch).
    """
    if isinstance(params, torch.Tensor):
        params = [params]
    _check_nonnegative("max_norm", max_norm)
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    grads = [p.grad for p in params if p.grad is not None]
    if len(grads) == 0:
        return torch.tensor(0.0)
    with torch.no_grad():
        first_device = grads[0].device
        norms = [torch.linalg.vector_norm(g, norm_type).to(first_device) for g in grads]
        total_norm = torch.linalg.vector_norm(torch.stack(norms), norm_type)
        clip_coef = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)
        for g in grads:
            g.mul_(clip_coef.to(g.device))
    return total_norm


def clip_grad_value_(
    params: torch.Tensor | Iterable[torch.Tensor], clip_value: float
) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place.

    As PyTorch's nn.utils.clip_grad_value_. ``params`` is one tensor or an iterable of
    tensors; tensors whose .grad is None are skipped. Returns None.
    Raises ValueError for clip_value < 0 (stricter than torch).
    """
    if isinstance(params, torch.Tensor):
        params = [params]
    _check_nonnegative("clip_value", clip_value)
    clip_value = float(clip_value)
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p.grad.clamp_(min=-clip_value, max=clip_value)
