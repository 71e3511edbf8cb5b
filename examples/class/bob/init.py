"""Weight initialisation: fans, gains and the classic initializers, written in place.

A layer's weight tensor has the shape ``(out_features, in_features)`` for a linear
layer and ``(out_channels, in_channels, k1, k2, ...)`` for a convolution. One output
unit sums ``fan_in`` products (in_channels times the kernel's receptive field), and one
input unit feeds ``fan_out`` of them. If the inputs of a layer have second moment q and
the weights have variance s^2, every pre-activation has variance ``fan_in * s^2 * q``:
the initializers pick s so that this stays of order one through a deep network.

Every initializer fills its tensor **in place** (the tensor keeps its identity, shape,
dtype and device, and a leaf that requires grad stays a leaf), does so under
``torch.no_grad()``, and returns the same tensor. Random initializers take
``generator=None`` last and draw only from it (``None`` means torch's global random
number generator); sample with ``Tensor.uniform_`` / ``Tensor.normal_`` or
``torch.rand`` / ``torch.randn`` with ``generator=generator`` on the tensor's device.

Bad arguments raise ``ValueError`` whose message names the argument. Write the maths
yourself: torch.nn (and so torch.nn.init) is off limits.
"""

from __future__ import annotations

import math
import numbers

import torch

__all__ = [
    "calculate_fan_in_and_fan_out",
    "calculate_gain",
    "uniform_",
    "normal_",
    "zeros_",
    "constant_",
    "fan_in_uniform_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
]


_LINEAR_FNS = (
    "linear", "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
)


def _check_tensor(t: torch.Tensor, name: str = "tensor") -> None:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")


def _check_float_tensor(t: torch.Tensor, name: str = "tensor") -> None:
    _check_tensor(t, name)
    if not t.is_floating_point():
        raise ValueError(f"{name} must have a floating dtype to hold random values, got {t.dtype}")


def _check_real(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def _check_gain(gain: float) -> float:
    gain = _check_real(gain, "gain")
    if gain < 0:
        raise ValueError(f"gain must be >= 0, got {gain!r}")
    return gain


def _fill_uniform(t: torch.Tensor, low: float, high: float, generator) -> torch.Tensor:
    with torch.no_grad():
        return t.uniform_(low, high, generator=generator)


def _fill_normal(t: torch.Tensor, mean: float, std: float, generator) -> torch.Tensor:
    with torch.no_grad():
        return t.normal_(mean, std, generator=generator)


def _correct_fan(t: torch.Tensor, mode: str) -> int:
    if not isinstance(mode, str) or mode.lower() not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(t)
    return fan_in if mode.lower() == "fan_in" else fan_out


def _kaiming_std(t: torch.Tensor, a: float, mode: str, nonlinearity: str) -> float:
    fan = _correct_fan(t, mode)
    gain = calculate_gain(nonlinearity, a)
    return gain / math.sqrt(fan)


def calculate_fan_in_and_fan_out(tensor: torch.Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight tensor, as ``torch.nn.init._calculate_fan_in_and_fan_out``.

    For a weight of shape ``(out, in, k1, ..., kd)`` (d = 0 for a linear layer) the
    receptive field is ``k1 * ... * kd`` (1 when d = 0) and
        fan_in  = in  * receptive field,
        fan_out = out * receptive field.
    Note the order: dimension 0 is the output, dimension 1 the input (``x @ W.T``).
    Both are Python ints.

    Raises ValueError: a tensor with fewer than 2 dimensions (a bias has no fans).
    """
    _check_tensor(tensor)
    if tensor.dim() < 2:
        raise ValueError(
            "fan in and fan out can not be computed for a tensor with fewer than 2 "
            f"dimensions (got shape {tuple(tensor.shape)})"
        )
    receptive_field = 1
    for size in tensor.shape[2:]:
        receptive_field *= int(size)
    return int(tensor.shape[1]) * receptive_field, int(tensor.shape[0]) * receptive_field


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity, as ``torch.nn.init.calculate_gain``.

    ==========================================================  =========================
    "linear", "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "sigmoid"                                                   1
    "tanh"                                                      5/3
    "relu"                                                      sqrt(2)
    "leaky_relu"                                                sqrt(2 / (1 + slope^2))
    "selu"                                                      3/4
    ==========================================================  =========================

    For "leaky_relu", ``param`` is the negative slope (0.01 when None); it must be an
    int or a float (not a bool). ``param`` is ignored for the other nonlinearities.
    Why sqrt(2) for ReLU: relu(z)^2 has half the second moment of a symmetric z, and
    the gain squared puts that factor 2 back. Leaky ReLU keeps (1 + slope^2)/2 of it.

    Raises ValueError: an unknown nonlinearity (names are lower case, as in
    torch.nn.functional); a leaky_relu param that is not a number.
    """
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, bool) or not isinstance(param, (int, float)):
            raise ValueError(f"param (the negative slope of leaky_relu) must be a number, got {param!r}")
        else:
            slope = param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def uniform_(t: torch.Tensor, a: float = 0.0, b: float = 1.0,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill ``t`` in place with samples of the uniform distribution U(a, b); return ``t``.

    Every value lies in [a, b]; the mean is (a + b)/2 and the variance (b - a)^2 / 12.
    From u ~ U(0, 1) (``torch.rand``), a + (b - a) * u is U(a, b).

    Raises ValueError: a or b not finite numbers, or a > b (a == b fills with a).
    """
    _check_float_tensor(t, "t")
    low, high = _check_real(a, "a"), _check_real(b, "b")
    if low > high:
        raise ValueError(f"the lower bound a must be <= the upper bound b, got a={a!r}, b={b!r}")
    return _fill_uniform(t, low, high, generator)


def normal_(t: torch.Tensor, mean: float = 0.0, std: float = 1.0,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill ``t`` in place with samples of the normal distribution N(mean, std^2); return ``t``.

    ``std`` is the standard deviation (not the variance). From z ~ N(0, 1)
    (``torch.randn``), mean + std * z is N(mean, std^2). std = 0 fills with mean.

    Raises ValueError: mean or std not finite numbers, or std < 0.
    """
    _check_float_tensor(t, "t")
    mu, sigma = _check_real(mean, "mean"), _check_real(std, "std")
    if sigma < 0:
        raise ValueError(f"std must be >= 0, got {std!r}")
    return _fill_normal(t, mu, sigma, generator)


def zeros_(t: torch.Tensor) -> torch.Tensor:
    """Fill ``t`` in place with zeros; return ``t``."""
    _check_tensor(t, "t")
    with torch.no_grad():
        return t.zero_()


def constant_(t: torch.Tensor, val: float) -> torch.Tensor:
    """Fill ``t`` in place with the value ``val``; return ``t``.

    Raises ValueError: val not a real number.
    """
    _check_tensor(t, "t")
    if isinstance(val, bool) or not isinstance(val, numbers.Real):
        raise ValueError(f"val must be a real number, got {val!r}")
    with torch.no_grad():
        return t.fill_(val)


def fan_in_uniform_(t: torch.Tensor, fan_in: int | None = None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """The default of torch.nn.Linear and torch.nn.ConvNd, in place: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    ``fan_in`` defaults to the fan-in of ``t`` itself (``t`` then needs at least 2
    dimensions); pass it explicitly for a bias, whose bound comes from its layer's
    weight (a bias of a Linear(in, out) layer gets fan_in = in). Returns ``t``.
    (torch writes the weight's case as kaiming_uniform_ with a = sqrt(5): the gain
    sqrt(2 / (1 + 5)) = sqrt(1/3) times sqrt(3 / fan_in) is the same bound.)

    Raises ValueError: fan_in not a positive int; fan_in None and t with fewer than 2
    dimensions.
    """
    _check_float_tensor(t, "t")
    if fan_in is None:
        fan_in = calculate_fan_in_and_fan_out(t)[0]
        if t.numel() == 0:
            return t
    elif isinstance(fan_in, bool) or not isinstance(fan_in, numbers.Integral):
        raise ValueError(f"fan_in must be a positive int, got {fan_in!r}")
    if fan_in < 1:
        raise ValueError(f"fan_in must be a positive int, got {fan_in!r}")
    bound = 1.0 / math.sqrt(fan_in)
    return _fill_uniform(t, -bound, bound, generator)


def xavier_uniform_(t, gain=1.0, generator=None):
    fan_in, fan_out = calculate_fan_in_and_fan_out(t)
    bound = math.sqrt(3.0) * gain / math.sqrt(fan_in)
    return _fill_uniform(t, -bound, bound, generator)


def xavier_normal_(t, gain=1.0, generator=None):
    fan_in, fan_out = calculate_fan_in_and_fan_out(t)
    return _fill_normal(t, 0.0, gain / math.sqrt(fan_in), generator)


def kaiming_uniform_(t: torch.Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """He / Kaiming uniform, as ``torch.nn.init.kaiming_uniform_``: U(-bound, bound) in place.

        gain  = calculate_gain(nonlinearity, a)   (a: leaky_relu's negative slope)
        std   = gain / sqrt(fan),  fan = fan_in (mode="fan_in") or fan_out (mode="fan_out")
        bound = sqrt(3) * std
    The defaults (a = 0, "leaky_relu") give gain sqrt(2), the ReLU gain: with it the
    second moment of ReLU activations stays constant from layer to layer. "fan_in"
    preserves the forward pass, "fan_out" the backward pass. Returns ``t``; a tensor
    with no elements is returned unchanged.

    Raises ValueError: mode not "fan_in" / "fan_out"; an unknown nonlinearity; t with
    fewer than 2 dimensions.
    """
    _check_float_tensor(t, "t")
    if 0 in t.shape:
        return t
    bound = math.sqrt(3.0) * _kaiming_std(t, a, mode, nonlinearity)
    return _fill_uniform(t, -bound, bound, generator)


def kaiming_normal_(t: torch.Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """He / Kaiming normal, as ``torch.nn.init.kaiming_normal_``: N(0, std^2) in place with

        std = calculate_gain(nonlinearity, a) / sqrt(fan),
    fan = fan_in or fan_out by ``mode``, as in :func:`kaiming_uniform_`. Returns ``t``;
    a tensor with no elements is returned unchanged.

    Raises ValueError: mode not "fan_in" / "fan_out"; an unknown nonlinearity; t with
    fewer than 2 dimensions.
    """
    _check_float_tensor(t, "t")
    if 0 in t.shape:
        return t
    std = _kaiming_std(t, a, mode, nonlinearity)
    return _fill_normal(t, 0.0, std, generator)
