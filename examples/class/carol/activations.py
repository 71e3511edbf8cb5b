"""Activation functions and their derivatives by hand.

Every function takes a floating tensor ``x`` of any shape (float32 or float64, on the
CPU or a GPU) and returns a new tensor of the same shape, dtype and device; ``x`` itself
is never modified. The forward functions agree with PyTorch (``torch.sigmoid``,
``torch.tanh``, ``torch.relu``, ``torch.nn.functional.leaky_relu``, ``gelu``,
``torch.softmax``, ``torch.log_softmax``) and stay finite for inputs as large as
|x| = 1e4 in float32. The ``*_grad`` functions return the derivative of the activation
evaluated at the pre-activation ``x`` (elementwise, the same shape as ``x``); at a kink
they follow torch autograd: ``relu_grad(0) == 0`` and
``leaky_relu_grad(0) == negative_slope``.

float32 overflows beyond about 3.4e38, so exp(x) is inf already for x > 88.7 (x > 709.8
in float64), and inf / inf = nan. The stable way is to only ever exponentiate numbers
<= 0: exp(-|x|) <= 1 for a sigmoid, exp(x - max x) <= 1 for a softmax.

Bad arguments raise ``ValueError`` whose message names the argument: ``x`` that is not
a floating tensor, ``approximate`` other than ``"none"`` / ``"tanh"``, ``dim`` out of
range for ``x``, ``negative_slope`` that is not a number.

Write the maths yourself: no torch.nn, torch.autograd, torch.func, nor the ready-made
sigmoid / relu / softmax / log_softmax / logsumexp (in any namespace, tensor methods and
torch.special.expit included). Elementary operations are fine: exp, expm1, log, log1p,
tanh, erf, erfc, where, clamp, maximum, reductions.
"""

from __future__ import annotations

import math
import numbers

import torch

__all__ = [
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "gelu",
    "softmax",
    "log_softmax",
    "sigmoid_grad",
    "tanh_grad",
    "relu_grad",
    "leaky_relu_grad",
    "gelu_grad",
]


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """The logistic sigmoid, as ``torch.sigmoid``: s(x) = 1 / (1 + exp(-x)).

    The values lie in [0, 1]; s(0) = 1/2 and s(-x) = 1 - s(x). Written as
    exp(x) / (1 + exp(x)) it gives inf / inf = nan for x > 88.7 in float32. Evaluate it
    with e = exp(-|x|), which never overflows:
        s(x) = 1 / (1 + e)  for x >= 0,      s(x) = e / (1 + e)  for x < 0.
    (Another stable route: s(x) = (1 + tanh(x / 2)) / 2.)
    """
    # YOUR CODE HERE
    raise NotImplementedError("activations.sigmoid: not implemented yet")


def tanh(x: torch.Tensor) -> torch.Tensor:
    """The hyperbolic tangent, as ``torch.tanh``: (e^x - e^-x) / (e^x + e^-x).

    The values lie in [-1, 1]; tanh is odd, tanh(x) = 2 s(2x) - 1 with s the sigmoid.
    Written with e^x and e^-x it overflows (inf / inf = nan) for |x| > 88.7 in
    float32; with e = exp(-2|x|) <= 1 instead,
        tanh(x) = sign(x) * (1 - e) / (1 + e),
    and 1 - e is best computed as -expm1(-2|x|) so that tiny x keep their precision.
    torch.tanh counts as an elementary operation and is allowed here.
    """
    # YOUR CODE HERE
    raise NotImplementedError("activations.tanh: not implemented yet")


def relu(x: torch.Tensor) -> torch.Tensor:
    """The rectified linear unit, as ``torch.relu``: max(x, 0) elementwise.

    Negative entries become 0, the others are returned unchanged (nan stays nan).
    Return a new tensor: setting ``x[x < 0] = 0`` would modify the caller's tensor.
    """
    # YOUR CODE HERE
    raise NotImplementedError("activations.relu: not implemented yet")


def leaky_relu(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """Leaky ReLU, as ``torch.nn.functional.leaky_relu``: x if x > 0 else negative_slope * x.

    The default slope is 0.01 (as in torch). Any real slope is accepted, as in torch.

    Raises ValueError: negative_slope is not a real number.
    """
    # YOUR CODE HERE
    raise NotImplementedError("activations.leaky_relu: not implemented yet")


def gelu(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """The Gaussian error linear unit, as ``torch.nn.functional.gelu``.

    approximate="none" (the default) is the exact form
        gelu(x) = x * Phi(x),   Phi(x) = (1 + erf(x / sqrt(2))) / 2,
    Phi being the standard normal CDF. approximate="tanh" is the tanh approximation
        gelu(x) ~ x * (1 + tanh(u)) / 2,   u = sqrt(2 / pi) * (x + 0.044715 * x^3).
    The two differ by up to about 5e-4 (near |x| = 2), far more than float32 rounding,
    so the argument matters. For large negative x, 1 + erf(...) and 1 + tanh(...) are
    differences of nearly equal numbers; Phi(x) = erfc(-x / sqrt(2)) / 2 and
    (1 + tanh(u)) / 2 = s(2u) (the sigmoid) avoid that.

    Raises ValueError: approximate is not "none" or "tanh".
    """
    # YOUR CODE HERE
    raise NotImplementedError("activations.gelu: not implemented yet")


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax along ``dim``, as ``torch.softmax``: exp(x_i) / sum_j exp(x_j).

    Each slice along ``dim`` becomes a probability distribution (entries in [0, 1]
    summing to 1); the other dims are independent (dim=0 normalises each column of a
    matrix). Adding a constant to a slice does not change its softmax, so subtract the
    slice's maximum first (``keepdim=True`` keeps the shapes aligned):
        softmax(x) = exp(x - m) / sum_j exp(x_j - m),   m = max_j x_j,
    every exponent is then <= 0 and the sum is >= 1: no inf / inf = nan for large
    logits. Subtracting the maximum of the whole tensor instead is not enough: a slice
    far below it underflows to 0 / 0. Entries of -inf (masked) get probability 0.

    Raises ValueError: dim out of range for x.
    """
    # YOUR CODE HERE
    raise NotImplementedError("activations.softmax: not implemented yet")


def log_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Log of the softmax along ``dim``, as ``torch.log_softmax``.

        log_softmax(x)_i = x_i - log sum_j exp(x_j)
                         = (x_i - m) - log sum_j exp(x_j - m),   m = max_j x_j.
    Never take log(softmax(x)): a probability that underflows to 0 gives -inf although
    the true value (e.g. -2e4 for a logit gap of 2e4) is finite. The values are <= 0 and
    exp(log_softmax(x)) sums to 1 along dim.

    Raises ValueError: dim out of range for x.
    """
    # YOUR CODE HERE
    raise NotImplementedError("activations.log_softmax: not implemented yet")


def sigmoid_grad(x: torch.Tensor) -> torch.Tensor:
    """The derivative of the sigmoid at the pre-activation x: s'(x) = s(x) * (1 - s(x)).

    x is the sigmoid's INPUT: use s(x) (not x itself) in the formula, i.e. not
    x * (1 - x), which is what you get when you confuse the input with the output.
    s'(0) = 1/4 (the maximum), and s'(x) -> 0 for large |x| (no nan at |x| = 1e4).
    1 - s(x) = s(-x) is more accurate than 1 - s(x) where s(x) is close to 1.
    """
    # YOUR CODE HERE
    raise NotImplementedError("activations.sigmoid_grad: not implemented yet")


def tanh_grad(x: torch.Tensor) -> torch.Tensor:
    """The derivative of tanh at the pre-activation x: 1 - tanh(x)^2.

    Not 1 - x^2 (that treats the input as the output), and not 1 - tanh(x) (the square
    is missing). It is 1 at x = 0 and tends to 0 for large |x|. Equivalently
    sech(x)^2 = 4 e / (1 + e)^2 with e = exp(-2|x|).
    """
    # YOUR CODE HERE
    raise NotImplementedError("activations.tanh_grad: not implemented yet")


def relu_grad(x: torch.Tensor) -> torch.Tensor:
    """The derivative of ReLU at x: 1 where x > 0, else 0 (a tensor of x's dtype).

    ReLU has a kink at 0 where the derivative is not defined; torch autograd uses 0
    there, and so do we: relu_grad(0) == 0. Compare with ``x > 0``, not ``x >= 0``, and
    convert the boolean mask to x's dtype (``.float()`` would turn float64 into float32).
    """
    # YOUR CODE HERE
    raise NotImplementedError("activations.relu_grad: not implemented yet")


def leaky_relu_grad(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """The derivative of leaky ReLU at x: 1 where x > 0, else negative_slope.

    At the kink x = 0 torch autograd uses negative_slope, and so do we:
    leaky_relu_grad(0) == negative_slope. The result has x's shape and dtype.

    Raises ValueError: negative_slope is not a real number.
    """
    # YOUR CODE HERE
    raise NotImplementedError("activations.leaky_relu_grad: not implemented yet")


def gelu_grad(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """The derivative of ``gelu(x, approximate)`` at x.

    Exact form, by the product rule on x * Phi(x):
        gelu'(x) = Phi(x) + x * phi(x),   phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    (phi is the standard normal density; forgetting the x * phi(x) term is a classic).
    Tanh form, with u = sqrt(2/pi) (x + 0.044715 x^3) and t = tanh(u):
        gelu'(x) = (1 + t) / 2 + x * (1 - t^2) / 2 * sqrt(2/pi) * (1 + 3 * 0.044715 x^2).
    Both are 1/2 at x = 0, tend to 1 for large x and to 0 for large negative x.

    Raises ValueError: approximate is not "none" or "tanh".
    """
    # YOUR CODE HERE
    raise NotImplementedError("activations.gelu_grad: not implemented yet")
