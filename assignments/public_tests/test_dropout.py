"""Public self-checks for dropout.py.

Dropout is random, so these tests check what any correct implementation must satisfy:
every output is 0 or x / (1 - p), about a fraction p of them is 0, the backward pass
uses the forward pass's mask and scale, evaluation is the identity, and the generator
argument makes the result reproducible. The share-of-zeros and noise checks use loose
bounds (about six standard deviations), so a correct solution fails them with a
negligible probability. Passing them is a good sign, not a guarantee: the hidden suite
checks more shapes, dtypes and edge cases, and the independence of the draws.
"""

from __future__ import annotations

import math

import pytest
import torch


def _x(gen, shape, dtype):
    """Positive inputs in [0.5, 1.5): never 0, so the zeros of the output are the dropped ones."""
    return torch.rand(shape, generator=gen, dtype=dtype) + 0.5


@pytest.mark.parametrize("p", [0.25, 0.6])
def test_dropout(student, check, gen, device, dtype, p):
    x = _x(gen, (50, 80), dtype).to(device)
    out = student.dropout.dropout(x, p, training=True, generator=torch.Generator(device=device).manual_seed(0))
    # every survivor is x / (1 - p), every other output exactly 0
    keep = out != 0
    check.close(out, torch.where(keep, x / (1 - p), torch.zeros_like(x)))
    # about a fraction p of the outputs is 0 (six standard deviations of a binomial share)
    n = x.numel()
    share = 1 - float(keep.double().mean())
    slack = 6 * math.sqrt(p * (1 - p) / n)
    check.that(abs(share - p) <= slack, f"{share:.1%} of the outputs are 0, expected about {p:.0%}",
               "p is the probability of dropping (zeroing) an element")


def test_dropout_identity_and_edges(student, check, gen, device, dtype):
    x = _x(gen, (6, 7), dtype).to(device)
    check.close(student.dropout.dropout(x, 0.5, training=False), x, rtol=0, atol=0)  # evaluation
    check.close(student.dropout.dropout(x, 0.0, training=True), x, rtol=0, atol=0)   # p = 0
    check.close(student.dropout.dropout(x, 1.0, training=True), torch.zeros_like(x), rtol=0, atol=0)  # p = 1


@pytest.mark.parametrize("p", [0.3, 0.5])
def test_dropout_backward(student, check, gen, device, dtype, p):
    x = _x(gen, (20, 30), dtype).to(device)
    out, cache = student.dropout.dropout_forward(x, p, training=True,
                                                 generator=torch.Generator(device=device).manual_seed(1))
    dout = torch.randn(20, 30, generator=gen, dtype=dtype).to(device)
    dx = student.dropout.dropout_backward(dout, cache)
    # the same mask (the forward output's zeros) and the same 1 / (1 - p) scale
    check.close(dx, torch.where(out != 0, dout / (1 - p), torch.zeros_like(dout)))


def test_generator_reproducible(student, check, gen, device):
    x = _x(gen, (30, 40), torch.float32).to(device)
    a = student.dropout.dropout(x, 0.5, training=True, generator=torch.Generator(device=device).manual_seed(7))
    b = student.dropout.dropout(x, 0.5, training=True, generator=torch.Generator(device=device).manual_seed(7))
    check.close(b, a, rtol=0, atol=0, hint="draw the mask from the generator argument, not the global RNG")


def test_gaussian_noise(student, check, gen, device, dtype):
    x = torch.randn(100, 200, generator=gen, dtype=dtype).to(device)
    check.close(student.dropout.gaussian_noise(x, 0.5, training=False), x, rtol=0, atol=0)
    out = student.dropout.gaussian_noise(x, 0.5, training=True,
                                         generator=torch.Generator(device=device).manual_seed(2))
    noise = (out - x).double()
    n = noise.numel()
    check.that(abs(float(noise.mean())) <= 6 * 0.5 / math.sqrt(n), "the noise does not have mean 0")
    check.that(abs(float(noise.std()) - 0.5) <= 0.5 * 6 / math.sqrt(2 * n),
               f"the noise has standard deviation {float(noise.std()):.4g}, expected std = 0.5",
               "std is the standard deviation: x + std * torch.randn(...)")


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")], ids=["negative", "above-1", "nan"])
def test_invalid_p(student, check, gen, device, p):
    x = torch.randn(3, 4, generator=gen).to(device)
    with check.raises(ValueError, match=r"\bp\b"):
        student.dropout.dropout(x, p, training=True)
