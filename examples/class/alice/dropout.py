"""Dropout and Gaussian noise by hand: inverted dropout, its backward pass, and additive noise.

Inverted dropout (the form torch.nn.functional.dropout uses). In training, every
element is dropped (set to 0) independently with probability p and kept with
probability 1 - p; the survivors are multiplied by 1 / (1 - p). With a keep mask
m_i ~ Bernoulli(1 - p), drawn afresh for every element:

    out_i = m_i * x_i / (1 - p),   so that   E[out_i] = (1 - p) * x_i / (1 - p) = x_i.

Because the expected output already equals the input, evaluation needs no
correction: with training=False (and for p = 0) dropout is the identity. At p = 1
every element is dropped and the output is all zeros (never compute 0 * x / 0).
Note that p is the probability of DROPPING an element (as in torch), not of keeping it.

Randomness: ``generator`` (a torch.Generator or None) is the only source of random
numbers. Pass it to the sampling call (``torch.rand(..., generator=generator)``,
``torch.bernoulli(..., generator=generator)``, ``torch.randn(...)``), drawn on x's
device; with generator=None the global generator is used. The same generator state
must give the same output, and a given generator must leave the global one alone.
Results are graded by their distribution and consistency, not by the exact stream of
random numbers, so any correct way of drawing the mask is fine.

Outputs keep the input's shape, device and floating dtype, and no function modifies
its inputs. Where a function is the identity (evaluation, p = 0, std = 0) it may return
x itself, as torch does, or a copy; either way the caller's x must be unchanged.

Bad arguments raise ValueError whose message names the argument: p outside [0, 1]
(or nan), std < 0 (or nan, inf), x not a floating tensor.

Write the maths yourself: no torch.nn (in particular no torch.nn.functional.dropout),
no torch.dropout / Tensor.dropout, no torch.autograd.
"""

from __future__ import annotations

import numbers

import torch

__all__ = [
    "dropout",
    "dropout_forward",
    "dropout_backward",
    "gaussian_noise",
]


def _check_input(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must have a floating dtype, got {x.dtype}")


def _check_p(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise ValueError(f"p must be a number in [0, 1], got {p!r}")
    value = float(p)
    if not 0.0 <= value <= 1.0:  # written so that nan also fails
        raise ValueError(f"p must be in [0, 1] (the probability of dropping an element), got {p!r}")
    return value


def _check_std(std: float) -> float:
    if isinstance(std, bool) or not isinstance(std, numbers.Real):
        raise ValueError(f"std must be a number >= 0, got {std!r}")
    value = float(std)
    if not 0.0 <= value < float("inf"):  # rejects negatives, nan and inf
        raise ValueError(f"std must be a finite number >= 0, got {std!r}")
    return value


def _check_generator(generator: torch.Generator | None) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")


def _scale_kept(x: torch.Tensor, keep: torch.Tensor, p: float) -> torch.Tensor:
    """x / (1 - p) where keep is True, 0 elsewhere; all zeros at p = 1 (no 0 / 0)."""
    if p >= 1.0:
        return torch.zeros_like(x)
    scale = 1.0 / (1.0 - p)
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    return torch.where(keep, x * scale, zero)


def dropout(x: torch.Tensor, p: float = 0.5, training: bool = True,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Inverted dropout, distributed as ``torch.nn.functional.dropout(x, p, training)``.

    Training: out_i = m_i * x_i / (1 - p) with independent m_i ~ Bernoulli(1 - p), one
    draw per element (not per row or per feature), e.g. m = rand(x.shape) >= p.
    Survivors are x_i / (1 - p) and the rest exactly 0, so E[out] = x.
    training=False or p == 0: the identity (x's values exactly; x itself is fine).
    p == 1: all zeros (no nan from a division by 1 - p = 0).
    Random numbers come only from ``generator`` (the global generator when None).

    Raises ValueError: p not a number in [0, 1] (nan included), also when not
    training; x not a floating tensor.
    """
    out, _ = dropout_forward(x, p, training, generator)
    return out


def dropout_forward(x: torch.Tensor, p: float, training: bool,
                    generator: torch.Generator | None = None):
    """Inverted dropout that also returns what its backward pass needs: ``(out, cache)``.

    ``out`` is exactly what ``dropout(x, p, training, generator)`` returns. ``cache`` is
    whatever you choose to keep (e.g. the keep mask and p, or the mask already
    multiplied by 1 / (1 - p)); ``dropout_backward`` receives it unchanged. Do not keep
    a generator to redraw the mask later: the backward pass must use the very mask this
    forward pass drew.

    Raises ValueError: as ``dropout``.
    """
    # The reference's cache is (keep, p): keep is a bool tensor (True = kept), or None
    # when the forward pass was the identity (evaluation or p = 0).
    _check_input(x)
    p = _check_p(p)
    _check_generator(generator)
    if not training or p == 0.0:
        return x, (None, p)  # the identity; torch also returns x itself
    if p == 1.0:
        keep = torch.zeros(x.shape, dtype=torch.bool, device=x.device)
    else:
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        keep = u >= p  # P(u >= p) = 1 - p for u ~ U[0, 1)
    return _scale_kept(x, keep, p), (keep, p)


def dropout_backward(dout: torch.Tensor, cache) -> torch.Tensor:
    """The gradient of the loss with respect to x, given dout = dL/d out.

    out_i = m_i * x_i / (1 - p) is linear in x_i, so dx_i = m_i * dout_i / (1 - p):
    the same mask and the same scale as the forward pass that produced ``cache``
    (zeros where the forward output was dropped). After an identity forward pass
    (evaluation or p = 0) dx = dout; after p = 1, dx is all zeros. Draw nothing here.

    Raises ValueError: dout not a floating tensor of the forward input's shape.
    """
    _check_input(dout, "dout")
    keep, p = cache
    if keep is None:
        return dout
    if tuple(dout.shape) != tuple(keep.shape):
        raise ValueError(
            f"dout shape {tuple(dout.shape)} must equal the forward input's shape {tuple(keep.shape)}"
        )
    return _scale_kept(dout, keep, p)


def gaussian_noise(x: torch.Tensor, std: float, training: bool = True,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Additive Gaussian noise: out = x + std * eps with eps ~ N(0, 1) independent per element.

    So out - x ~ N(0, std^2): mean 0, standard deviation std (variance std**2; the
    argument is the standard deviation, not the variance). training=False or std == 0:
    the identity (x's values exactly). Random numbers come only from ``generator``
    (e.g. torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)).

    Raises ValueError: std not a finite number >= 0; x not a floating tensor.
    """
    _check_input(x)
    s = _check_std(std)
    _check_generator(generator)
    if not training or s == 0.0:
        return x
    eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return x + s * eps
