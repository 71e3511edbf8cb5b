"""Batch normalisation and layer normalisation by hand: forward and backward passes.

Batch normalisation (Ioffe and Szegedy, 2015) normalises every channel c of a batch
with that channel's statistics over the batch (and, for images and sequences, over
every position), then scales and shifts it with learnable gamma_c and beta_c:

    mu_c      = mean of x[:, c, ...]                    (M = N * L or N * H * W values)
    var_c     = mean of (x[:, c, ...] - mu_c)^2         (biased: divide by M)
    xhat      = (x - mu_c) / sqrt(var_c + eps)          (eps INSIDE the square root)
    out       = gamma_c * xhat + beta_c

During training the running statistics used at evaluation time move towards the batch
statistics, in place, exactly as torch.nn.functional.batch_norm does:

    running_mean <- (1 - momentum) * running_mean + momentum * mu
    running_var  <- (1 - momentum) * running_var  + momentum * var * M / (M - 1)

(the UNBIASED variance goes into running_var, the biased one into xhat). In evaluation
mode the running statistics replace mu and var and nothing is updated.

Layer normalisation (Ba et al., 2016) applies the same formula to each sample
separately, over its last dimension (the features), and has no running statistics: it
behaves the same in training and evaluation.

Each ``*_forward`` returns ``(out, cache)``; the cache holds whatever the matching
``*_backward(dout, cache)`` needs to return ``(dx, dgamma, dbeta)``. Outputs keep the
input's device and floating dtype; no function modifies its inputs (except the running
statistics of batchnorm_forward). Bad arguments raise ValueError naming the argument.

Write the maths yourself: no torch.nn, torch.optim, torch.func, torch.autograd,
Tensor.backward, nor ready-made batch_norm / layer_norm in any namespace. Reductions
(mean, sum, var with the right correction), sqrt and broadcasting are all you need.
"""

from __future__ import annotations

import math
import numbers

import torch

__all__ = [
    "batchnorm_forward",
    "batchnorm_backward",
    "layernorm_forward",
    "layernorm_backward",
]


### BEGIN SOLUTION
def _check_float_tensor(x, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must have a floating dtype, got {x.dtype}")


def _check_vector(v, name: str, size: int, like: torch.Tensor, like_name: str) -> None:
    """v must be a floating (size,) tensor with like's dtype and device."""
    _check_float_tensor(v, name)
    if tuple(v.shape) != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {tuple(v.shape)}")
    if v.dtype != like.dtype:
        raise ValueError(f"{name} must have {like_name}'s dtype {like.dtype}, got {v.dtype}")
    if v.device != like.device:
        raise ValueError(f"{name} must be on {like_name}'s device {like.device}, got {v.device}")


def _check_real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    return float(value)


def _check_eps(eps) -> float:
    e = _check_real(eps, "eps")
    if not (e >= 0 and math.isfinite(e)):  # also rejects nan
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    return e


def _check_bn_args(x, gamma, beta, running_mean, running_var, training, momentum, eps):
    """Validate batchnorm_forward's arguments; returns (momentum, eps) as floats."""
    _check_float_tensor(x, "x")
    if x.dim() < 2:
        raise ValueError(f"x must be (N, C), (N, C, L) or (N, C, H, W), got shape {tuple(x.shape)}")
    channels = x.shape[1]
    _check_vector(gamma, "gamma", channels, x, "x")
    _check_vector(beta, "beta", channels, x, "x")
    for buf, name in ((running_mean, "running_mean"), (running_var, "running_var")):
        if buf is None:
            if not training:
                raise ValueError(f"{name} must be a tensor in evaluation mode, got None")
        else:
            _check_vector(buf, name, channels, x, "x")
    m = _check_real(momentum, "momentum")
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
    return m, _check_eps(eps)


def _check_ln_args(x, gamma, beta, eps) -> float:
    """Validate layernorm_forward's arguments; returns eps as a float."""
    _check_float_tensor(x, "x")
    if x.dim() < 1:
        raise ValueError("x must have at least 1 dimension (features on the last dim)")
    features = x.shape[-1]
    _check_vector(gamma, "gamma", features, x, "x")
    _check_vector(beta, "beta", features, x, "x")
    return _check_eps(eps)


def _normalize(x: torch.Tensor, dims: tuple[int, ...], eps: float):
    """Biased statistics over dims; returns (xhat, inv_std, mean, biased var)."""
    mean = x.mean(dim=dims, keepdim=True)
    centered = x - mean
    var = (centered * centered).mean(dim=dims, keepdim=True)
    inv_std = 1.0 / torch.sqrt(var + eps)
    return centered * inv_std, inv_std, mean, var


def _norm_backward(dxhat: torch.Tensor, xhat: torch.Tensor, inv_std: torch.Tensor,
                   dims: tuple[int, ...], count: int) -> torch.Tensor:
    """dx for xhat = (x - mean) * inv_std with the mean and the biased variance taken
    over ``count`` values along ``dims``: both statistics depend on x, which gives

        dx = inv_std / M * (M * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)).
    """
    if count == 0:
        return torch.zeros_like(dxhat)
    sum_d = dxhat.sum(dim=dims, keepdim=True)
    sum_dx = (dxhat * xhat).sum(dim=dims, keepdim=True)
    return (inv_std / count) * (count * dxhat - sum_d - xhat * sum_dx)
### END SOLUTION


def batchnorm_forward(
    x: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[torch.Tensor, object]:
    """Batch normalisation, as ``torch.nn.functional.batch_norm``.

    x: (N, C), (N, C, L) or (N, C, H, W) (any (N, C, *) works the same way); gamma,
    beta, running_mean, running_var: (C,), of x's dtype and device. The statistics of
    channel c are taken over every dimension but dim 1, i.e. over M = N * L or
    N * H * W values (for 4-D input: over (0, 2, 3), not only over the batch).

    Training (training=True):
        mu  = mean of x over dims (0, 2, ...)           shape (C,)
        var = mean of (x - mu)^2 over the same dims     biased (divide by M)
        out = gamma * (x - mu) / sqrt(var + eps) + beta
      and, IN PLACE (the caller's tensors must change; under torch.no_grad(), with
      running_mean.mul_(...).add_(...) or .copy_(...), never by rebinding the name):
        running_mean <- (1 - momentum) * running_mean + momentum * mu
        running_var  <- (1 - momentum) * running_var + momentum * var * M / (M - 1)
      momentum weighs the NEW batch statistic. With a single value per channel
      (M == 1) the variance is undefined: raise ValueError, as torch does. The running
      statistics may be None in training (then nothing is updated). An empty batch
      (M == 0) gives an empty output and leaves the running statistics alone.
    Evaluation (training=False):
        out = gamma * (x - running_mean) / sqrt(running_var + eps) + beta
      with the running statistics used as they are (they must be tensors) and left
      unchanged; a batch of one sample is fine.

    Returns (out, cache): out has x's shape, dtype and device; cache is anything
    batchnorm_backward needs (e.g. a tuple or dict of tensors).

    Raises ValueError: x not a floating tensor with at least 2 dims; gamma, beta,
    running_mean or running_var not (C,) tensors of x's dtype and device; running
    statistics None in evaluation; momentum not in [0, 1]; eps not a number >= 0;
    one value per channel in training.
    """
    ### BEGIN SOLUTION
    m, e = _check_bn_args(x, gamma, beta, running_mean, running_var, training, momentum, eps)
    training = bool(training)
    channels = x.shape[1]

    dims = (0,) + tuple(range(2, x.dim()))
    count = x.numel() // channels if channels else 0
    bshape = (1, channels) + (1,) * (x.dim() - 2)
    g = gamma.reshape(bshape)
    b = beta.reshape(bshape)

    if training:
        if count == 1:
            raise ValueError(
                f"x must have more than 1 value per channel in training, got shape {tuple(x.shape)}"
            )
        if count == 0:
            return x.clone(), {"training": True, "empty": True, "dims": dims, "gamma": gamma,
                               "xhat": x.clone(), "inv_std": torch.zeros(bshape, dtype=x.dtype,
                                                                         device=x.device),
                               "count": 0}
        xhat, inv_std, mean, var = _normalize(x, dims, e)
        with torch.no_grad():
            if running_mean is not None:
                running_mean.mul_(1 - m).add_(mean.reshape(channels), alpha=m)
            if running_var is not None:
                unbiased = var.reshape(channels) * (count / (count - 1))
                running_var.mul_(1 - m).add_(unbiased, alpha=m)
    else:
        mean = running_mean.reshape(bshape)
        inv_std = 1.0 / torch.sqrt(running_var.reshape(bshape) + e)
        xhat = (x - mean) * inv_std
    out = g * xhat + b
    cache = {"training": training, "empty": False, "dims": dims, "gamma": gamma,
             "xhat": xhat, "inv_std": inv_std, "count": count}
    return out, cache
    ### END SOLUTION


def batchnorm_backward(
    dout: torch.Tensor, cache: object
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of batchnorm_forward: (dx, dgamma, dbeta) for upstream gradient dout.

    dout has the shape of the forward's output. With xhat and the statistics from
    the cache, the sums running over every dimension but the channel dim 1 (M values):
        dbeta  = sum(dout)                     shape (C,)
        dgamma = sum(dout * xhat)              shape (C,) (sum over N AND positions)
        dxhat  = dout * gamma
    After a TRAINING forward the batch mean and variance depend on x, so
        dx = 1 / (M * sqrt(var + eps)) * (M * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))
    (dropping those two terms, as if mu and var were constants, is wrong).
    After an EVALUATION forward the running statistics are constants:
        dx = dxhat / sqrt(running_var + eps).

    Returns tensors of x's, gamma's and beta's shapes, dtype and device.
    """
    ### BEGIN SOLUTION
    _check_float_tensor(dout, "dout")
    if not isinstance(cache, dict) or "xhat" not in cache:
        raise ValueError("cache must be the cache returned by batchnorm_forward")
    xhat, inv_std, gamma = cache["xhat"], cache["inv_std"], cache["gamma"]
    dims = cache["dims"]
    if dout.shape != xhat.shape:
        raise ValueError(f"dout must have the forward output's shape {tuple(xhat.shape)}, "
                         f"got {tuple(dout.shape)}")
    channels = gamma.shape[0]
    dbeta = dout.sum(dim=dims)
    dgamma = (dout * xhat).sum(dim=dims)
    if cache["empty"]:
        return torch.zeros_like(dout), dgamma.reshape(channels), dbeta.reshape(channels)
    bshape = (1, channels) + (1,) * (dout.dim() - 2)
    dxhat = dout * gamma.reshape(bshape)
    if cache["training"]:
        dx = _norm_backward(dxhat, xhat, inv_std, dims, cache["count"])
    else:
        dx = dxhat * inv_std
    return dx, dgamma, dbeta
    ### END SOLUTION


def layernorm_forward(
    x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5
) -> tuple[torch.Tensor, object]:
    """Layer normalisation over the last dim, as
    ``torch.nn.functional.layer_norm(x, (D,), gamma, beta, eps)``.

    x: (..., D), e.g. (N, D) or (N, T, D); gamma, beta: (D,), of x's dtype and device.
    Every row x_i = x[..., :] is normalised with its OWN statistics over its D
    features (not over the batch):
        mu_i  = mean_j x_ij,   var_i = mean_j (x_ij - mu_i)^2   (biased: divide by D)
        out_i = gamma * (x_i - mu_i) / sqrt(var_i + eps) + beta
    No running statistics: training and evaluation are the same.

    Returns (out, cache): out has x's shape, dtype and device.

    Raises ValueError: x not a floating tensor with at least 1 dim; gamma or beta not
    (D,) tensors of x's dtype and device; eps not a number >= 0.
    """
    ### BEGIN SOLUTION
    e = _check_ln_args(x, gamma, beta, eps)
    xhat, inv_std, _, _ = _normalize(x, (-1,), e)
    out = gamma * xhat + beta
    return out, {"xhat": xhat, "inv_std": inv_std, "gamma": gamma}
    ### END SOLUTION


def layernorm_backward(
    dout: torch.Tensor, cache: object
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of layernorm_forward: (dx, dgamma, dbeta) for upstream gradient dout.

    With D features per row and the sums in dx taken over each row's D features:
        dxhat  = dout * gamma
        dx     = 1 / (D * sqrt(var + eps)) * (D * dxhat - sum_j dxhat - xhat * sum_j(dxhat * xhat))
    and gamma, beta being shared by every row:
        dgamma = sum over all rows of dout * xhat,   dbeta = sum over all rows of dout
    (shape (D,)).

    Returns tensors of x's, gamma's and beta's shapes, dtype and device.
    """
    ### BEGIN SOLUTION
    _check_float_tensor(dout, "dout")
    if not isinstance(cache, dict) or "xhat" not in cache:
        raise ValueError("cache must be the cache returned by layernorm_forward")
    xhat, inv_std, gamma = cache["xhat"], cache["inv_std"], cache["gamma"]
    if dout.shape != xhat.shape:
        raise ValueError(f"dout must have the forward output's shape {tuple(xhat.shape)}, "
                         f"got {tuple(dout.shape)}")
    features = xhat.shape[-1]
    rows = tuple(range(dout.dim() - 1))
    dbeta = dout.sum(dim=rows) if rows else dout.clone()
    dgamma = (dout * xhat).sum(dim=rows) if rows else dout * xhat
    dx = _norm_backward(dout * gamma, xhat, inv_std, (-1,), features)
    return dx, dgamma, dbeta
    ### END SOLUTION
