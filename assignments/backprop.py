"""Backpropagation by hand: a linear layer, activations, softmax cross-entropy, an MLP.

Every layer comes as a pair of functions. ``*_forward`` computes the output and a
``cache``: whatever the backward pass will need (inputs, outputs, masks...). What the
cache holds and how (tuple, dict, object) is up to you; only your own backward reads
it. ``*_backward(dout, cache)`` takes the upstream gradient ``dout = dL/d(out)`` (same
shape as ``out``) and returns the gradients of the same loss L with respect to the
layer's inputs, by the chain rule. A gradient always has the shape of the tensor it
belongs to.

Conventions: a batch ``x`` is ``(N, in)`` (one row per example), a weight ``W`` is
``(out, in)`` as in torch.nn.Linear, a bias ``b`` is ``(out,)``. Outputs keep the
input's device and floating dtype (float32 or float64); no function modifies its
inputs (nor ``dout``). Bad arguments raise ``ValueError`` whose message names the
argument. Derivatives at a kink follow torch autograd: 0 for ReLU at 0,
``negative_slope`` for leaky ReLU at 0.

Write the maths yourself: no torch.nn, torch.optim, torch.func, torch.autograd,
Tensor.backward, nor ready-made sigmoid / relu / softmax / log_softmax / logsumexp.
Elementary operations (exp, log, tanh, erf, where, clamp, matmul, sums) are fine.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import torch

__all__ = [
    "linear_forward",
    "linear_backward",
    "activation_forward",
    "activation_backward",
    "softmax_cross_entropy",
    "mlp_loss_and_grads",
    "MLP",
]

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "gelu")


def linear_forward(x: torch.Tensor, W: torch.Tensor,
                   b: torch.Tensor) -> tuple[torch.Tensor, Any]:
    """A fully connected layer: out = x @ W.T + b, and the cache for linear_backward.

    x: (N, in) (any number of leading dims works the same way: (..., in)),
    W: (out, in) (torch.nn.Linear's layout), b: (out,). out[n, j] = sum_i x[n, i] W[j, i]
    + b[j], shape (N, out). The backward pass needs x and W, so keep them in the cache.

    Raises ValueError: x, W, b not floating tensors of one dtype and device; W not
    2-D with W.shape[1] == x.shape[-1]; b not of shape (out,) (a bias of shape
    (out, 1) would broadcast silently into a wrong (out, out) result).
    """
    # YOUR CODE HERE
    raise NotImplementedError("backprop.linear_forward: not implemented yet")


def linear_backward(dout: torch.Tensor, cache: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of a linear layer: (dx, dW, db) from dout = dL/d(out), shape (N, out).

    From out[n, j] = sum_i x[n, i] W[j, i] + b[j]:
        dx = dout @ W          (N, in):  dx[n, i] = sum_j dout[n, j] W[j, i]
        dW = dout.T @ x        (out, in): a sum over the batch of outer products
        db = dout.sum(dim=0)   (out,):   every example adds to the bias gradient
    Each has the shape of the tensor it belongs to: dW is (out, in) like W (x.T @ dout
    would be its transpose), db is (out,) like b. Sum over the batch, never average: the
    1/N of a mean loss is already inside dout.

    Raises ValueError: dout not of the forward output's shape, dtype and device.
    """
    # YOUR CODE HERE
    raise NotImplementedError("backprop.linear_backward: not implemented yet")


def activation_forward(x: torch.Tensor, kind: str,
                       negative_slope: float = 0.01) -> tuple[torch.Tensor, Any]:
    """An elementwise activation out = f(x), and the cache for activation_backward.

    kind is one of:
        "sigmoid":     f(x) = 1 / (1 + exp(-x)); compute it stably, e.g. with
                       e = exp(-|x|): 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0
                       (exp(x) / (1 + exp(x)) gives inf / inf = nan for x near 1e3)
        "tanh":        f(x) = tanh(x)
        "relu":        f(x) = max(x, 0)
        "leaky_relu":  f(x) = x for x > 0, negative_slope * x otherwise
        "gelu":        f(x) = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2 the standard
                       normal CDF: the exact form, not the tanh approximation.
    Any shape; out has x's shape, dtype and device. x itself is not modified (no
    x[x < 0] = 0 on the input).

    Raises ValueError: kind not one of the five names; x not a floating tensor;
    negative_slope not a real number.
    """
    # YOUR CODE HERE
    raise NotImplementedError("backprop.activation_forward: not implemented yet")


def activation_backward(dout: torch.Tensor, cache: Any) -> torch.Tensor:
    """dx = dout * f'(x), elementwise (chain rule), for the activation of the cache.

    The derivatives, at the pre-activation x (s, t = the forward outputs):
        sigmoid:     s (1 - s)                    (of the OUTPUT s, not of x)
        tanh:        1 - t^2
        relu:        1 where x > 0, else 0        (0 at x == 0, as torch)
        leaky_relu:  1 where x > 0, else negative_slope   (negative_slope at 0)
        gelu:        Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    Multiply by dout: dout is not all ones in general. dx has x's shape; dout is not
    modified (no dout *= mask).

    Raises ValueError: dout not of the forward output's shape, dtype and device.
    """
    # YOUR CODE HERE
    raise NotImplementedError("backprop.activation_backward: not implemented yet")


def softmax_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean softmax cross-entropy over the batch and its gradient: (loss, dlogits).

    logits z: (N, C), y: int64 class indices (N,). With the stable log-softmax
        log p[n, c] = (z[n, c] - m_n) - log sum_k exp(z[n, k] - m_n),  m_n = max_k z[n, k]
    (the shift changes nothing mathematically, but keeps exp from overflowing for
    logits near 1e3):
        loss    = -(1/N) sum_n log p[n, y_n]                a 0-d tensor
        dlogits = (p - onehot(y)) / N                       (N, C)
    The gradient reaches EVERY class, not only the true one: the softmax Jacobian
    diag(p) - p p^T is not diagonal. Each row of dlogits sums to 0.

    Numerical stability is required: logits of size 1e2 to 1e3 must give a finite,
    accurate loss and dlogits (never inf or nan), in float32 as in float64.

    Raises ValueError: logits not a 2-D floating tensor with N >= 1 rows and C >= 1
    columns; y not int64 of shape (N,) on logits' device; a class index outside [0, C).
    """
    # YOUR CODE HERE
    raise NotImplementedError("backprop.softmax_cross_entropy: not implemented yet")


def mlp_loss_and_grads(params: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor,
                       activation: str = "relu") -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Loss and gradients of a multi-layer perceptron on a batch, by backpropagation.

    params = [W1, b1, W2, b2, ..., WL, bL] with W_l of shape (out_l, in_l), in_1 = d,
    in_{l+1} = out_l; X: (N, d); y: int64 class indices (N,) in [0, out_L).
    Forward: h_0 = X; z_l = linear(h_{l-1}, W_l, b_l); h_l = activation(z_l) for every
    layer but the last; the logits are z_L (no activation after the last layer).
    loss = softmax_cross_entropy(z_L, y)[0] (mean over the batch).
    Backward: start from dlogits and walk the layers in reverse, through each
    activation_backward and linear_backward, reusing the caches of the forward pass.
    Returns (loss, grads), grads = [dW1, db1, ..., dWL, dbL] aligned with params (each
    the shape of its parameter). "gelu" is the exact (erf) form. Nothing is modified.

    Raises ValueError: params not pairs [W, b] whose shapes chain from X's d
    features; activation not one of the five names; bad X or y.
    """
    # YOUR CODE HERE
    raise NotImplementedError("backprop.mlp_loss_and_grads: not implemented yet")


class MLP:
    """A multi-layer perceptron built on the layer functions above.

    MLP(sizes, activation="relu", generator=None, dtype=torch.float32): sizes =
    [d, h_1, ..., C] gives len(sizes) - 1 linear layers, layer l mapping sizes[l-1]
    features to sizes[l]. ``self.params`` is the list [W1, b1, ..., WL, bL], W_l of
    shape (sizes[l], sizes[l-1]), b_l of shape (sizes[l],), dtype ``dtype``, on the CPU,
    each entry drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = sizes[l-1]
    (the layer's number of inputs; the bias too), as torch.nn.Linear does. Draw only
    from ``generator`` (e.g. torch.rand(..., generator=generator) scaled to the
    interval): the same seed gives the same parameters.

    forward(x) -> logits: the same computation as mlp_loss_and_grads (the activation
    after every layer but the last), with the current ``self.params``, keeping the
    caches for the next backward. backward(dlogits) -> grads: dlogits = dL/dlogits for
    the last forward's batch; returns [dW1, db1, ..., dWL, dbL] aligned with params.
    Updating ``self.params`` in place (p -= lr * g) must affect the next forward.

    Raises ValueError: sizes not a list of at least two positive ints; activation not
    one of the five names.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu",
                 generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32):
        # YOUR CODE HERE
        raise NotImplementedError("backprop.MLP.__init__: not implemented yet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, sizes[-1]) for x (N, sizes[0]); keeps the caches for backward."""
        # YOUR CODE HERE
        raise NotImplementedError("backprop.MLP.forward: not implemented yet")

    def backward(self, dlogits: torch.Tensor) -> list[torch.Tensor]:
        """[dW1, db1, ..., dWL, dbL] for dlogits = dL/dlogits of the last forward."""
        # YOUR CODE HERE
        raise NotImplementedError("backprop.MLP.backward: not implemented yet")
