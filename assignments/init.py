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
    # YOUR CODE HERE
    raise NotImplementedError("init.calculate_fan_in_and_fan_out: not implemented yet")


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
    # YOUR CODE HERE
    raise NotImplementedError("init.calculate_gain: not implemented yet")


def uniform_(t: torch.Tensor, a: float = 0.0, b: float = 1.0,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill ``t`` in place with samples of the uniform distribution U(a, b); return ``t``.

    Every value lies in [a, b]; the mean is (a + b)/2 and the variance (b - a)^2 / 12.
    From u ~ U(0, 1) (``torch.rand``), a + (b - a) * u is U(a, b).

    Raises ValueError: a or b not finite numbers, or a > b (a == b fills with a).
    """
    # YOUR CODE HERE
    raise NotImplementedError("init.uniform_: not implemented yet")


def normal_(t: torch.Tensor, mean: float = 0.0, std: float = 1.0,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill ``t`` in place with samples of the normal distribution N(mean, std^2); return ``t``.

    ``std`` is the standard deviation (not the variance). From z ~ N(0, 1)
    (``torch.randn``), mean + std * z is N(mean, std^2). std = 0 fills with mean.

    Raises ValueError: mean or std not finite numbers, or std < 0.
    """
    # YOUR CODE HERE
    raise NotImplementedError("init.normal_: not implemented yet")


def zeros_(t: torch.Tensor) -> torch.Tensor:
    """Fill ``t`` in place with zeros; return ``t``."""
    # YOUR CODE HERE
    raise NotImplementedError("init.zeros_: not implemented yet")


def constant_(t: torch.Tensor, val: float) -> torch.Tensor:
    """Fill ``t`` in place with the value ``val``; return ``t``.

    Raises ValueError: val not a real number.
    """
    # YOUR CODE HERE
    raise NotImplementedError("init.constant_: not implemented yet")


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
    # YOUR CODE HERE
    raise NotImplementedError("init.fan_in_uniform_: not implemented yet")


def xavier_uniform_(t: torch.Tensor, gain: float = 1.0,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Glorot / Xavier uniform, as ``torch.nn.init.xavier_uniform_``: U(-bound, bound) in place.

        std   = gain * sqrt(2 / (fan_in + fan_out))
        bound = sqrt(3) * std  = gain * sqrt(6 / (fan_in + fan_out))
    (a uniform on [-b, b] has standard deviation b / sqrt(3)). Averaging the two fans
    keeps both the forward activations and the backward gradients of order one.
    Returns ``t``.

    Raises ValueError: t with fewer than 2 dimensions; gain not a number >= 0.
    """
    # YOUR CODE HERE
    raise NotImplementedError("init.xavier_uniform_: not implemented yet")


def xavier_normal_(t: torch.Tensor, gain: float = 1.0,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Glorot / Xavier normal, as ``torch.nn.init.xavier_normal_``: N(0, std^2) in place with

        std = gain * sqrt(2 / (fan_in + fan_out)).
    Returns ``t``.

    Raises ValueError: t with fewer than 2 dimensions; gain not a number >= 0.
    """
    # YOUR CODE HERE
    raise NotImplementedError("init.xavier_normal_: not implemented yet")


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
    # YOUR CODE HERE
    raise NotImplementedError("init.kaiming_uniform_: not implemented yet")


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
    # YOUR CODE HERE
    raise NotImplementedError("init.kaiming_normal_: not implemented yet")
