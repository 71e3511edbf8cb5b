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


def linreg_loss(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Mean squared error of a linear model, halved: a 0-d tensor.

    loss = 1/(2N) sum_i (x_i . w - y_i)^2 = 1/(2N) ||X w - y||^2

    The 1/2 makes the gradient clean (see linreg_grad); note the 1/N (a mean, not a
    sum). X: (N, d) floating, y: (N,) (cast to X's dtype), w: (d,) with X's dtype.
    Raises ValueError (naming the argument) when X is not 2-D or has no rows, y is not
    (N,), or w is not (d,).
    """
    # YOUR CODE HERE
    raise NotImplementedError("gradients.linreg_loss: not implemented yet")


def linreg_grad(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Gradient of linreg_loss with respect to w, shape (d,).

    grad = 1/N X^T (X w - y)

    Mind the sign (residual is prediction minus target, so gradient descent moves
    against it) and the 1/N factor (the 2 from the square cancels the 1/2 of the
    loss). Same shapes and ValueErrors as linreg_loss.
    """
    # YOUR CODE HERE
    raise NotImplementedError("gradients.linreg_grad: not implemented yet")


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
    # YOUR CODE HERE
    raise NotImplementedError("gradients.linreg_closed_form: not implemented yet")


def logreg_loss(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of logistic regression, from the logits: a 0-d tensor.

    z = X w,  loss = 1/N sum_i [ -y_i log sigmoid(z_i) - (1 - y_i) log(1 - sigmoid(z_i)) ]
                   = 1/N sum_i [ max(z_i, 0) - y_i z_i + log(1 + exp(-|z_i|)) ]
    Use the second form: computing sigmoid first and then its log gives log(0) = -inf
    (or nan) once |z| is large, e.g. z = +-1e4, even in float64; the loss must be
    finite for every finite logit (use log1p). y in {0, 1}, shape (N,), cast to X's
    dtype; w: (d,). Shape problems raise ValueError naming the argument.
    """
    # YOUR CODE HERE
    raise NotImplementedError("gradients.logreg_loss: not implemented yet")


def logreg_grad(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Gradient of logreg_loss with respect to w, shape (d,).

    grad = 1/N X^T (sigmoid(X w) - y)

    Write sigmoid yourself, stably: 1 / (1 + exp(-z)) overflows exp for very negative
    z; use exp(-|z|) and pick the form by the sign of z. Sign: prediction minus
    target. Same shapes and ValueErrors as logreg_loss.
    """
    # YOUR CODE HERE
    raise NotImplementedError("gradients.logreg_grad: not implemented yet")


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
    # YOUR CODE HERE
    raise NotImplementedError("gradients.softmax_regression_loss: not implemented yet")


def softmax_regression_grad(X: torch.Tensor, y: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Gradient of softmax_regression_loss with respect to W, shape (d, k).

    grad = 1/N X^T (softmax(X W) - onehot(y))

    softmax rows computed stably (subtract the row max before exp); onehot(y) is the
    (N, k) matrix with a single 1 in column y_i of row i. Same arguments and
    ValueErrors as softmax_regression_loss, and the same stability requirement:
    logits around 1e3 give a finite, accurate gradient.
    """
    # YOUR CODE HERE
    raise NotImplementedError("gradients.softmax_regression_grad: not implemented yet")


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
    # YOUR CODE HERE
    raise NotImplementedError("gradients.numerical_gradient: not implemented yet")


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest elementwise relative error between a and b, as a Python float.

        rel = max_i |a_i - b_i| / max(1e-8, |a_i| + |b_i|)

    The 1e-8 floor keeps the ratio defined where both are 0: two all-zero tensors give
    0.0, not nan. Typical use: gradient checks (analytic vs numerical gradient).
    a and b must have the same shape (ValueError otherwise); empty tensors give 0.0.
    """
    # YOUR CODE HERE
    raise NotImplementedError("gradients.relative_error: not implemented yet")


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
    # YOUR CODE HERE
    raise NotImplementedError("gradients.gradient_descent: not implemented yet")


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
    # YOUR CODE HERE
    raise NotImplementedError("gradients.minibatch_sgd: not implemented yet")
