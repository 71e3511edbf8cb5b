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


### BEGIN SOLUTION
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _check_float(x: Any, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must have a floating dtype, got {x.dtype}")


def _check_same_kind(ref: torch.Tensor, x: torch.Tensor, ref_name: str, name: str) -> None:
    if x.dtype != ref.dtype:
        raise ValueError(f"{name} must have {ref_name}'s dtype {ref.dtype}, got {x.dtype}")
    if x.device != ref.device:
        raise ValueError(f"{name} must be on {ref_name}'s device {ref.device}, got {x.device}")


def _check_dout(dout: Any, shape: tuple, like: torch.Tensor) -> None:
    _check_float(dout, "dout")
    if tuple(dout.shape) != tuple(shape):
        raise ValueError(
            f"dout must have the forward output's shape {tuple(shape)}, got {tuple(dout.shape)}"
        )
    _check_same_kind(like, dout, "the forward input", "dout")


def _check_kind(kind: Any, name: str) -> str:
    if not isinstance(kind, str) or kind not in ACTIVATIONS:
        raise ValueError(f"{name} must be one of {', '.join(ACTIVATIONS)}; got {kind!r}")
    return kind


def _check_slope(negative_slope: Any) -> float:
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
        raise ValueError(f"negative_slope must be a real number, got {negative_slope!r}")
    value = float(negative_slope)
    if not math.isfinite(value):
        raise ValueError(f"negative_slope must be finite, got {negative_slope!r}")
    return value


def _logistic(x: torch.Tensor) -> torch.Tensor:
    # e = exp(-|x|) is in (0, 1]: neither branch overflows, whatever the size of x.
    e = torch.exp(-x.abs())
    return torch.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(x * _SQRT_HALF))


def _check_params(params: Any, X: torch.Tensor) -> list[torch.Tensor]:
    if not isinstance(params, (list, tuple)):
        raise ValueError(f"params must be a list [W1, b1, ..., WL, bL], got {type(params).__name__}")
    if len(params) < 2 or len(params) % 2:
        raise ValueError(
            f"params must hold pairs [W1, b1, ..., WL, bL] (an even number >= 2), got {len(params)}"
        )
    width = X.shape[1]
    for layer in range(len(params) // 2):
        W, b = params[2 * layer], params[2 * layer + 1]
        for t, what in ((W, "W"), (b, "b")):
            if not isinstance(t, torch.Tensor) or not t.is_floating_point():
                raise ValueError(f"params: {what}{layer + 1} must be a floating torch.Tensor")
            if t.dtype != X.dtype or t.device != X.device:
                raise ValueError(
                    f"params: {what}{layer + 1} must have X's dtype {X.dtype} and device {X.device}"
                )
        if W.dim() != 2 or W.shape[1] != width:
            raise ValueError(
                f"params: W{layer + 1} must have shape (out, {width}), got {tuple(W.shape)}"
            )
        if tuple(b.shape) != (W.shape[0],):
            raise ValueError(
                f"params: b{layer + 1} must have shape ({W.shape[0]},), got {tuple(b.shape)}"
            )
        width = W.shape[0]
    return list(params)


def _mlp_forward(params: Sequence[torch.Tensor], X: torch.Tensor,
                 activation: str) -> tuple[torch.Tensor, list]:
    """Logits and, per layer, (linear cache, activation cache or None for the last)."""
    n_layers = len(params) // 2
    h, caches = X, []
    for layer in range(n_layers):
        h, lin_cache = linear_forward(h, params[2 * layer], params[2 * layer + 1])
        act_cache = None
        if layer < n_layers - 1:
            h, act_cache = activation_forward(h, activation)
        caches.append((lin_cache, act_cache))
    return h, caches


def _mlp_backward(dlogits: torch.Tensor, caches: list) -> list[torch.Tensor]:
    grads: list = [None] * (2 * len(caches))
    d = dlogits
    for layer in reversed(range(len(caches))):
        lin_cache, act_cache = caches[layer]
        if act_cache is not None:
            d = activation_backward(d, act_cache)
        d, dW, db = linear_backward(d, lin_cache)
        grads[2 * layer], grads[2 * layer + 1] = dW, db
    return grads
### END SOLUTION


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
    ### BEGIN SOLUTION
    _check_float(x, "x")
    if x.dim() < 1:
        raise ValueError("x must have at least one dimension (..., in)")
    _check_float(W, "W")
    _check_same_kind(x, W, "x", "W")
    if W.dim() != 2 or W.shape[1] != x.shape[-1]:
        raise ValueError(
            f"W must have shape (out, in) = (out, {x.shape[-1]}) for x of shape "
            f"{tuple(x.shape)}, got {tuple(W.shape)}"
        )
    _check_float(b, "b")
    _check_same_kind(x, b, "x", "b")
    if tuple(b.shape) != (W.shape[0],):
        raise ValueError(f"b must have shape (out,) = ({W.shape[0]},), got {tuple(b.shape)}")
    out = x @ W.T + b
    return out, (x, W)
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    x, W = cache
    _check_dout(dout, tuple(x.shape[:-1]) + (W.shape[0],), x)
    x2 = x.reshape(-1, W.shape[1])
    d2 = dout.reshape(-1, W.shape[0])
    dx = dout @ W
    dW = d2.T @ x2
    db = d2.sum(dim=0)
    return dx, dW, db
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    _check_float(x, "x")
    kind = _check_kind(kind, "kind")
    slope = _check_slope(negative_slope)
    if kind == "sigmoid":
        out = _logistic(x)
        return out, (kind, out)
    if kind == "tanh":
        out = torch.tanh(x)
        return out, (kind, out)
    if kind == "relu":
        return x.clamp(min=0), (kind, x)
    if kind == "leaky_relu":
        return torch.where(x > 0, x, x * slope), (kind, x, slope)
    cdf = _normal_cdf(x)
    return x * cdf, (kind, x, cdf)
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    kind, saved = cache[0], cache[1]
    _check_dout(dout, tuple(saved.shape), saved)
    if kind == "sigmoid":
        return dout * (saved * (1.0 - saved))
    if kind == "tanh":
        return dout * (1.0 - saved * saved)
    if kind == "relu":
        return torch.where(saved > 0, dout, torch.zeros_like(dout))
    if kind == "leaky_relu":
        return torch.where(saved > 0, dout, dout * cache[2])
    x, cdf = saved, cache[2]
    pdf = torch.exp(-0.5 * x * x) * _INV_SQRT_2PI
    return dout * (cdf + x * pdf)
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    _check_float(logits, "logits")
    if logits.dim() != 2 or logits.shape[0] < 1 or logits.shape[1] < 1:
        raise ValueError(f"logits must be 2-D (N, C) with N, C >= 1, got shape {tuple(logits.shape)}")
    n, c = logits.shape
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"y must be a torch.Tensor of class indices, got {type(y).__name__}")
    if y.dtype != torch.int64:
        raise ValueError(f"y must hold int64 class indices, got dtype {y.dtype}")
    if tuple(y.shape) != (n,):
        raise ValueError(f"y must have shape (N,) = ({n},), got {tuple(y.shape)}")
    if y.device != logits.device:
        raise ValueError(f"y must be on logits' device {logits.device}, got {y.device}")
    if bool(((y < 0) | (y >= c)).any()):
        raise ValueError(f"y holds a class index outside [0, {c})")
    shifted = logits - logits.amax(dim=1, keepdim=True)
    logp = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
    picked = logp.gather(1, y.unsqueeze(1)).squeeze(1)
    loss = -picked.sum() / n
    onehot = torch.zeros_like(logits).scatter_(1, y.unsqueeze(1), 1.0)
    dlogits = (torch.exp(logp) - onehot) / n
    return loss, dlogits
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    _check_float(X, "X")
    if X.dim() != 2:
        raise ValueError(f"X must be 2-D (N, d), got shape {tuple(X.shape)}")
    params = _check_params(params, X)
    activation = _check_kind(activation, "activation")
    logits, caches = _mlp_forward(params, X, activation)
    loss, dlogits = softmax_cross_entropy(logits, y)
    return loss, _mlp_backward(dlogits, caches)
    ### END SOLUTION


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
        ### BEGIN SOLUTION
        if not isinstance(sizes, (list, tuple)) or len(sizes) < 2:
            raise ValueError(f"sizes must be a list [d, ..., C] of at least two ints, got {sizes!r}")
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
                raise ValueError(f"sizes must hold positive ints, got {sizes!r}")
        self.activation = _check_kind(activation, "activation")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        self.sizes = [int(s) for s in sizes]
        self.params: list[torch.Tensor] = []
        for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:]):
            bound = 1.0 / math.sqrt(fan_in)
            W = (torch.rand(fan_out, fan_in, generator=generator, dtype=dtype) * 2 - 1) * bound
            b = (torch.rand(fan_out, generator=generator, dtype=dtype) * 2 - 1) * bound
            self.params += [W, b]
        self._caches: list | None = None
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, sizes[-1]) for x (N, sizes[0]); keeps the caches for backward."""
        ### BEGIN SOLUTION
        _check_float(x, "x")
        if x.dim() != 2:
            raise ValueError(f"x must be 2-D (N, {self.sizes[0]}), got shape {tuple(x.shape)}")
        logits, self._caches = _mlp_forward(self.params, x, self.activation)
        return logits
        ### END SOLUTION

    def backward(self, dlogits: torch.Tensor) -> list[torch.Tensor]:
        """[dW1, db1, ..., dWL, dbL] for dlogits = dL/dlogits of the last forward."""
        ### BEGIN SOLUTION
        if self._caches is None:
            raise RuntimeError("call forward before backward")
        return _mlp_backward(dlogits, self._caches)
        ### END SOLUTION
