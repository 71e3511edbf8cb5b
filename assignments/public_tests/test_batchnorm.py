"""Public self-check for batchnorm.py: a few basic cases, compared with PyTorch.

The hidden suite checks much more (several training steps, small batches, tiny
variances, evaluation after training, 3-D inputs, error cases); passing these is a
start, not a guarantee.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F


def _bn_inputs(gen, shape, dtype, device):
    c = shape[1]
    x = torch.randn(shape, generator=gen, dtype=dtype) * 2 + 1
    gamma = torch.rand(c, generator=gen, dtype=dtype) + 0.5
    beta = torch.randn(c, generator=gen, dtype=dtype)
    return x.to(device), gamma.to(device), beta.to(device)


def _with_grads(fn, dout, *tensors):
    """fn(*tensors) and the gradients of sum(out * dout) w.r.t. each tensor, by autograd."""
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    out = fn(*leaves)
    return out.detach(), torch.autograd.grad(out, leaves, dout)


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 2, 2)], ids=["8x3", "4x3x2x2"])
def test_batchnorm_forward(student, check, gen, device, dtype, shape):
    x, gamma, beta = _bn_inputs(gen, shape, dtype, device)
    c = shape[1]
    rm, rv = torch.zeros(c, dtype=dtype, device=device), torch.ones(c, dtype=dtype, device=device)
    out, _ = student.batchnorm.batchnorm_forward(x, gamma, beta=beta, running_mean=rm.clone(),
                                                 running_var=rv.clone(), training=True)
    check.close(out, F.batch_norm(x, rm, rv, gamma, beta, training=True), scale=10.0)


def test_running_stats(student, check, gen, device, dtype):
    # one training step on N = 4: running_mean = 0.9 * old + 0.1 * mean, running_var gets
    # the UNBIASED batch variance; they must change in place
    x, gamma, beta = _bn_inputs(gen, (4, 3), dtype, device)
    rm = torch.randn(3, generator=gen, dtype=dtype).to(device)
    rv = (torch.rand(3, generator=gen, dtype=dtype) + 0.5).to(device)
    record = student.batchnorm.batchnorm_forward.inspect_call(
        x, gamma, beta=beta, running_mean=rm.clone(), running_var=rv.clone(), training=True, momentum=0.1)
    F.batch_norm(x, rm, rv, gamma, beta, training=True, momentum=0.1)  # updates rm, rv in place
    check.close(record.kwargs["running_mean"], rm, what="running_mean after one training step", scale=10.0)
    check.close(record.kwargs["running_var"], rv, what="running_var after one training step", scale=10.0)


def test_batchnorm_eval(student, check, gen, device, dtype):
    x, gamma, beta = _bn_inputs(gen, (5, 3, 4), dtype, device)
    rm = torch.randn(3, generator=gen, dtype=dtype).to(device)
    rv = (torch.rand(3, generator=gen, dtype=dtype) + 0.5).to(device)
    record = student.batchnorm.batchnorm_forward.inspect_call(
        x, gamma, beta=beta, running_mean=rm.clone(), running_var=rv.clone(), training=False)
    check.close(record.value[0], F.batch_norm(x, rm, rv, gamma, beta, training=False), scale=10.0)
    check.equal(record.kwargs["running_mean"], rm, what="running_mean after an evaluation call")
    check.equal(record.kwargs["running_var"], rv, what="running_var after an evaluation call")


def test_single_value_raises(student, check, device):
    x = torch.randn(1, 3).to(device)
    with check.raises(ValueError):
        student.batchnorm.batchnorm_forward(
            x, torch.ones(3).to(device), beta=torch.zeros(3).to(device),
            running_mean=torch.zeros(3).to(device), running_var=torch.ones(3).to(device), training=True)


@pytest.mark.parametrize("shape", [(6, 4), (3, 2, 2, 3)], ids=["6x4", "3x2x2x3"])
def test_batchnorm_backward(student, check, gen, device, dtype, shape):
    x, gamma, beta = _bn_inputs(gen, shape, dtype, device)
    c = shape[1]
    dout = torch.randn(shape, generator=gen, dtype=dtype).to(device)
    rm, rv = torch.zeros(c, dtype=dtype, device=device), torch.ones(c, dtype=dtype, device=device)
    _, cache = student.batchnorm.batchnorm_forward(x, gamma, beta=beta, running_mean=rm.clone(),
                                                   running_var=rv.clone(), training=True)
    dx, dgamma, dbeta = student.batchnorm.batchnorm_backward(dout, cache)
    _, (ex, eg, eb) = _with_grads(lambda a, g, b: F.batch_norm(a, None, None, g, b, training=True),
                                  dout, x, gamma, beta)
    check.close(dbeta, eb, what="dbeta", scale=10.0)
    check.close(dgamma, eg, what="dgamma", scale=10.0)
    check.close(dx, ex, what="dx", scale=10.0)


@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 5)], ids=["4x6", "2x3x5"])
def test_layernorm_forward(student, check, gen, device, dtype, shape):
    d = shape[-1]
    x = (torch.randn(shape, generator=gen, dtype=dtype) * 2 + 1).to(device)
    gamma = (torch.rand(d, generator=gen, dtype=dtype) + 0.5).to(device)
    beta = torch.randn(d, generator=gen, dtype=dtype).to(device)
    out, _ = student.batchnorm.layernorm_forward(x, gamma, beta=beta)
    check.close(out, F.layer_norm(x, (d,), gamma, beta, 1e-5), scale=10.0)


def test_layernorm_backward(student, check, gen, device, dtype):
    x = (torch.randn(3, 4, 5, generator=gen, dtype=dtype) * 2).to(device)
    gamma = (torch.rand(5, generator=gen, dtype=dtype) + 0.5).to(device)
    beta = torch.randn(5, generator=gen, dtype=dtype).to(device)
    dout = torch.randn(3, 4, 5, generator=gen, dtype=dtype).to(device)
    _, cache = student.batchnorm.layernorm_forward(x, gamma, beta=beta)
    dx, dgamma, dbeta = student.batchnorm.layernorm_backward(dout, cache)
    _, (ex, eg, eb) = _with_grads(lambda a, g, b: F.layer_norm(a, (5,), g, b, 1e-5), dout, x, gamma, beta)
    check.close(dbeta, eb, what="dbeta", scale=10.0)
    check.close(dgamma, eg, what="dgamma", scale=10.0)
    check.close(dx, ex, what="dx", scale=10.0)
