"""Public self-check for activations.py: a few cases per function, compared with PyTorch.

Expected values come from PyTorch (torch.sigmoid, torch.nn.functional, autograd), so
these tests may use anything; your activations.py may not (see its docstring). The
hidden suite checks much more (other shapes and dims, inputs up to 1e4, the kinks,
common mistakes); passing these is a start, not a guarantee.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.diagnosis import Mistake

STABLE = ("nan or inf: exponentiate only numbers <= 0 (exp(-|x|) for the sigmoid, "
          "exp(x - max) for the softmax)")
NAN_HINT = Mistake(STABLE, problem="nan")
INF_HINT = Mistake(STABLE, problem="inf")


def _x(gen, dtype, device, scale=3.0):
    x = torch.randn(4, 5, generator=gen, dtype=dtype) * scale
    x[0, :2] = 0.0  # the kink of relu and leaky relu
    return x.to(device)


def _autograd(f, x):
    """d f(x_i) / d x_i for an elementwise f, by autograd."""
    v = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(v), v, torch.ones_like(v))
    return g


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_sigmoid_tanh(student, check, gen, device, dtype, name):
    x = _x(gen, dtype, device)
    check.close(getattr(student.activations, name)(x), getattr(torch, name)(x))


def test_relu_leaky_relu(student, check, gen, device, dtype):
    x = _x(gen, dtype, device)
    check.close(student.activations.relu(x), torch.relu(x))
    check.close(student.activations.leaky_relu(x), F.leaky_relu(x, 0.01))
    check.close(student.activations.leaky_relu(x, negative_slope=0.2), F.leaky_relu(x, 0.2))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(student, check, gen, device, dtype, approximate):
    x = _x(gen, dtype, device, scale=2.0)
    check.close(student.activations.gelu(x, approximate=approximate), F.gelu(x, approximate=approximate))


@pytest.mark.parametrize("dim", [-1, 0])
def test_softmax(student, check, gen, device, dtype, dim):
    x = _x(gen, dtype, device)
    check.close(student.activations.softmax(x, dim=dim), torch.softmax(x, dim=dim))
    check.close(student.activations.log_softmax(x, dim=dim), torch.log_softmax(x, dim=dim))


def test_large_inputs(student, check, device, dtype):
    # float32 overflows in exp(x) for x > 88.7: the results must stay finite
    x = torch.tensor([[1e3, -1e3, 500.0, 0.0], [-1e3, -2e3, 3.0, 1e3]], dtype=dtype, device=device)
    hints = [NAN_HINT, INF_HINT]
    check.close(student.activations.sigmoid(x), torch.sigmoid(x), mistakes=hints)
    check.close(student.activations.softmax(x, dim=-1), torch.softmax(x, dim=-1), mistakes=hints)
    check.close(student.activations.log_softmax(x, dim=-1), torch.log_softmax(x, dim=-1),
                scale=1e3, mistakes=hints)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu", "gelu"])
def test_derivatives(student, check, gen, device, dtype, name):
    x = _x(gen, dtype, device)
    f = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
         "leaky_relu": lambda v: F.leaky_relu(v, 0.01), "gelu": F.gelu}[name]
    check.close(getattr(student.activations, f"{name}_grad")(x), _autograd(f, x))


def test_derivatives_at_zero(student, check, device, dtype):
    # at the kink torch autograd uses 0 for relu and negative_slope for leaky relu
    x = torch.tensor([-1.0, 0.0, 2.0], dtype=dtype, device=device)
    check.close(student.activations.relu_grad(x), torch.tensor([0.0, 0.0, 1.0], dtype=dtype, device=device))
    check.close(student.activations.leaky_relu_grad(x, negative_slope=0.1),
                torch.tensor([0.1, 0.1, 1.0], dtype=dtype, device=device))
