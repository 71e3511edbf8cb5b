"""Proof tests for reference/gradients.py against torch autograd, torch.linalg and explicit loops."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from reference import gradients as G

DTYPES = [torch.float32, torch.float64]
TOL = {
    torch.float32: dict(rtol=1e-5, atol=1e-6),
    torch.float64: dict(rtol=1e-10, atol=1e-12),
}
# (N, d) pairs, including a single example and a single feature.
SHAPES = [(1, 1), (7, 3), (32, 5), (64, 12)]
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _regression_data(n, d, dtype, seed=0):
    g = _gen(seed)
    X = torch.randn(n, d, generator=g, dtype=dtype)
    y = torch.randn(n, generator=g, dtype=dtype)
    w = torch.randn(d, generator=g, dtype=dtype)
    return X, y, w


def _binary_data(n, d, dtype, seed=0):
    g = _gen(seed)
    X = torch.randn(n, d, generator=g, dtype=dtype)
    y = torch.randint(0, 2, (n,), generator=g).to(dtype)
    w = torch.randn(d, generator=g, dtype=dtype)
    return X, y, w


def _class_data(n, d, k, dtype, seed=0):
    g = _gen(seed)
    X = torch.randn(n, d, generator=g, dtype=dtype)
    y = torch.randint(0, k, (n,), generator=g)
    W = torch.randn(d, k, generator=g, dtype=dtype)
    return X, y, W


def _autograd(loss_of_w, w):
    """Loss value and gradient of loss_of_w at w, from torch autograd."""
    wv = w.detach().clone().requires_grad_(True)
    loss = loss_of_w(wv)
    loss.backward()
    return loss.detach(), wv.grad.detach()


def _snapshot(*tensors):
    return [t.clone() for t in tensors]


def _assert_unchanged(before, *after):
    for b, a in zip(before, after):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# --------------------------------------------------------------------------- linear regression


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,d", SHAPES)
def test_linreg_loss_and_grad_match_autograd(n, d, dtype):
    X, y, w = _regression_data(n, d, dtype, seed=n * 100 + d)
    before = _snapshot(X, y, w)
    ref_loss, ref_grad = _autograd(lambda v: 0.5 * F.mse_loss(X @ v, y), w)

    loss = G.linreg_loss(X, y, w)
    grad = G.linreg_grad(X, y, w)

    assert loss.shape == () and loss.dtype == dtype
    assert grad.shape == (d,) and grad.dtype == dtype
    torch.testing.assert_close(loss, ref_loss, **TOL[dtype])
    torch.testing.assert_close(grad, ref_grad, **TOL[dtype])
    _assert_unchanged(before, X, y, w)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linreg_grad_sign_and_scale_explicit(dtype):
    # One example, one feature: loss = (x w - y)^2 / 2, grad = x (x w - y).
    X = torch.tensor([[2.0]], dtype=dtype)
    y = torch.tensor([1.0], dtype=dtype)
    w = torch.tensor([3.0], dtype=dtype)
    assert G.linreg_loss(X, y, w).item() == 12.5
    assert G.linreg_grad(X, y, w).tolist() == [10.0]
    # Doubling the data set by repetition changes neither (the 1/N factor).
    X2, y2 = X.repeat(2, 1), y.repeat(2)
    assert G.linreg_loss(X2, y2, w).item() == 12.5
    assert G.linreg_grad(X2, y2, w).tolist() == [10.0]


# --------------------------------------------------------------------------- closed form


@pytest.mark.parametrize("n,d", [(8, 3), (40, 6), (100, 10)])
def test_closed_form_full_rank_matches_lstsq(n, d):
    X, y, _ = _regression_data(n, d, torch.float64, seed=n + d)
    before = _snapshot(X, y)
    w = G.linreg_closed_form(X, y)
    expected = torch.linalg.lstsq(X, y.unsqueeze(1)).solution.squeeze(1)
    assert w.shape == (d,) and w.dtype == torch.float64
    torch.testing.assert_close(w, expected, rtol=1e-10, atol=1e-12)
    # The minimiser: the autograd gradient of the loss vanishes there.
    _, grad = _autograd(lambda v: 0.5 * F.mse_loss(X @ v, y), w)
    torch.testing.assert_close(grad, torch.zeros_like(grad), rtol=0, atol=1e-12)
    _assert_unchanged(before, X, y)


def test_closed_form_float32_matches_lstsq():
    X, y, _ = _regression_data(50, 6, torch.float32, seed=3)
    w = G.linreg_closed_form(X, y)
    expected = torch.linalg.lstsq(X, y.unsqueeze(1)).solution.squeeze(1)
    assert w.dtype == torch.float32
    # Two different float32 least-squares algorithms (SVD vs QR): their solutions agree
    # only to about cond(X) * eps32, so the tolerance is relaxed from 1e-5.
    torch.testing.assert_close(w, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,d,l2", [(20, 4, 0.1), (30, 8, 1.0), (5, 9, 0.05), (1, 3, 2.0)])
def test_closed_form_ridge(n, d, l2, dtype):
    X, y, _ = _regression_data(n, d, torch.float64, seed=7 * n + d)
    # Independent oracle: ridge as ordinary least squares on the augmented system
    # [X; sqrt(N l2) I] w = [y; 0], solved by torch.linalg.lstsq in float64.
    A = torch.cat([X, math.sqrt(n * l2) * torch.eye(d, dtype=torch.float64)])
    b = torch.cat([y, torch.zeros(d, dtype=torch.float64)])
    expected = torch.linalg.lstsq(A, b.unsqueeze(1), driver="gelsd").solution.squeeze(1)
    # ... and the normal equations solved by Cholesky.
    L = torch.linalg.cholesky(X.T @ X + n * l2 * torch.eye(d, dtype=torch.float64))
    via_normal = torch.cholesky_solve((X.T @ y).unsqueeze(1), L).squeeze(1)
    torch.testing.assert_close(via_normal, expected, rtol=1e-9, atol=1e-11)

    w = G.linreg_closed_form(X.to(dtype), y.to(dtype), l2=l2)
    assert w.shape == (d,) and w.dtype == dtype
    tol = TOL[dtype] if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-5)  # float32 solve
    torch.testing.assert_close(w, expected.to(dtype), **tol)
    if dtype == torch.float64:
        # Stationarity of the regularised objective, from autograd.
        _, grad = _autograd(
            lambda v: 0.5 * F.mse_loss(X @ v, y) + 0.5 * l2 * (v * v).sum(), w
        )
        torch.testing.assert_close(grad, torch.zeros_like(grad), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [12, 3])  # tall and wide
def test_closed_form_rank_deficient_is_minimum_norm(n):
    g = _gen(11 + n)
    base = torch.randn(n, 3, generator=g, dtype=torch.float64)
    # Columns 3 and 4 duplicate columns 0 and 1: rank 3, d = 5.
    X = torch.cat([base, base[:, :2]], dim=1)
    y = torch.randn(n, generator=g, dtype=torch.float64)
    w = G.linreg_closed_form(X, y)

    expected = torch.linalg.pinv(X) @ y
    torch.testing.assert_close(w, expected, rtol=1e-10, atol=1e-12)
    expected_gelsd = torch.linalg.lstsq(X, y.unsqueeze(1), driver="gelsd").solution.squeeze(1)
    torch.testing.assert_close(w, expected_gelsd, rtol=1e-9, atol=1e-11)

    # It is a minimiser: zero gradient (autograd) ...
    _, grad = _autograd(lambda v: 0.5 * F.mse_loss(X @ v, y), w)
    torch.testing.assert_close(grad, torch.zeros_like(grad), rtol=0, atol=1e-12)
    # ... and of minimum norm: orthogonal to the null space spanned by e0 - e3, e1 - e4
    # (so the duplicated weights are split equally), and every other minimiser
    # w + v, v in the null space, is longer.
    null = torch.tensor([[1.0, 0, 0, -1, 0], [0, 1, 0, 0, -1]], dtype=torch.float64)
    torch.testing.assert_close(X @ null.T, torch.zeros(n, 2, dtype=torch.float64))
    torch.testing.assert_close(null @ w, torch.zeros(2, dtype=torch.float64), rtol=0, atol=1e-12)
    for coeffs in ([0.5, 0.0], [0.0, -1.0], [0.3, 0.7]):
        other = w + torch.tensor(coeffs, dtype=torch.float64) @ null
        assert torch.linalg.vector_norm(other) > torch.linalg.vector_norm(w)
        torch.testing.assert_close(
            G.linreg_loss(X, y, other), G.linreg_loss(X, y, w), rtol=1e-10, atol=1e-12
        )


def test_closed_form_rank_deficient_float32():
    g = _gen(5)
    base = torch.randn(30, 3, generator=g)
    X = torch.cat([base, base[:, :1]], dim=1)
    y = torch.randn(30, generator=g)
    w = G.linreg_closed_form(X, y)
    assert w.dtype == torch.float32
    expected = (torch.linalg.pinv(X.double()) @ y.double()).float()
    # float32 SVD-based pseudo-inverse vs the float64 one.
    torch.testing.assert_close(w, expected, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- logistic regression


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,d", SHAPES)
def test_logreg_loss_and_grad_match_autograd(n, d, dtype):
    X, y, w = _binary_data(n, d, dtype, seed=3 * n + d)
    before = _snapshot(X, y, w)
    ref_loss, ref_grad = _autograd(
        lambda v: F.binary_cross_entropy_with_logits(X @ v, y), w
    )
    loss = G.logreg_loss(X, y, w)
    grad = G.logreg_grad(X, y, w)
    assert loss.shape == () and loss.dtype == dtype
    assert grad.shape == (d,) and grad.dtype == dtype
    torch.testing.assert_close(loss, ref_loss, **TOL[dtype])
    torch.testing.assert_close(grad, ref_grad, **TOL[dtype])
    _assert_unchanged(before, X, y, w)


@pytest.mark.parametrize("dtype", DTYPES)
def test_logreg_large_logits_stable(dtype):
    z = torch.tensor(
        [1e4, -1e4, 1e4, -1e4, 9999.5, -9999.5, 100.0, -100.0, 30.0, -30.0, 0.0, 0.5],
        dtype=dtype,
    )
    y = torch.tensor([1, 1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0], dtype=dtype)
    X = z.unsqueeze(1)  # w = [1] makes the logits exactly z
    w = torch.ones(1, dtype=dtype)
    loss = G.logreg_loss(X, y, w)
    grad = G.logreg_grad(X, y, w)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    ref_loss, ref_grad = _autograd(lambda v: F.binary_cross_entropy_with_logits(X @ v, y), w)
    torch.testing.assert_close(loss, ref_loss, **TOL[dtype])
    torch.testing.assert_close(grad, ref_grad, **TOL[dtype])
    # Per-example check through a single row: a wrong-side logit of 1e4 costs 1e4.
    for i in range(len(z)):
        li = G.logreg_loss(X[i : i + 1], y[i : i + 1], w)
        ri = F.binary_cross_entropy_with_logits(z[i : i + 1], y[i : i + 1])
        assert torch.isfinite(li)
        torch.testing.assert_close(li, ri, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_logreg_large_random_logits(dtype):
    # Logits of order 1e3..1e4 coming from a genuine matrix product.
    X, y, w = _binary_data(40, 4, dtype, seed=9)
    w = w * 3000
    loss = G.logreg_loss(X, y, w)
    grad = G.logreg_grad(X, y, w)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    ref_loss, ref_grad = _autograd(lambda v: F.binary_cross_entropy_with_logits(X @ v, y), w)
    torch.testing.assert_close(loss, ref_loss, **TOL[dtype])
    torch.testing.assert_close(grad, ref_grad, **TOL[dtype])


def test_logreg_integer_targets_are_cast():
    # Beyond torch (which needs float targets): int64 / bool 0-1 targets are accepted.
    X, y, w = _binary_data(10, 3, torch.float64, seed=1)
    for y_other in (y.long(), y.bool()):
        torch.testing.assert_close(G.logreg_loss(X, y_other, w), G.logreg_loss(X, y, w))
        torch.testing.assert_close(G.logreg_grad(X, y_other, w), G.logreg_grad(X, y, w))


# --------------------------------------------------------------------------- softmax regression


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,d,k", [(1, 1, 1), (1, 3, 4), (9, 4, 3), (33, 6, 10), (64, 12, 2)])
def test_softmax_regression_matches_autograd(n, d, k, dtype):
    X, y, W = _class_data(n, d, k, dtype, seed=n + 10 * d + 100 * k)
    before = _snapshot(X, y, W)
    ref_loss, ref_grad = _autograd(lambda V: F.cross_entropy(X @ V, y), W)
    loss = G.softmax_regression_loss(X, y, W)
    grad = G.softmax_regression_grad(X, y, W)
    assert loss.shape == () and loss.dtype == dtype
    assert grad.shape == (d, k) and grad.dtype == dtype
    torch.testing.assert_close(loss, ref_loss, **TOL[dtype])
    torch.testing.assert_close(grad, ref_grad, **TOL[dtype])
    _assert_unchanged(before, X, y, W)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_regression_large_logits_stable(dtype):
    X, y, W = _class_data(20, 3, 5, dtype, seed=4)
    W = W * 5000  # logits of order 1e4
    loss = G.softmax_regression_loss(X, y, W)
    grad = G.softmax_regression_grad(X, y, W)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    ref_loss, ref_grad = _autograd(lambda V: F.cross_entropy(X @ V, y), W)
    torch.testing.assert_close(loss, ref_loss, **TOL[dtype])
    torch.testing.assert_close(grad, ref_grad, **TOL[dtype])


def test_softmax_regression_grad_rows_sum_to_zero_direction():
    # softmax - onehot sums to 0 over classes, so each row of the gradient does too.
    X, y, W = _class_data(15, 4, 6, torch.float64, seed=2)
    grad = G.softmax_regression_grad(X, y, W)
    torch.testing.assert_close(grad.sum(dim=1), torch.zeros(4, dtype=torch.float64))


# --------------------------------------------------------------------------- numerical gradient


def _smooth_f(t):
    return (torch.sin(t) * t**2).sum() + torch.log(torch.exp(t).sum()) + 0.5 * (t.sum()) ** 2


@pytest.mark.parametrize("shape", [(), (1,), (5,), (3, 4), (2, 3, 2)])
def test_numerical_gradient_matches_autograd_float64(shape):
    x = torch.randn(shape, generator=_gen(len(shape) + 20), dtype=torch.float64)
    before = x.clone()
    num = G.numerical_gradient(_smooth_f, x)
    xa = x.clone().requires_grad_(True)
    _smooth_f(xa).backward()
    assert num.shape == x.shape and num.dtype == torch.float64
    # Central differences with eps = 1e-6: truncation O(eps^2) ~ 1e-12, round-off
    # ~ |f| * 1e-16 / eps ~ 1e-9; that is the floor for any correct implementation.
    torch.testing.assert_close(num, xa.grad, rtol=1e-7, atol=1e-8)
    torch.testing.assert_close(x, before, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [1e-6, 1e-3, 0.25])
def test_numerical_gradient_is_exactly_central_difference(dtype, eps):
    x = torch.randn(2, 3, generator=_gen(1), dtype=dtype)
    expected = torch.empty_like(x)
    for idx in range(x.numel()):
        xp = x.clone()
        xp.view(-1)[idx] += eps
        xm = x.clone()
        xm.view(-1)[idx] -= eps
        fp, fm = float(_smooth_f(xp)), float(_smooth_f(xm))
        expected.view(-1)[idx] = (fp - fm) / (2 * eps)
    got = G.numerical_gradient(_smooth_f, x, eps=eps)
    assert got.dtype == dtype and got.shape == x.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_numerical_gradient_central_not_one_sided():
    # f = sum x^3: the central difference is exactly 3 x^2 + eps^2; a one-sided one
    # would be off by about 3 x eps.
    x = torch.tensor([-1.5, 0.0, 0.5, 2.0], dtype=torch.float64)
    eps = 1e-3
    got = G.numerical_gradient(lambda t: (t**3).sum(), x, eps=eps)
    torch.testing.assert_close(got, 3 * x**2 + eps**2, rtol=1e-9, atol=1e-9)


def test_numerical_gradient_python_float_and_0d_tensor():
    x = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    as_float = G.numerical_gradient(lambda t: float((t**2).sum()), x)
    as_tensor = G.numerical_gradient(lambda t: (t**2).sum(), x)
    torch.testing.assert_close(as_float, 2 * x, rtol=1e-8, atol=1e-9)
    torch.testing.assert_close(as_tensor, as_float, rtol=0, atol=0)


def test_numerical_gradient_x_unchanged_even_if_f_mutates_argument():
    x = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    before = x.clone()
    seen = []

    def f(t):
        seen.append((type(t), t.shape, t.data_ptr() == x.data_ptr()))
        value = (t**2).sum()
        t.mul_(0.0).add_(123.0)  # a hostile f
        return value

    got = G.numerical_gradient(f, x)
    torch.testing.assert_close(x, before, rtol=0, atol=0)
    torch.testing.assert_close(got, 2 * before, rtol=1e-8, atol=1e-9)
    assert len(seen) == 2 * x.numel()
    assert all(tp is torch.Tensor and shape == x.shape and not same for tp, shape, same in seen)


def test_numerical_gradient_non_contiguous_and_requires_grad():
    base = torch.randn(3, 4, generator=_gen(8), dtype=torch.float64)
    x = base.T  # non-contiguous view
    assert not x.is_contiguous()
    got = G.numerical_gradient(lambda t: (t * torch.arange(12.0, dtype=t.dtype).reshape(4, 3)).sum(), x)
    torch.testing.assert_close(got, torch.arange(12.0, dtype=torch.float64).reshape(4, 3), rtol=1e-8, atol=1e-8)
    xr = base.clone().requires_grad_(True)
    g2 = G.numerical_gradient(lambda t: (t**2).sum(), xr)
    assert xr.grad is None and not g2.requires_grad
    torch.testing.assert_close(g2, 2 * base, rtol=1e-8, atol=1e-8)


def test_numerical_gradient_float32_dtype_and_accuracy():
    x = torch.randn(6, generator=_gen(2))
    got = G.numerical_gradient(lambda t: (t**2).sum(), x, eps=1e-2)
    assert got.dtype == torch.float32
    # float32 round-off / eps dominates; loose on purpose.
    torch.testing.assert_close(got, 2 * x, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("eps", [0.0, -1e-6, float("nan"), float("inf")])
def test_numerical_gradient_bad_eps(eps):
    with pytest.raises(ValueError, match="eps"):
        G.numerical_gradient(lambda t: t.sum(), torch.zeros(3), eps=eps)


def test_numerical_gradient_non_scalar_f():
    with pytest.raises(ValueError, match=r"\bf\b"):
        G.numerical_gradient(lambda t: t * 2, torch.zeros(3))


def test_numerical_gradient_integer_x():
    with pytest.raises(ValueError, match=r"\bx\b"):
        G.numerical_gradient(lambda t: t.sum(), torch.zeros(3, dtype=torch.int64))


# --------------------------------------------------------------------------- relative error


def _hand_relative_error(a, b):
    return max(
        abs(p - q) / max(1e-8, abs(p) + abs(q)) for p, q in zip(a.flatten().tolist(), b.flatten().tolist())
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 2, 4)])
def test_relative_error_hand_formula(shape, dtype):
    g = _gen(sum(shape))
    a = torch.randn(shape, generator=g, dtype=dtype)
    b = a + 1e-3 * torch.randn(shape, generator=g, dtype=dtype)
    before = _snapshot(a, b)
    got = G.relative_error(a, b)
    assert type(got) is float
    assert got == pytest.approx(_hand_relative_error(a, b), rel=1e-12, abs=0)
    assert G.relative_error(b, a) == got
    _assert_unchanged(before, a, b)


def test_relative_error_edge_cases():
    z = torch.zeros(4, dtype=torch.float64)
    assert G.relative_error(z, z) == 0.0  # not nan
    assert G.relative_error(torch.zeros(2, 3), torch.zeros(2, 3)) == 0.0
    one = torch.tensor([0.0, 1.0], dtype=torch.float64)
    assert G.relative_error(one, torch.zeros(2, dtype=torch.float64)) == 1.0
    # The 1e-8 floor: |1e-9 - 0| / max(1e-8, 1e-9) = 0.1.
    tiny = torch.tensor([1e-9], dtype=torch.float64)
    assert G.relative_error(tiny, torch.zeros(1, dtype=torch.float64)) == pytest.approx(0.1, rel=1e-12)
    a = torch.tensor([1.0, 2.0, -3.0], dtype=torch.float64)
    b = torch.tensor([1.0, 2.5, 3.0], dtype=torch.float64)
    assert G.relative_error(a, b) == pytest.approx(1.0, rel=1e-15)  # sign flip: 6 / 6
    assert G.relative_error(a, a) == 0.0
    # Mixed float32 / float64 and a 0-d pair.
    assert G.relative_error(a.float(), b) == pytest.approx(_hand_relative_error(a, b), rel=1e-7)
    assert G.relative_error(torch.tensor(2.0), torch.tensor(1.0)) == pytest.approx(1 / 3, rel=1e-12)


def test_relative_error_shape_mismatch():
    with pytest.raises(ValueError, match=r"\ba\b.*\bb\b"):
        G.relative_error(torch.zeros(3, 1), torch.zeros(3))


# --------------------------------------------------------------------------- gradient descent


def _quadratic_problem(dtype, seed=0, n=20, d=4):
    X, y, _ = _regression_data(n, d, dtype, seed=seed)

    def grad_fn(w):
        return X.T @ (X @ w - y) / n

    return X, y, grad_fn


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lr,steps", [(0.1, 1), (0.05, 17), (0.3, 150), (0.0, 5)])
def test_gradient_descent_matches_explicit_loop(lr, steps, dtype):
    X, y, grad_fn = _quadratic_problem(dtype, seed=steps)
    w0 = torch.randn(X.shape[1], generator=_gen(steps + 1), dtype=dtype)
    before = w0.clone()

    expected = w0.clone()
    for _ in range(steps):
        expected = expected - lr * grad_fn(expected)

    got = G.gradient_descent(grad_fn, w0, lr=lr, steps=steps)
    assert got.dtype == dtype and got.shape == w0.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    torch.testing.assert_close(w0, before, rtol=0, atol=0)


def test_gradient_descent_zero_steps_returns_copy():
    w0 = torch.tensor([1.0, -2.0])
    got = G.gradient_descent(lambda w: torch.ones_like(w), w0, lr=0.1, steps=0)
    assert got is not w0
    torch.testing.assert_close(got, w0, rtol=0, atol=0)
    got.add_(1.0)
    assert w0.tolist() == [1.0, -2.0]


def test_gradient_descent_converges_to_closed_form():
    X, y, grad_fn = _quadratic_problem(torch.float64, seed=4, n=50, d=3)
    w = G.gradient_descent(grad_fn, torch.zeros(3, dtype=torch.float64), lr=0.5, steps=400)
    expected = torch.linalg.lstsq(X, y.unsqueeze(1)).solution.squeeze(1)
    torch.testing.assert_close(w, expected, rtol=1e-9, atol=1e-9)


def test_gradient_descent_plain_tensors_and_2d_weights():
    calls = []
    W0 = torch.nn.Parameter(torch.ones(2, 3))

    def grad_fn(w):
        calls.append(type(w))
        return 2 * w

    got = G.gradient_descent(grad_fn, W0, lr=0.25, steps=3)
    assert all(tp is torch.Tensor for tp in calls) and len(calls) == 3
    torch.testing.assert_close(got, torch.full((2, 3), 0.125), rtol=0, atol=0)
    assert W0.detach().tolist() == [[1.0] * 3] * 2
    assert not got.requires_grad


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(lr=-0.1, steps=3), "lr"),
        (dict(lr=float("nan"), steps=3), "lr"),
        (dict(lr=0.1, steps=-1), "steps"),
        (dict(lr=0.1, steps=2.5), "steps"),
    ],
)
def test_gradient_descent_validation(kwargs, name):
    with pytest.raises(ValueError, match=name):
        G.gradient_descent(lambda w: w, torch.zeros(2), **kwargs)


def test_gradient_descent_wrong_gradient_shape():
    with pytest.raises(ValueError, match="grad_fn"):
        G.gradient_descent(lambda w: w.sum(), torch.zeros(2), lr=0.1, steps=1)


# --------------------------------------------------------------------------- minibatch SGD


def _batch_grad(Xb, yb, w):
    return Xb.T @ (Xb @ w - yb) / Xb.shape[0]


def _explicit_sgd(X, y, w0, lr, epochs, batch_size, generator):
    w = w0.clone()
    n = X.shape[0]
    batches = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            batches.append(idx.tolist())
            w = w - lr * _batch_grad(X[idx], y[idx], w)
    return w, batches


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,batch_size", [(10, 3), (12, 4), (7, 7), (5, 8), (1, 1), (23, 5)])
def test_minibatch_sgd_matches_explicit_loop(n, batch_size, dtype):
    X, y, _ = _regression_data(n, 3, dtype, seed=n * batch_size)
    w0 = torch.randn(3, generator=_gen(n), dtype=dtype)
    before = _snapshot(X, y, w0)
    seed, lr, epochs = 1234 + n, 0.05, 4

    expected, batches = _explicit_sgd(X, y, w0, lr, epochs, batch_size, _gen(seed))

    seen = []

    def grad_fn(Xb, yb, w):
        seen.append((Xb.clone(), yb.clone(), type(Xb), type(yb), type(w)))
        return _batch_grad(Xb, yb, w)

    got = G.minibatch_sgd(grad_fn, X, y, w0, lr=lr, epochs=epochs, batch_size=batch_size, generator=_gen(seed))
    assert got.dtype == dtype and got.shape == (3,)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    _assert_unchanged(before, X, y, w0)
    # The batches: consecutive slices of a fresh permutation per epoch, last one shorter.
    assert len(seen) == len(batches) == epochs * math.ceil(n / batch_size)
    for (Xb, yb, *types), idx in zip(seen, batches):
        assert all(tp is torch.Tensor for tp in types)
        torch.testing.assert_close(Xb, X[idx], rtol=0, atol=0)
        torch.testing.assert_close(yb, y[idx], rtol=0, atol=0)
    sizes = [len(idx) for idx in batches[: math.ceil(n / batch_size)]]
    assert sizes == [min(batch_size, n - s) for s in range(0, n, batch_size)]


def test_minibatch_sgd_global_rng_when_generator_is_none():
    X, y, _ = _regression_data(17, 4, torch.float64, seed=5)
    w0 = torch.zeros(4, dtype=torch.float64)
    torch.manual_seed(2024)
    expected, _ = _explicit_sgd(X, y, w0, 0.1, 3, 5, None)
    torch.manual_seed(2024)
    got = G.minibatch_sgd(_batch_grad, X, y, w0, lr=0.1, epochs=3, batch_size=5)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_minibatch_sgd_draws_only_from_generator():
    X, y, _ = _regression_data(16, 2, torch.float64, seed=6)
    w0 = torch.zeros(2, dtype=torch.float64)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a = G.minibatch_sgd(_batch_grad, X, y, w0, lr=0.1, epochs=2, batch_size=3, generator=_gen(1))
    assert torch.equal(torch.get_rng_state(), state)
    b = G.minibatch_sgd(_batch_grad, X, y, w0, lr=0.1, epochs=2, batch_size=3, generator=_gen(1))
    c = G.minibatch_sgd(_batch_grad, X, y, w0, lr=0.1, epochs=2, batch_size=3, generator=_gen(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_minibatch_sgd_full_batch_equals_gradient_descent():
    # One batch of all rows: the permutation does not matter up to summation order.
    X, y, _ = _regression_data(12, 3, torch.float64, seed=8)
    w0 = torch.zeros(3, dtype=torch.float64)
    got = G.minibatch_sgd(_batch_grad, X, y, w0, lr=0.2, epochs=30, batch_size=12, generator=_gen(0))
    expected = w0.clone()
    for _ in range(30):
        expected = expected - 0.2 * _batch_grad(X, y, expected)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_minibatch_sgd_zero_epochs_and_matrix_weights():
    X, y, _ = _regression_data(6, 2, torch.float32, seed=1)
    w0 = torch.ones(2, 3)
    got = G.minibatch_sgd(lambda Xb, yb, w: torch.zeros_like(w), X, y, w0, lr=0.1, epochs=0, batch_size=2)
    assert got is not w0 and torch.equal(got, w0)
    got = G.minibatch_sgd(lambda Xb, yb, w: w, X, y, w0, lr=0.5, epochs=1, batch_size=2)
    torch.testing.assert_close(got, torch.full((2, 3), 0.125), rtol=0, atol=0)  # 3 halvings
    assert torch.equal(w0, torch.ones(2, 3))


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(lr=-1.0), "lr"),
        (dict(epochs=-1), "epochs"),
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=1.5), "batch_size"),
        (dict(X=torch.zeros(6)), r"\bX\b"),
        (dict(y=torch.zeros(5)), r"\by\b"),
        (dict(y=torch.zeros(6, 1)), r"\by\b"),
        (dict(generator=123), "generator"),
    ],
)
def test_minibatch_sgd_validation(kwargs, name):
    args = dict(X=torch.zeros(6, 2), y=torch.zeros(6), w0=torch.zeros(2), lr=0.1, epochs=1, batch_size=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        G.minibatch_sgd(_batch_grad, args.pop("X"), args.pop("y"), **args)


# --------------------------------------------------------------------------- validation of the models


@pytest.mark.parametrize("fn", [G.linreg_loss, G.linreg_grad, G.logreg_loss, G.logreg_grad])
@pytest.mark.parametrize(
    "X,y,w,name",
    [
        (torch.zeros(5), torch.zeros(5), torch.zeros(1), r"\bX\b"),  # X 1-D
        (torch.zeros(2, 5, 3), torch.zeros(2), torch.zeros(3), r"\bX\b"),  # X 3-D
        (torch.zeros(0, 3), torch.zeros(0), torch.zeros(3), r"\bX\b"),  # no rows
        (torch.zeros(5, 3, dtype=torch.int64), torch.zeros(5), torch.zeros(3), r"\bX\b"),
        (torch.zeros(5, 3), torch.zeros(5, 1), torch.zeros(3), r"\by\b"),  # (N, 1) vs (N,)
        (torch.zeros(5, 3), torch.zeros(4), torch.zeros(3), r"\by\b"),
        (torch.zeros(5, 3), torch.zeros(5), torch.zeros(4), r"\bw\b"),
        (torch.zeros(5, 3), torch.zeros(5), torch.zeros(3, 1), r"\bw\b"),
        (torch.zeros(5, 3), torch.zeros(5), torch.zeros(3, dtype=torch.float64), r"\bw\b"),
    ],
)
def test_regression_shape_validation(fn, X, y, w, name):
    with pytest.raises(ValueError, match=name):
        fn(X, y, w=w)


@pytest.mark.parametrize("fn", [G.softmax_regression_loss, G.softmax_regression_grad])
@pytest.mark.parametrize(
    "X,y,W,name",
    [
        (torch.zeros(4), torch.zeros(4, dtype=torch.int64), torch.zeros(1, 2), r"\bX\b"),
        (torch.zeros(4, 3), torch.zeros(4, 1, dtype=torch.int64), torch.zeros(3, 2), r"\by\b"),
        (torch.zeros(4, 3), torch.zeros(5, dtype=torch.int64), torch.zeros(3, 2), r"\by\b"),
        (torch.zeros(4, 3), torch.zeros(4), torch.zeros(3, 2), r"\by\b.*int64"),  # float targets
        (torch.zeros(4, 3), torch.zeros(4, dtype=torch.int32), torch.zeros(3, 2), r"\by\b.*int64"),
        (torch.zeros(4, 3), torch.tensor([0, 1, 2, 1]), torch.zeros(3, 2), r"\by\b.*range"),
        (torch.zeros(4, 3), torch.tensor([0, -1, 1, 1]), torch.zeros(3, 2), r"\by\b.*range"),
        (torch.zeros(4, 3), torch.zeros(4, dtype=torch.int64), torch.zeros(3), r"\bW\b"),
        (torch.zeros(4, 3), torch.zeros(4, dtype=torch.int64), torch.zeros(2, 2), r"\bW\b"),
    ],
)
def test_softmax_regression_validation(fn, X, y, W, name):
    with pytest.raises(ValueError, match=name):
        fn(X, y, W=W)


@pytest.mark.parametrize(
    "X,y,l2,name",
    [
        (torch.zeros(4, 2), torch.zeros(4), -0.1, "l2"),
        (torch.zeros(4, 2), torch.zeros(4), float("inf"), "l2"),
        (torch.zeros(4), torch.zeros(4), 0.0, r"\bX\b"),
        (torch.zeros(4, 2), torch.zeros(4, 1), 0.0, r"\by\b"),
        (torch.zeros(4, 2), torch.zeros(3), 0.1, r"\by\b"),
    ],
)
def test_closed_form_validation(X, y, l2, name):
    with pytest.raises(ValueError, match=name):
        G.linreg_closed_form(X, y, l2=l2)


# --------------------------------------------------------------------------- CUDA


@CUDA
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_models_and_closed_form(dtype):
    dev = torch.device("cuda")
    X, y, w = _binary_data(30, 4, dtype, seed=1)
    Xc, yc, wc = X.to(dev), y.to(dev), (w * 3000).to(dev)
    loss, grad = G.logreg_loss(Xc, yc, wc), G.logreg_grad(Xc, yc, wc)
    assert loss.device.type == "cuda" and grad.device.type == "cuda" and grad.dtype == dtype
    ref_loss, ref_grad = _autograd(lambda v: F.binary_cross_entropy_with_logits(Xc @ v, yc), wc)
    torch.testing.assert_close(loss, ref_loss, **TOL[dtype])
    torch.testing.assert_close(grad, ref_grad, **TOL[dtype])

    Xs, ys, Ws = _class_data(30, 4, 5, dtype, seed=2)
    Xs, ys, Ws = Xs.to(dev), ys.to(dev), Ws.to(dev)
    _, ref_gs = _autograd(lambda V: F.cross_entropy(Xs @ V, ys), Ws)
    torch.testing.assert_close(G.softmax_regression_grad(Xs, ys, Ws), ref_gs, **TOL[dtype])

    base = torch.randn(12, 3, generator=_gen(3), dtype=torch.float64)
    Xd = torch.cat([base, base[:, :2]], dim=1)
    yd = torch.randn(12, generator=_gen(4), dtype=torch.float64)
    wd = G.linreg_closed_form(Xd.to(device=dev, dtype=dtype), yd.to(device=dev, dtype=dtype))
    assert wd.device.type == "cuda" and wd.dtype == dtype
    tol = TOL[dtype] if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(wd.cpu(), (torch.linalg.pinv(Xd) @ yd).to(dtype), **tol)
    wr = G.linreg_closed_form(Xd.to(device=dev, dtype=dtype), yd.to(device=dev, dtype=dtype), l2=0.1)
    torch.testing.assert_close(wr.cpu(), G.linreg_closed_form(Xd.to(dtype), yd.to(dtype), l2=0.1), **tol)


@CUDA
@pytest.mark.parametrize("gen_device", ["cpu", "cuda"])
def test_cuda_minibatch_sgd_permutation_device(gen_device):
    dev = torch.device("cuda")
    X, y, _ = _regression_data(11, 3, torch.float64, seed=9)
    Xc, yc, w0 = X.to(dev), y.to(dev), torch.zeros(3, dtype=torch.float64, device=dev)
    g_ref = torch.Generator(device=gen_device).manual_seed(5)
    expected = w0.clone()
    for _ in range(3):
        perm = torch.randperm(11, generator=g_ref, device=gen_device).to(dev)
        for s in range(0, 11, 4):
            idx = perm[s : s + 4]
            expected = expected - 0.1 * _batch_grad(Xc[idx], yc[idx], expected)
    g = torch.Generator(device=gen_device).manual_seed(5)
    got = G.minibatch_sgd(_batch_grad, Xc, yc, w0, lr=0.1, epochs=3, batch_size=4, generator=g)
    assert got.device.type == "cuda"
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
