"""Gradients by hand: linear, logistic and softmax regression, gradient checks, (S)GD.

Conventions for the whole module: data ``X`` is ``(N, d)`` (N >= 1 examples, d
features, no bias: put a column of ones in X if you want one), targets ``y`` are
``(N,)`` and weights are ``w`` of shape ``(d,)`` or ``W`` of shape ``(d, k)``.
Outputs keep X's device and floating dtype (float32 or float64) and no function
modifies its inputs. Bad arguments raise ``ValueError`` whose message names the
argument; shapes must match exactly (no silent broadcasting of ``(N, 1)`` against
``(N,)``).

Write the maths yourself: no torch.nn, torch.optim, torch.func, torch.autograd,
Tensor.backward, nor ready-made sigmoid / softmax / log_softmax / logsumexp.
"""

from __future__ import annotations

import math
import operator
from typing import Callable

import torch

__all__ = [
    "linreg_loss",
    "linreg_grad",
    "linreg_closed_form",
    "logreg_loss",
    "logreg_grad",
    "softmax_regression_loss",
    "softmax_regression_grad",
    "numerical_gradient",
    "relative_error",
    "gradient_descent",
    "minibatch_sgd",
]


### BEGIN SOLUTION
def _check_X(X: torch.Tensor) -> None:
    if not isinstance(X, torch.Tensor):
        raise ValueError(f"X must be a torch.Tensor, got {type(X).__name__}")
    if X.dim() != 2:
        raise ValueError(f"X must be 2-D (N, d), got shape {tuple(X.shape)}")
    if not X.is_floating_point():
        raise ValueError(f"X must have a floating dtype, got {X.dtype}")
    if X.shape[0] < 1:
        raise ValueError("X must have at least one row (N >= 1)")


def _check_y(X: torch.Tensor, y: torch.Tensor) -> None:
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"y must be a torch.Tensor, got {type(y).__name__}")
    if y.dim() != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y must have shape (N,) = ({X.shape[0]},) to match X, got {tuple(y.shape)}"
        )
    if y.device != X.device:
        raise ValueError(f"y must be on X's device {X.device}, got {y.device}")


def _check_weights(X: torch.Tensor, w: torch.Tensor, name: str, ndim: int) -> None:
    if not isinstance(w, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(w).__name__}")
    d = X.shape[1]
    if ndim == 1 and (w.dim() != 1 or w.shape[0] != d):
        raise ValueError(
            f"{name} must have shape (d,) = ({d},) to match X, got {tuple(w.shape)}"
        )
    if ndim == 2 and (w.dim() != 2 or w.shape[0] != d or w.shape[1] < 1):
        raise ValueError(
            f"{name} must have shape (d, k) = ({d}, k) with k >= 1 to match X, "
            f"got {tuple(w.shape)}"
        )
    if w.dtype != X.dtype:
        raise ValueError(f"{name} must have X's dtype {X.dtype}, got {w.dtype}")
    if w.device != X.device:
        raise ValueError(f"{name} must be on X's device {X.device}, got {w.device}")


def _check_real_targets(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    _check_X(X)
    _check_y(X, y)
    _check_weights(X, w, "w", 1)
    if y.is_complex():
        raise ValueError(f"y must be real, got {y.dtype}")
    return y.to(X.dtype)


def _check_class_targets(X: torch.Tensor, y: torch.Tensor, W: torch.Tensor) -> None:
    _check_X(X)
    _check_y(X, y)
    _check_weights(X, W, "W", 2)
    if y.dtype != torch.int64:
        raise ValueError(f"y must hold int64 class indices, got {y.dtype}")
    k = W.shape[1]
    if bool(((y < 0) | (y >= k)).any()):
        raise ValueError(f"y holds a class index out of range [0, {k})")


def _check_number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
            value = value.item()
        else:
            try:
                value = operator.index(value)  # numpy integers
            except TypeError:
                try:
                    value = float(value)  # numpy floats
                except (TypeError, ValueError):
                    raise ValueError(
                        f"{name} must be a real number, got {type(value).__name__}"
                    ) from None
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _check_count(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got bool")
    try:
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _check_start(w0: torch.Tensor, lr: object) -> float:
    if not isinstance(w0, torch.Tensor) or not w0.is_floating_point():
        raise ValueError("w0 must be a floating-point torch.Tensor")
    lr = _check_number(lr, "lr")
    if lr < 0:
        raise ValueError(f"lr must be >= 0, got {lr}")
    return lr


def _as_update(g: object, w: torch.Tensor) -> torch.Tensor:
    """The gradient a callback returned, as a tensor of w's shape, dtype and device."""
    g = torch.as_tensor(g, dtype=w.dtype, device=w.device)
    if g.shape != w.shape:
        raise ValueError(
            f"grad_fn must return a gradient of w's shape {tuple(w.shape)}, "
            f"got {tuple(g.shape)}"
        )
    return g


def _logistic(z: torch.Tensor) -> torch.Tensor:
    # e = exp(-|z|) lies in (0, 1], so neither branch can overflow.
    e = torch.exp(-z.abs())
    return torch.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _row_log_probs(Z: torch.Tensor) -> torch.Tensor:
    m = Z.amax(dim=1, keepdim=True)
    shifted = Z - m
    return shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
### END SOLUTION


def linreg_loss(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Mean squared error of a linear model, halved: a 0-d tensor.

    loss = 1/(2N) sum_i (x_i . w - y_i)^2 = 1/(2N) ||X w - y||^2

    The 1/2 makes the gradient clean (see linreg_grad); note the 1/N (a mean, not a
    sum). X: (N, d) floating, y: (N,) (cast to X's dtype), w: (d,) with X's dtype.
    Raises ValueError (naming the argument) when X is not 2-D or has no rows, y is not
    (N,), or w is not (d,).
    """
    ### BEGIN SOLUTION
    y = _check_real_targets(X, y, w)
    r = X @ w - y
    return (r * r).sum() / (2 * X.shape[0])
    ### END SOLUTION


def linreg_grad(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Gradient of linreg_loss with respect to w, shape (d,).

    grad = 1/N X^T (X w - y)

    Mind the sign (residual is prediction minus target, so gradient descent moves
    against it) and the 1/N factor (the 2 from the square cancels the 1/2 of the
    loss). Same shapes and ValueErrors as linreg_loss.
    """
    ### BEGIN SOLUTION
    y = _check_real_targets(X, y, w)
    r = X @ w - y
    return (X.T @ r) / X.shape[0]
    ### END SOLUTION


def linreg_closed_form(X: torch.Tensor, y: torch.Tensor, l2: float = 0.0) -> torch.Tensor:
    """Exact minimiser of linreg_loss(X, y, w) + l2/2 ||w||^2, shape (d,).

    Setting the gradient to zero gives the (ridge) normal equations
        (X^T X + N l2 I) w = X^T y          (note the N: the loss is a mean).
    With l2 > 0 the matrix is positive definite: solve the system (never form an
    explicit inverse). With l2 = 0 and X rank-deficient (e.g. duplicated columns)
    there are infinitely many minimisers; return the one of minimum norm,
    w = pinv(X) y (torch.linalg.pinv works on CPU and CUDA alike).
    Raises ValueError when l2 < 0 (or not finite) and for bad X / y shapes.
    """
    ### BEGIN SOLUTION
    _check_X(X)
    _check_y(X, y)
    if y.is_complex():
        raise ValueError(f"y must be real, got {y.dtype}")
    l2 = _check_number(l2, "l2")
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    y = y.to(X.dtype)
    n, d = X.shape
    if l2 == 0:
        return torch.linalg.pinv(X) @ y
    A = X.T @ X + (n * l2) * torch.eye(d, dtype=X.dtype, device=X.device)
    return torch.linalg.solve(A, X.T @ y)
    ### END SOLUTION


def logreg_loss(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of logistic regression, from the logits: a 0-d tensor.

    z = X w,  loss = 1/N sum_i [ -y_i log sigmoid(z_i) - (1 - y_i) log(1 - sigmoid(z_i)) ]
                   = 1/N sum_i [ max(z_i, 0) - y_i z_i + log(1 + exp(-|z_i|)) ]
    Use the second form: computing sigmoid first and then its log gives log(0) = -inf
    (or nan) once |z| is large, e.g. z = +-1e4, even in float64; the loss must be
    finite for every finite logit (use log1p). y in {0, 1}, shape (N,), cast to X's
    dtype; w: (d,). Shape problems raise ValueError naming the argument.
    """
    ### BEGIN SOLUTION
    y = _check_real_targets(X, y, w)
    z = X @ w
    per_example = z.clamp(min=0) - y * z + torch.log1p(torch.exp(-z.abs()))
    return per_example.mean()
    ### END SOLUTION


def logreg_grad(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Gradient of logreg_loss with respect to w, shape (d,).

    grad = 1/N X^T (sigmoid(X w) - y)

    Write sigmoid yourself, stably: 1 / (1 + exp(-z)) overflows exp for very negative
    z; use exp(-|z|) and pick the form by the sign of z. Sign: prediction minus
    target. Same shapes and ValueErrors as logreg_loss.
    """
    ### BEGIN SOLUTION
    y = _check_real_targets(X, y, w)
    p = _logistic(X @ w)
    return (X.T @ (p - y)) / X.shape[0]
    ### END SOLUTION


def softmax_regression_loss(X: torch.Tensor, y: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of multinomial logistic regression: a 0-d tensor.

    Z = X W (N, k),  loss = 1/N sum_i [ logsumexp_j Z_ij - Z_{i, y_i} ]
    with logsumexp(z) = m + log sum_j exp(z_j - m), m = max_j z_j (subtract the row
    max or exp overflows for large logits). y: int64 class indices (N,) in [0, k);
    W: (d, k). Raises ValueError for non-int64 y, an index out of range, or bad
    shapes (each message names the argument).

    Numerical stability is required: logits Z of size 1e2 to 1e4 (around 1e3, say)
    must give the finite, accurate loss, never inf or nan (graded in float32 and
    float64).
    """
    ### BEGIN SOLUTION
    _check_class_targets(X, y, W)
    logp = _row_log_probs(X @ W)
    picked = logp.gather(1, y.unsqueeze(1)).squeeze(1)
    return -picked.mean()
    ### END SOLUTION


def softmax_regression_grad(X: torch.Tensor, y: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Gradient of softmax_regression_loss with respect to W, shape (d, k).

    grad = 1/N X^T (softmax(X W) - onehot(y))

    softmax rows computed stably (subtract the row max before exp); onehot(y) is the
    (N, k) matrix with a single 1 in column y_i of row i. Same arguments and
    ValueErrors as softmax_regression_loss, and the same stability requirement:
    logits around 1e3 give a finite, accurate gradient.
    """
    ### BEGIN SOLUTION
    _check_class_targets(X, y, W)
    P = torch.exp(_row_log_probs(X @ W))
    rows = torch.arange(X.shape[0], device=X.device)
    P[rows, y] -= 1.0
    return (X.T @ P) / X.shape[0]
    ### END SOLUTION


def numerical_gradient(
    f: Callable[[torch.Tensor], object], x: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """Central-difference estimate of the gradient of a scalar function f at x.

    For every coordinate i (in any shape, e.g. via a flat view of a copy):
        g_i = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)
    Central differences have error O(eps^2); the one-sided (f(x + eps e_i) - f(x)) / eps
    is only O(eps) and fails the grader. f takes a tensor of x's shape and returns a
    0-d tensor or a Python float. x itself must be left unchanged: perturb a clone,
    restore each coordinate after its two evaluations, and hand f a tensor it may
    modify without touching x. Returns a tensor of x's shape, dtype and device.
    Raises ValueError when eps <= 0, x is not a floating tensor, or f's value is not
    a scalar.
    """
    ### BEGIN SOLUTION
    if not callable(f):
        raise ValueError("f must be callable")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError("x must be a floating-point torch.Tensor")
    eps = _check_number(eps, "eps")
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")

    def value(point: torch.Tensor) -> float:
        out = f(point.clone())  # f may modify its argument freely
        if isinstance(out, torch.Tensor):
            if out.numel() != 1:
                raise ValueError(
                    f"f must return a scalar, got a tensor of shape {tuple(out.shape)}"
                )
            return float(out.detach().reshape(()).item())
        try:
            return float(out)
        except (TypeError, ValueError):
            raise ValueError(
                f"f must return a scalar, got {type(out).__name__}"
            ) from None

    work = x.detach().clone(memory_format=torch.contiguous_format)
    flat = work.view(-1)
    grads = []
    for i in range(flat.numel()):
        old = flat[i].clone()
        flat[i] = old + eps
        f_plus = value(work)
        flat[i] = old - eps
        f_minus = value(work)
        flat[i] = old  # restore before the next coordinate
        grads.append((f_plus - f_minus) / (2.0 * eps))
    return torch.tensor(grads, dtype=x.dtype, device=x.device).reshape(x.shape)
    ### END SOLUTION


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest elementwise relative error between a and b, as a Python float.

        rel = max_i |a_i - b_i| / max(1e-8, |a_i| + |b_i|)

    The 1e-8 floor keeps the ratio defined where both are 0: two all-zero tensors give
    0.0, not nan. Typical use: gradient checks (analytic vs numerical gradient).
    a and b must have the same shape (ValueError otherwise); empty tensors give 0.0.
    """
    ### BEGIN SOLUTION
    if not isinstance(a, torch.Tensor):
        a = torch.as_tensor(a)
    if not isinstance(b, torch.Tensor):
        b = torch.as_tensor(b)
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.is_complex() or b.is_complex():
        raise ValueError("a and b must be real tensors")
    if a.numel() == 0:
        return 0.0
    a64 = a.detach().to(torch.float64)
    b64 = b.detach().to(device=a.device, dtype=torch.float64)
    denom = (a64.abs() + b64.abs()).clamp(min=1e-8)
    return float(((a64 - b64).abs() / denom).amax().item())
    ### END SOLUTION


def gradient_descent(
    grad_fn: Callable[[torch.Tensor], torch.Tensor],
    w0: torch.Tensor,
    lr: float,
    steps: int,
) -> torch.Tensor:
    """Full-batch gradient descent; returns the final weights.

        w_0 = copy of w0;  w_{t+1} = w_t - lr * grad_fn(w_t),  t = 0, ..., steps - 1

    Step against the gradient (minus sign). Work on a copy: w0 must not be modified
    (no in-place update of the caller's tensor). grad_fn is any Python callable taking
    a plain tensor of w0's shape and returning the gradient of that shape. steps = 0
    returns a copy of w0. Keeps w0's dtype and device. Raises ValueError when lr < 0,
    steps < 0 (or not an integer), or w0 is not a floating tensor.
    """
    ### BEGIN SOLUTION
    if not callable(grad_fn):
        raise ValueError("grad_fn must be callable")
    lr = _check_start(w0, lr)
    steps = _check_count(steps, "steps", 0)
    w = w0.detach().clone()
    for _ in range(steps):
        w = w - lr * _as_update(grad_fn(w), w)
    return w
    ### END SOLUTION


def minibatch_sgd(
    grad_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    X: torch.Tensor,
    y: torch.Tensor,
    w0: torch.Tensor,
    lr: float,
    epochs: int,
    batch_size: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mini-batch stochastic gradient descent; returns the final weights.

    For each epoch: perm = torch.randperm(N, generator=generator), drawn on the
    generator's device (CPU when generator is None) and then moved to X's device;
    for the consecutive slices idx = perm[0:B], perm[B:2B], ... (the last slice may be
    shorter when B does not divide N):
        w <- w - lr * grad_fn(X[idx], y[idx], w)
    Draw the permutation from `generator` (the only source of randomness; with None
    torch's global RNG is used), a fresh one each epoch, and start from a copy: w0 must
    not be modified. X: (N, d), y: (N,). epochs = 0 returns a copy of w0.
    Raises ValueError for bad X / y shapes, lr < 0, epochs < 0, batch_size < 1.
    """
    ### BEGIN SOLUTION
    if not callable(grad_fn):
        raise ValueError("grad_fn must be callable")
    _check_X(X)
    _check_y(X, y)
    lr = _check_start(w0, lr)
    epochs = _check_count(epochs, "epochs", 0)
    batch_size = _check_count(batch_size, "batch_size", 1)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    n = X.shape[0]
    perm_device = generator.device if generator is not None else torch.device("cpu")
    w = w0.detach().clone()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator, device=perm_device).to(X.device)
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            w = w - lr * _as_update(grad_fn(X[idx], y[idx], w), w)
    return w
    ### END SOLUTION
