"""Public self-checks for backprop.py.

Expected values come straight from PyTorch autograd and torch.nn.functional, so these
tests may use anything; your backprop.py may not (see its docstring). Your caches stay
with your code: ``student.harness.run_layer`` runs your forward and then your backward
in one call and sends back only the results. Passing these tests is a good sign, not a
guarantee: the hidden suite tries many more shapes, dtypes and edge cases.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

TORCH_ACT = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "gelu": F.gelu,  # the exact (erf) form
}


def _grads(fn, inputs, dout=None):
    """fn(*inputs) and the gradients of (fn(*inputs) * dout).sum() by autograd."""
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    out = fn(*leaves)
    grads = torch.autograd.grad(out, leaves, dout)
    return out.detach(), list(grads)


def _layer(student, fwd, bwd, args, kwargs, dout):
    return student.harness.run_layer(getattr(student.backprop, fwd), getattr(student.backprop, bwd),
                                     list(args), dict(kwargs), dout)


@pytest.mark.parametrize("n,d_in,d_out", [(4, 3, 5), (1, 6, 2)], ids=["N4-in3-out5", "N1-in6-out2"])
def test_linear(student, check, gen, device, dtype, n, d_in, d_out):
    x = torch.randn(n, d_in, generator=gen, dtype=dtype).to(device)
    W = torch.randn(d_out, d_in, generator=gen, dtype=dtype).to(device)
    b = torch.randn(d_out, generator=gen, dtype=dtype).to(device)
    dout = torch.randn(n, d_out, generator=gen, dtype=dtype).to(device)  # not all ones
    got = _layer(student, "linear_forward", "linear_backward", [x, W, b], {}, dout)
    out, (dx, dW, db) = _grads(F.linear, [x, W, b], dout)
    check.close(got["out"], out)
    check.close(got["grads"], [dx, dW, db])  # dW is (out, in) like W, db is (out,) like b


@pytest.mark.parametrize("kind", ["sigmoid", "tanh", "relu", "leaky_relu", "gelu"])
def test_activations(student, check, gen, device, dtype, kind):
    x = (torch.randn(3, 4, generator=gen, dtype=dtype) * 3).to(device)
    dout = torch.randn(3, 4, generator=gen, dtype=dtype).to(device)
    got = _layer(student, "activation_forward", "activation_backward", [x, kind], {}, dout)
    out, (dx,) = _grads(TORCH_ACT[kind], [x], dout)
    check.close(got["out"], out)
    check.close(got["grads"], dx)


def test_relu_kink(student, check, device):
    x = torch.tensor([[-1.0, 0.0, 2.0], [0.0, -3.0, 0.5]], device=device)
    dout = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device)
    got = _layer(student, "activation_forward", "activation_backward", [x, "relu"], {}, dout)
    # torch's convention: the derivative of ReLU at exactly 0 is 0
    check.close(got["grads"], torch.tensor([[0.0, 0.0, 3.0], [0.0, 0.0, 6.0]], device=device))


@pytest.mark.parametrize("scale", [1.0, 1e3], ids=["logits~1", "logits~1e3"])
def test_softmax_cross_entropy(student, check, gen, device, dtype, scale):
    z = (torch.randn(6, 4, generator=gen, dtype=dtype) * scale).to(device)
    y = torch.randint(0, 4, (6,), generator=gen).to(device)
    loss, dz = student.backprop.softmax_cross_entropy(z, y)
    e_loss, (e_dz,) = _grads(lambda v: F.cross_entropy(v, y), [z])
    check.close(loss, e_loss, scale=scale)
    check.close(dz, e_dz)


def _torch_mlp(params, X, activation):
    h = X
    n_layers = len(params) // 2
    for layer in range(n_layers):
        h = F.linear(h, params[2 * layer], params[2 * layer + 1])
        if layer < n_layers - 1:  # no activation after the last layer
            h = TORCH_ACT[activation](h)
    return h


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_mlp_loss_and_grads(student, check, gen, device, dtype, activation):
    sizes = [5, 7, 4]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append(torch.randn(fan_out, fan_in, generator=gen, dtype=dtype).to(device) / math.sqrt(fan_in))
        params.append(torch.randn(fan_out, generator=gen, dtype=dtype).to(device) * 0.5)
    X = torch.randn(8, 5, generator=gen, dtype=dtype).to(device)
    y = torch.randint(0, 4, (8,), generator=gen).to(device)
    loss, grads = student.backprop.mlp_loss_and_grads(params, X, y, activation=activation)
    e_loss, e_grads = _grads(lambda *ps: F.cross_entropy(_torch_mlp(ps, X, activation), y), params)
    check.close(loss, e_loss)
    check.close(grads, e_grads)  # [dW1, db1, dW2, db2], aligned with params


def test_mlp_class(student, check, gen):
    sizes = [6, 50, 3]
    X = torch.randn(4, 6, generator=gen)
    D = torch.randn(4, 3, generator=gen)
    run = student.harness.run_mlp(student.backprop.MLP, sizes, {"activation": "tanh"}, 0,
                                  [{"x": X, "dlogits": D}])
    params = run["params"]
    check.that(len(params) == 4, "MLP([6, 50, 3]).params must be [W1, b1, W2, b2]")
    for p, shape, fan_in in zip(params, [(50, 6), (50,), (3, 50), (3,)], [6, 6, 50, 50]):
        check.that(tuple(p.shape) == shape and p.dtype == torch.float32,
                   f"a parameter has shape {tuple(p.shape)} and dtype {p.dtype}, expected {shape} float32")
        check.that(bool(p.abs().max() <= 1 / math.sqrt(fan_in) + 1e-6),
                   "parameters must lie in [-1/sqrt(fan_in), 1/sqrt(fan_in)], as torch.nn.Linear's")
    # forward / backward on the model's own parameters, against autograd
    step = run["steps"][0]
    check.that("error" not in step, f"MLP forward/backward raised {step.get('error')}")
    logits, grads = _grads(lambda *ps: _torch_mlp(ps, X, "tanh"), params, D)
    check.close(step["logits"], logits)
    check.close(step["grads"], grads)


def test_bad_arguments(student, check):
    x, W = torch.randn(4, 3), torch.randn(2, 3)
    with check.raises(ValueError, match=r"\bb\b"):
        student.backprop.linear_forward(x, W, torch.randn(2, 1))  # b must be (out,)
    with check.raises(ValueError, match=r"\bkind\b"):
        student.backprop.activation_forward(x, "softplus")
