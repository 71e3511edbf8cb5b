"""Public self-checks for gradients.py.

Expected values come straight from PyTorch (autograd, torch.nn.functional, torch.linalg),
so these tests may use anything; your gradients.py may not (see its docstring). Passing
them is a good sign, not a guarantee: the hidden suite tries many more shapes, dtypes
and edge cases.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F


def _autograd(loss_of_w, w):
    """The gradient of loss_of_w at w, by autograd."""
    v = w.detach().clone().requires_grad_(True)
    loss_of_w(v).backward()
    return v.grad.detach()


@pytest.mark.parametrize("n,d", [(7, 3), (4, 6)], ids=["tall", "wide"])
def test_linreg_loss_and_grad(student, check, gen, device, dtype, n, d):
    X = torch.randn(n, d, generator=gen, dtype=dtype).to(device)
    y = torch.randn(n, generator=gen, dtype=dtype).to(device)
    w = torch.randn(d, generator=gen, dtype=dtype).to(device)
    # 1/(2N) ||Xw - y||^2 is half of PyTorch's mean squared error.
    check.close(student.gradients.linreg_loss(X, y, w=w), 0.5 * F.mse_loss(X @ w, y))
    check.close(student.gradients.linreg_grad(X, y, w=w),
                _autograd(lambda v: 0.5 * F.mse_loss(X @ v, y), w))


def test_linreg_closed_form(student, check, gen, device):
    dtype = torch.float64
    X = torch.randn(12, 3, generator=gen, dtype=dtype).to(device)
    y = torch.randn(12, generator=gen, dtype=dtype).to(device)
    # l2 = 0, full column rank: the least-squares solution.
    check.close(student.gradients.linreg_closed_form(X, y), torch.linalg.pinv(X) @ y, rtol=1e-6)
    # l2 > 0: (X^T X + N l2 I) w = X^T y.
    l2 = 0.3
    A = X.T @ X + 12 * l2 * torch.eye(3, dtype=dtype, device=device)
    check.close(student.gradients.linreg_closed_form(X, y, l2=l2), torch.linalg.solve(A, X.T @ y),
                rtol=1e-6)
    # l2 = 0 and a duplicated column: the minimum-norm solution.
    Xd = torch.cat([X, X[:, :1]], dim=1)
    check.close(student.gradients.linreg_closed_form(Xd, y, l2=0.0), torch.linalg.pinv(Xd) @ y,
                rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("scale", [1.0, 1e4], ids=["logits~1", "logits~1e4"])
def test_logreg_loss_and_grad(student, check, gen, device, dtype, scale):
    X = torch.randn(10, 3, generator=gen, dtype=dtype).to(device)
    y = torch.randint(0, 2, (10,), generator=gen).to(dtype).to(device)
    w = torch.randn(3, generator=gen, dtype=dtype).to(device)
    w = w * (scale / (X @ w).abs().max())
    check.close(student.gradients.logreg_loss(X, y, w=w),
                F.binary_cross_entropy_with_logits(X @ w, y))
    check.close(student.gradients.logreg_grad(X, y, w=w),
                _autograd(lambda v: F.binary_cross_entropy_with_logits(X @ v, y), w))


@pytest.mark.parametrize("scale", [1.0, 1e3], ids=["logits~1", "logits~1e3"])
def test_softmax_regression(student, check, gen, device, dtype, scale):
    X = torch.randn(8, 3, generator=gen, dtype=dtype).to(device)
    y = torch.randint(0, 4, (8,), generator=gen).to(device)
    W = torch.randn(3, 4, generator=gen, dtype=dtype).to(device)
    W = W * (scale / (X @ W).abs().max())
    check.close(student.gradients.softmax_regression_loss(X, y, W=W), F.cross_entropy(X @ W, y),
                scale=scale)
    check.close(student.gradients.softmax_regression_grad(X, y, W=W),
                _autograd(lambda V: F.cross_entropy(X @ V, y), W), scale=scale * 1e-3)


def test_numerical_gradient(student, check, gen, device):
    x = torch.randn(2, 3, generator=gen, dtype=torch.float64).to(device)
    before = x.clone()

    def f(v):
        return (v ** 3).sum() + (v.sum() - 1.0) ** 2

    # Central differences of a cubic are off by exactly eps^2 per coordinate (1e-6 here);
    # a one-sided difference would be off by about 3 |x| eps.
    record = student.gradients.numerical_gradient.inspect_call(f, x, eps=1e-3)
    check.close(record.value, _autograd(f, x), rtol=0.0, atol=2e-6)
    check.unchanged(before, record.args[1], "x", record.findings)


def test_relative_error(student, check, device, dtype):
    a = torch.tensor([1.0, -2.0, 0.0, 3.0], dtype=dtype, device=device)
    b = torch.tensor([1.5, -2.0, 0.0, 2.0], dtype=dtype, device=device)
    # entries: 0.5/2.5 = 0.2, 0, 0 (both zero: the 1e-8 floor avoids 0/0), 1/5 = 0.2
    check.close(student.gradients.relative_error(a, b), 0.2, rtol=1e-6)
    zeros = torch.zeros(3, dtype=dtype, device=device)
    check.close(student.gradients.relative_error(zeros, zeros), 0.0)


def test_gradient_descent(student, check, gen, device, dtype):
    A = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=dtype, device=device)
    b = torch.tensor([1.0, -1.0], dtype=dtype, device=device)
    w0 = torch.randn(2, generator=gen, dtype=dtype).to(device)

    def grad_fn(w):
        return A @ w - b

    expected = w0.clone()
    for _ in range(5):
        expected = expected - 0.1 * grad_fn(expected)
    record = student.gradients.gradient_descent.inspect_call(grad_fn, w0, lr=0.1, steps=5)
    check.close(record.value, expected)
    check.unchanged(w0, record.args[1], "w0", record.findings)


def test_minibatch_sgd(student, check, gen, device, dtype):
    X = torch.randn(7, 2, generator=gen, dtype=dtype).to(device)
    y = torch.randn(7, generator=gen, dtype=dtype).to(device)
    w0 = torch.zeros(2, dtype=dtype, device=device)

    def grad_fn(Xb, yb, w):
        return Xb.T @ (Xb @ w - yb) / Xb.shape[0]

    # The loop from the docstring, with the same seed: batches of 3, 3 and 1 each epoch.
    g = torch.Generator().manual_seed(0)
    expected = w0.clone()
    for _ in range(2):
        perm = torch.randperm(7, generator=g).to(device)
        for start in range(0, 7, 3):
            idx = perm[start:start + 3]
            expected = expected - 0.1 * grad_fn(X[idx], y[idx], expected)
    actual = student.gradients.minibatch_sgd(grad_fn, X, y=y, w0=w0, lr=0.1, epochs=2,
                                             batch_size=3, generator=torch.Generator().manual_seed(0))
    check.close(actual, expected)
