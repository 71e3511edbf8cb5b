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


_SQRT_2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_GELU_C = math.sqrt(2.0 / math.pi)  # sqrt(2/pi), the tanh form's scale
_GELU_K = 0.044715  # the tanh form's cubic coefficient


def _check_x(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"x must have a floating dtype (float32 or float64), got {x.dtype}")


def _check_approximate(approximate: str) -> None:
    if not isinstance(approximate, str) or approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")


def _check_slope(negative_slope: float) -> float:
    if isinstance(negative_slope, torch.Tensor) and negative_slope.numel() == 1 \
            and not negative_slope.dtype.is_complex and negative_slope.dtype != torch.bool:
        return float(negative_slope)
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
        raise ValueError(f"negative_slope must be a real number, got {negative_slope!r}")
    return float(negative_slope)


def _check_dim(x: torch.Tensor, dim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise ValueError(f"dim must be an int, got {dim!r}")
    n = max(x.dim(), 1)  # a 0-d tensor accepts dim 0 and -1, as in torch
    if not -n <= dim < n:
        raise ValueError(
            f"dim={dim} is out of range for a tensor with {x.dim()} dimension(s): "
            f"expected a value in [{-n}, {n - 1}]"
        )
    return int(dim)


def _stable_sigmoid(z: torch.Tensor) -> torch.Tensor:
    # e = exp(-|z|) is in (0, 1]: no overflow. For z >= 0 the sigmoid is 1 / (1 + e);
    # for z < 0 it is e / (1 + e) (multiply 1 / (1 + exp(-z)) by exp(z) / exp(z)).
    e = torch.exp(-torch.abs(z))
    return torch.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _sigmoid_slope(z: torch.Tensor) -> torch.Tensor:
    # sigmoid(z) * sigmoid(-z) = e / (1 + e)^2 with e = exp(-|z|) (it is even in z)
    e = torch.exp(-torch.abs(z))
    return e / (1.0 + e) ** 2


def _shifted(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    # x - max over dim: every exponent is <= 0, and at least one term of the sum is 1
    shifted = x - x.amax(dim=dim, keepdim=True)
    return shifted, torch.exp(shifted).sum(dim=dim, keepdim=True)


def sigmoid(x):
    e = torch.exp(x)
    return e / (1 + e)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """The hyperbolic tangent, as ``torch.tanh``: (e^x - e^-x) / (e^x + e^-x).

    The values lie in [-1, 1]; tanh is odd, tanh(x) = 2 s(2x) - 1 with s the sigmoid.
    Written with e^x and e^-x it overflows (inf / inf = nan) for |x| > 88.7 in
    float32; with e = exp(-2|x|) <= 1 instead,
        tanh(x) = sign(x) * (1 - e) / (1 + e),
    and 1 - e is best computed as -expm1(-2|x|) so that tiny x keep their precision.
    torch.tanh counts as an elementary operation and is allowed here.
    """
    _check_x(x)
    a = torch.abs(x)
    t = -torch.expm1(-2.0 * a) / (1.0 + torch.exp(-2.0 * a))
    return torch.copysign(t, x)


def relu(x: torch.Tensor) -> torch.Tensor:
    """The rectified linear unit, as ``torch.relu``: max(x, 0) elementwise.

    Negative entries become 0, the others are returned unchanged (nan stays nan).
    Return a new tensor: setting ``x[x < 0] = 0`` would modify the caller's tensor.
    """
    _check_x(x)
    return torch.where(x < 0, torch.zeros_like(x), x)


def leaky_relu(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """Leaky ReLU, as ``torch.nn.functional.leaky_relu``: x if x > 0 else negative_slope * x.

    The default slope is 0.01 (as in torch). Any real slope is accepted, as in torch.

    Raises ValueError: negative_slope is not a real number.
    """
    _check_x(x)
    slope = _check_slope(negative_slope)
    return torch.where(x > 0, x, x * slope)


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
    _check_x(x)
    _check_approximate(approximate)
    if approximate == "tanh":
        u = _GELU_C * (x + _GELU_K * x * x * x)
        return x * _stable_sigmoid(2.0 * u)
    return 0.5 * x * torch.erfc(-x / _SQRT_2)


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
    _check_x(x)
    dim = _check_dim(x, dim)
    if x.numel() == 0:
        return torch.empty_like(x)
    shifted, total = _shifted(x, dim)
    return torch.exp(shifted) / total


def log_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Log of the softmax along ``dim``, as ``torch.log_softmax``.

        log_softmax(x)_i = x_i - log sum_j exp(x_j)
                         = (x_i - m) - log sum_j exp(x_j - m),   m = max_j x_j.
    Never take log(softmax(x)): a probability that underflows to 0 gives -inf although
    the true value (e.g. -2e4 for a logit gap of 2e4) is finite. The values are <= 0 and
    exp(log_softmax(x)) sums to 1 along dim.

    Raises ValueError: dim out of range for x.
    """
    _check_x(x)
    dim = _check_dim(x, dim)
    if x.numel() == 0:
        return torch.empty_like(x)
    shifted, total = _shifted(x, dim)
    return shifted - torch.log(total)


def sigmoid_grad(x: torch.Tensor) -> torch.Tensor:
    """The derivative of the sigmoid at the pre-activation x: s'(x) = s(x) * (1 - s(x)).

    x is the sigmoid's INPUT: use s(x) (not x itself) in the formula, i.e. not
    x * (1 - x), which is what you get when you confuse the input with the output.
    s'(0) = 1/4 (the maximum), and s'(x) -> 0 for large |x| (no nan at |x| = 1e4).
    1 - s(x) = s(-x) is more accurate than 1 - s(x) where s(x) is close to 1.
    """
    _check_x(x)
    return _sigmoid_slope(x)


def tanh_grad(x: torch.Tensor) -> torch.Tensor:
    """The derivative of tanh at the pre-activation x: 1 - tanh(x)^2.

    Not 1 - x^2 (that treats the input as the output), and not 1 - tanh(x) (the square
    is missing). It is 1 at x = 0 and tends to 0 for large |x|. Equivalently
    sech(x)^2 = 4 e / (1 + e)^2 with e = exp(-2|x|).
    """
    _check_x(x)
    e = torch.exp(-2.0 * torch.abs(x))
    return 4.0 * e / (1.0 + e) ** 2


def relu_grad(x: torch.Tensor) -> torch.Tensor:
    """The derivative of ReLU at x: 1 where x > 0, else 0 (a tensor of x's dtype).

    ReLU has a kink at 0 where the derivative is not defined; torch autograd uses 0
    there, and so do we: relu_grad(0) == 0. Compare with ``x > 0``, not ``x >= 0``, and
    convert the boolean mask to x's dtype (``.float()`` would turn float64 into float32).
    """
    _check_x(x)
    return (x > 0).to(x.dtype)


def leaky_relu_grad(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """The derivative of leaky ReLU at x: 1 where x > 0, else negative_slope.

    At the kink x = 0 torch autograd uses negative_slope, and so do we:
    leaky_relu_grad(0) == negative_slope. The result has x's shape and dtype.

    Raises ValueError: negative_slope is not a real number.
    """
    _check_x(x)
    slope = _check_slope(negative_slope)
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, slope))


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
    _check_x(x)
    _check_approximate(approximate)
    if approximate == "tanh":
        u = _GELU_C * (x + _GELU_K * x * x * x)
        du = _GELU_C * (1.0 + 3.0 * _GELU_K * x * x)
        # (1 + t) / 2 = s(2u) and (1 - t^2) / 2 = 2 s(2u) s(-2u)
        return _stable_sigmoid(2.0 * u) + x * 2.0 * _sigmoid_slope(2.0 * u) * du
    cdf = 0.5 * torch.erfc(-x / _SQRT_2)
    pdf = torch.exp(-0.5 * x * x) / _SQRT_2PI
    return cdf + x * pdf
