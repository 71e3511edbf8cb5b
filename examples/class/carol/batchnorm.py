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
    # YOUR CODE HERE
    raise NotImplementedError("batchnorm.batchnorm_forward: not implemented yet")


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
    # YOUR CODE HERE
    raise NotImplementedError("batchnorm.batchnorm_backward: not implemented yet")


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
    # YOUR CODE HERE
    raise NotImplementedError("batchnorm.layernorm_forward: not implemented yet")


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
    # YOUR CODE HERE
    raise NotImplementedError("batchnorm.layernorm_backward: not implemented yet")
