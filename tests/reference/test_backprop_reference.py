"""Proof tests: reference/backprop.py agrees with torch autograd (and finite differences).

The reference itself never uses autograd; these tests build the same computations from
torch.nn.functional with requires_grad and compare every forward value and gradient,
for float32 and float64, on non-square shapes, batch sizes from 1, and random upstream
gradients.
"""

from __future__ import annotations

import math
import zlib

import pytest
import torch
import torch.nn.functional as F

from grader import harness
from grader.static_check import check_source
from reference import backprop

DTYPES = [torch.float32, torch.float64]
TOL = {
    torch.float32: dict(rtol=1e-5, atol=1e-6),
    torch.float64: dict(rtol=1e-10, atol=1e-12),
}
TORCH_ACT = {
    "sigmoid": lambda x, s: torch.sigmoid(x),
    "tanh": lambda x, s: torch.tanh(x),
    "relu": lambda x, s: F.relu(x),
    "leaky_relu": lambda x, s: F.leaky_relu(x, s),
    "gelu": lambda x, s: F.gelu(x),
}
# (N, in, out): batch 1, tall, wide, square, a single input feature
LINEAR_SHAPES = [(1, 3, 5), (4, 7, 2), (6, 5, 5), (9, 2, 6), (3, 1, 4), (2, 6, 1)]


def _gen(*parts) -> torch.Generator:
    return torch.Generator().manual_seed(zlib.crc32(repr(parts).encode()))


def _close(actual, expected, dtype, **override):
    assert isinstance(actual, torch.Tensor)
    assert actual.dtype == dtype, f"dtype {actual.dtype} != {dtype}"
    assert actual.shape == expected.shape, f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    tol = dict(TOL[dtype])
    tol.update(override)
    torch.testing.assert_close(actual, expected.to(dtype), **tol)


def _randn(g, *shape, dtype=torch.float64, scale=1.0):
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)


def _unchanged(before, after):
    for b, a in zip(before, after):
        assert torch.equal(a, b), "an input was modified"


# ------------------------------------------------------------------------------ linear


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LINEAR_SHAPES)
def test_linear_matches_autograd(dtype, shape):
    n, d_in, d_out = shape
    g = _gen("linear", shape, str(dtype))
    x, W, b = _randn(g, n, d_in, dtype=dtype), _randn(g, d_out, d_in, dtype=dtype), _randn(g, d_out, dtype=dtype)
    dout = _randn(g, n, d_out, dtype=dtype)
    before = [t.clone() for t in (x, W, b, dout)]
    out, cache = backprop.linear_forward(x, W, b)
    dx, dW, db = backprop.linear_backward(dout, cache)
    _unchanged(before, (x, W, b, dout))

    xs, Ws, bs = (t.clone().requires_grad_(True) for t in (x, W, b))
    ref = F.linear(xs, Ws, bs)
    gx, gW, gb = torch.autograd.grad(ref, (xs, Ws, bs), dout)
    _close(out, ref.detach(), dtype)
    _close(dx, gx, dtype)
    _close(dW, gW, dtype)
    _close(db, gb, dtype)


def test_linear_leading_dims_and_1d():
    g = _gen("linear-nd")
    x, W, b = _randn(g, 2, 3, 4), _randn(g, 5, 4), _randn(g, 5)
    dout = _randn(g, 2, 3, 5)
    out, cache = backprop.linear_forward(x, W, b)
    dx, dW, db = backprop.linear_backward(dout, cache)
    xs, Ws, bs = (t.clone().requires_grad_(True) for t in (x, W, b))
    ref = F.linear(xs, Ws, bs)
    for a, e in zip((out, dx, dW, db), (ref.detach(), *torch.autograd.grad(ref, (xs, Ws, bs), dout))):
        _close(a, e, torch.float64)
    # a single example without a batch dim
    out, cache = backprop.linear_forward(x[0, 0], W, b)
    dx, dW, db = backprop.linear_backward(dout[0, 0], cache)
    _close(out, F.linear(x[0, 0], W, b), torch.float64)
    _close(dW, torch.outer(dout[0, 0], x[0, 0]), torch.float64)
    _close(db, dout[0, 0], torch.float64)


def test_linear_finite_differences_float64():
    g = _gen("linear-fd")
    x, W, b = _randn(g, 3, 4), _randn(g, 2, 4), _randn(g, 2)
    dout = _randn(g, 3, 2)

    def f(x, W, b):
        return (backprop.linear_forward(x, W, b)[0] * dout).sum()

    _, cache = backprop.linear_forward(x, W, b)
    analytic = backprop.linear_backward(dout, cache)
    for i, t in enumerate((x, W, b)):
        _close(analytic[i], _numeric(lambda v: f(*[v if j == i else u for j, u in enumerate((x, W, b))]), t),
               torch.float64, rtol=1e-7, atol=1e-8)


def _numeric(f, x, eps=1e-6):
    grad = torch.zeros_like(x)
    flat = grad.reshape(-1)
    for i in range(x.numel()):
        xp, xm = x.clone(), x.clone()
        xp.reshape(-1)[i] += eps
        xm.reshape(-1)[i] -= eps
        flat[i] = (f(xp) - f(xm)) / (2 * eps)
    return grad


# ------------------------------------------------------------------------- activations


ACT_CASES = [("sigmoid", {}), ("tanh", {}), ("relu", {}), ("leaky_relu", {}),
             ("leaky_relu", {"negative_slope": 0.2}), ("gelu", {})]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 5), (6, 3), (2, 3, 4), (7,)])
@pytest.mark.parametrize("kind,kw", ACT_CASES, ids=[f"{k}{v}" for k, v in ACT_CASES])
def test_activation_matches_autograd(kind, kw, shape, dtype):
    g = _gen("act", kind, kw, shape, str(dtype))
    x = _randn(g, *shape, dtype=dtype, scale=3.0)
    dout = _randn(g, *shape, dtype=dtype)
    before = [x.clone(), dout.clone()]
    out, cache = backprop.activation_forward(x, kind, **kw)
    dx = backprop.activation_backward(dout, cache)
    _unchanged(before, (x, dout))
    slope = kw.get("negative_slope", 0.01)
    xs = x.clone().requires_grad_(True)
    ref = TORCH_ACT[kind](xs, slope)
    (gx,) = torch.autograd.grad(ref, xs, dout)
    _close(out, ref.detach(), dtype)
    _close(dx, gx, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,kw", ACT_CASES, ids=[f"{k}{v}" for k, v in ACT_CASES])
def test_activation_kinks_as_autograd(kind, kw, dtype):
    x = torch.tensor([[-2.0, -0.0, 0.0, 1e-30, -1e-30, 3.0]], dtype=dtype)
    dout = torch.tensor([[0.5, -1.5, 2.0, 0.25, -3.0, 1.0]], dtype=dtype)
    out, cache = backprop.activation_forward(x, kind, **kw)
    dx = backprop.activation_backward(dout, cache)
    xs = x.clone().requires_grad_(True)
    ref = TORCH_ACT[kind](xs, kw.get("negative_slope", 0.01))
    (gx,) = torch.autograd.grad(ref, xs, dout)
    _close(out, ref.detach(), dtype)
    _close(dx, gx, dtype)
    if kind == "relu":
        assert dx[0, 1] == 0 and dx[0, 2] == 0
    if kind == "leaky_relu":
        assert dx[0, 2].item() == pytest.approx(2.0 * kw.get("negative_slope", 0.01))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", backprop.ACTIVATIONS)
def test_activation_large_inputs(kind, dtype):
    x = torch.tensor([[-1e4, -1e3, -100.0, -30.0, 0.5, 30.0, 100.0, 1e3, 1e4]], dtype=dtype)
    dout = torch.linspace(-2, 2, 9, dtype=dtype).reshape(1, 9)
    out, cache = backprop.activation_forward(x, kind)
    dx = backprop.activation_backward(dout, cache)
    assert torch.isfinite(out).all() and torch.isfinite(dx).all()
    xs = x.clone().requires_grad_(True)
    ref = TORCH_ACT[kind](xs, 0.01)
    (gx,) = torch.autograd.grad(ref, xs, dout)
    _close(out, ref.detach(), dtype)
    _close(dx, gx, dtype)


@pytest.mark.parametrize("kind", backprop.ACTIVATIONS)
def test_activation_finite_differences_float64(kind):
    g = _gen("act-fd", kind)
    x = _randn(g, 3, 4, scale=2.0)
    x = torch.where(x.abs() < 1e-3, torch.full_like(x, 0.5), x)  # away from the kinks
    dout = _randn(g, 3, 4)
    _, cache = backprop.activation_forward(x, kind)
    dx = backprop.activation_backward(dout, cache)
    num = _numeric(lambda v: (backprop.activation_forward(v, kind)[0] * dout).sum(), x)
    _close(dx, num, torch.float64, rtol=1e-6, atol=1e-8)


def test_gelu_is_exact_not_tanh():
    x = torch.linspace(-4, 4, 101, dtype=torch.float64)
    out, _ = backprop.activation_forward(x, "gelu")
    _close(out, F.gelu(x, approximate="none"), torch.float64)
    assert (out - F.gelu(x, approximate="tanh")).abs().max() > 1e-4


# ------------------------------------------------------------------ softmax cross-entropy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 3), (5, 4), (8, 10), (6, 2), (3, 1), (4, 7)])
@pytest.mark.parametrize("scale", [1.0, 10.0, 1e3])
def test_softmax_cross_entropy_matches_autograd(shape, scale, dtype):
    n, c = shape
    g = _gen("ce", shape, scale, str(dtype))
    z = _randn(g, n, c, dtype=dtype, scale=scale)
    y = torch.randint(0, c, (n,), generator=g)
    before = [z.clone(), y.clone()]
    loss, dz = backprop.softmax_cross_entropy(z, y)
    _unchanged(before, (z, y))
    zs = z.clone().requires_grad_(True)
    ref = F.cross_entropy(zs, y)
    (gz,) = torch.autograd.grad(ref, zs)
    assert loss.dim() == 0
    assert torch.isfinite(loss) and torch.isfinite(dz).all()
    _close(loss, ref.detach(), dtype, atol=TOL[dtype]["atol"] * max(1.0, scale))
    _close(dz, gz, dtype)
    torch.testing.assert_close(dz.sum(dim=1), torch.zeros(n, dtype=dtype), rtol=0,
                               atol=10 * TOL[dtype]["atol"])


def test_softmax_cross_entropy_finite_differences_float64():
    g = _gen("ce-fd")
    z = _randn(g, 4, 5)
    y = torch.tensor([0, 3, 3, 1])
    _, dz = backprop.softmax_cross_entropy(z, y)
    _close(dz, _numeric(lambda v: backprop.softmax_cross_entropy(v, y)[0], z), torch.float64,
           rtol=1e-6, atol=1e-9)


def test_softmax_cross_entropy_float32_logits_1e4():
    z = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], dtype=torch.float32)
    y = torch.tensor([1, 2])
    loss, dz = backprop.softmax_cross_entropy(z, y)
    zs = z.clone().requires_grad_(True)
    ref = F.cross_entropy(zs, y)
    (gz,) = torch.autograd.grad(ref, zs)
    _close(loss, ref.detach(), torch.float32)
    _close(dz, gz, torch.float32)


# --------------------------------------------------------------------------------- MLP


def _torch_mlp(params, X, y, activation):
    ps = [p.clone().requires_grad_(True) for p in params]
    h = X
    for layer in range(len(ps) // 2):
        h = F.linear(h, ps[2 * layer], ps[2 * layer + 1])
        if layer < len(ps) // 2 - 1:
            h = TORCH_ACT[activation](h, 0.01)
    loss = F.cross_entropy(h, y)
    return loss.detach(), list(torch.autograd.grad(loss, ps)), h.detach()


def _random_params(g, sizes, dtype, scale=1.5):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append(_randn(g, fan_out, fan_in, dtype=dtype, scale=scale / math.sqrt(fan_in)))
        params.append(_randn(g, fan_out, dtype=dtype, scale=0.5))
    return params


MLP_SIZES = {1: [5, 3], 2: [6, 7, 4], 4: [5, 8, 3, 6, 4]}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 9])
@pytest.mark.parametrize("activation", backprop.ACTIVATIONS)
@pytest.mark.parametrize("depth", [1, 2, 4])
def test_mlp_loss_and_grads_matches_autograd(depth, activation, n, dtype):
    sizes = MLP_SIZES[depth]
    g = _gen("mlp", depth, activation, n, str(dtype))
    params = _random_params(g, sizes, dtype)
    X = _randn(g, n, sizes[0], dtype=dtype)
    y = torch.randint(0, sizes[-1], (n,), generator=g)
    before = [p.clone() for p in params] + [X.clone(), y.clone()]
    loss, grads = backprop.mlp_loss_and_grads(params, X, y, activation=activation)
    _unchanged(before, params + [X, y])
    ref_loss, ref_grads, _ = _torch_mlp(params, X, y, activation)
    assert isinstance(grads, list) and len(grads) == len(params)
    _close(loss, ref_loss, dtype)
    for a, e in zip(grads, ref_grads):
        _close(a, e, dtype, rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"] * 10)


@pytest.mark.parametrize("activation", backprop.ACTIVATIONS)
def test_mlp_finite_differences_float64(activation):
    g = _gen("mlp-fd", activation)
    params = _random_params(g, [3, 4, 2], torch.float64)
    X = _randn(g, 5, 3)
    y = torch.tensor([0, 1, 1, 0, 1])
    _, grads = backprop.mlp_loss_and_grads(params, X, y, activation=activation)
    for i, p in enumerate(params):
        def f(v, i=i):
            ps = list(params)
            ps[i] = v
            return backprop.mlp_loss_and_grads(ps, X, y, activation=activation)[0]
        _close(grads[i], _numeric(f, p), torch.float64, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", backprop.ACTIVATIONS)
def test_mlp_class_is_consistent(activation, dtype):
    sizes = [6, 5, 7, 3]
    model = backprop.MLP(sizes, activation=activation, generator=torch.Generator().manual_seed(1),
                         dtype=dtype)
    assert len(model.params) == 6
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        assert model.params[2 * layer].shape == (fan_out, fan_in)
        assert model.params[2 * layer + 1].shape == (fan_out,)
        assert all(p.dtype == dtype for p in model.params)
    g = _gen("mlp-class", activation, str(dtype))
    X = _randn(g, 4, 6, dtype=dtype)
    y = torch.tensor([2, 0, 1, 2])
    logits = model.forward(X)
    ref_loss, ref_grads, ref_logits = _torch_mlp(model.params, X, y, activation)
    _close(logits, ref_logits, dtype)
    _, dlogits = backprop.softmax_cross_entropy(logits, y)
    grads = model.backward(dlogits)
    loss, grads2 = backprop.mlp_loss_and_grads(model.params, X, y, activation=activation)
    for a, b, e in zip(grads, grads2, ref_grads):
        _close(a, b, dtype, rtol=0, atol=0)
        _close(a, e, dtype, rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"] * 10)
    # an arbitrary upstream gradient, a second batch, then an in-place update
    X2 = _randn(g, 1, 6, dtype=dtype)
    D2 = _randn(g, 1, 3, dtype=dtype)
    ps = [p.clone().requires_grad_(True) for p in model.params]
    h = X2
    for layer in range(3):
        h = F.linear(h, ps[2 * layer], ps[2 * layer + 1])
        if layer < 2:
            h = TORCH_ACT[activation](h, 0.01)
    _close(model.forward(X2), h.detach(), dtype)
    for a, e in zip(model.backward(D2), torch.autograd.grad(h, ps, D2)):
        _close(a, e, dtype, rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"] * 10)
    with torch.no_grad():
        for p in model.params:
            p.sub_(0.1)
    _close(model.forward(X2), _torch_mlp(model.params, X2, torch.tensor([0]), activation)[2], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mlp_init_like_torch_linear(dtype):
    sizes = [300, 200, 50, 10]
    model = backprop.MLP(sizes, generator=torch.Generator().manual_seed(3), dtype=dtype)
    same = backprop.MLP(sizes, generator=torch.Generator().manual_seed(3), dtype=dtype)
    other = backprop.MLP(sizes, generator=torch.Generator().manual_seed(4), dtype=dtype)
    for a, b, c in zip(model.params, same.params, other.params):
        assert torch.equal(a, b) and not torch.equal(a, c)
    for layer, fan_in in enumerate(sizes[:-1]):
        bound = 1 / math.sqrt(fan_in)
        # torch.nn.Linear draws both W and b from U(-bound, bound)
        lin = torch.nn.Linear(fan_in, sizes[layer + 1], dtype=dtype)
        assert lin.weight.abs().max() <= bound and lin.bias.abs().max() <= bound
        for p in model.params[2 * layer: 2 * layer + 2]:
            n = p.numel()
            assert p.abs().max() <= bound
            assert p.abs().max() >= bound * (1 - 20 / n)
            std = p.double().std().item()
            assert abs(std / (bound / math.sqrt(3)) - 1) < max(6 * math.sqrt(0.2 / n), 0.02)
            assert abs(p.double().mean().item()) < 6 * bound / math.sqrt(3 * n)


def test_mlp_generator_is_the_only_randomness():
    torch.manual_seed(0)
    a = backprop.MLP([4, 3, 2], generator=torch.Generator().manual_seed(9))
    torch.manual_seed(1)
    b = backprop.MLP([4, 3, 2], generator=torch.Generator().manual_seed(9))
    for p, q in zip(a.params, b.params):
        assert torch.equal(p, q)
    c = backprop.MLP([4, 3, 2])  # no generator: the global stream, still in bounds
    assert c.params[0].abs().max() <= 0.5 and c.params[0].dtype == torch.float32


# ----------------------------------------------------------------- harness and errors


def test_harness_round_trip_matches_direct_calls():
    g = _gen("harness")
    x, W, b, dout = _randn(g, 3, 4), _randn(g, 2, 4), _randn(g, 2), _randn(g, 3, 2)
    res = harness.run_layer(backprop.linear_forward, backprop.linear_backward, [x, W, b], {}, dout)
    out, cache = backprop.linear_forward(x, W, b)
    assert torch.equal(res["out"], out)
    for a, e in zip(res["grads"], backprop.linear_backward(dout, cache)):
        assert torch.equal(a, e)
    sizes = [4, 5, 3]
    X = _randn(g, 6, 4, dtype=torch.float32)
    y = torch.tensor([0, 2, 1, 1, 0, 2])
    run = harness.run_mlp(backprop.MLP, sizes, {"activation": "tanh"}, seed=5,
                          steps=[{"x": X, "y": y}])
    params = run["params"]
    loss, grads = backprop.mlp_loss_and_grads(params, X, y, activation="tanh")
    for a, e in zip(run["steps"][0]["grads"], grads):
        _close(a, e, torch.float32)


def test_reference_uses_nothing_forbidden():
    with open(backprop.__file__, encoding="utf-8") as fh:
        assert check_source(fh.read(), "backprop") == []


def _bad_calls():
    g = _gen("bad")
    x, W, b = _randn(g, 4, 3), _randn(g, 2, 3), _randn(g, 2)
    z, y = _randn(g, 4, 3), torch.tensor([0, 2, 1, 1])
    params = [W, b, _randn(g, 3, 2), _randn(g, 3)]
    return [
        ("b", lambda: backprop.linear_forward(x, W, b[:, None])),
        ("W", lambda: backprop.linear_forward(x, W.T, b)),
        ("b", lambda: backprop.linear_forward(x, W, b.float())),
        ("x", lambda: backprop.linear_forward(x.long(), W, b)),
        ("dout", lambda: backprop.linear_backward(torch.zeros(4, 3, dtype=torch.float64),
                                                  backprop.linear_forward(x, W, b)[1])),
        ("kind", lambda: backprop.activation_forward(x, "softplus")),
        ("kind", lambda: backprop.activation_forward(x, None)),
        ("negative_slope", lambda: backprop.activation_forward(x, "leaky_relu", negative_slope="a")),
        ("dout", lambda: backprop.activation_backward(torch.zeros(3, 3, dtype=torch.float64),
                                                      backprop.activation_forward(x, "tanh")[1])),
        ("y", lambda: backprop.softmax_cross_entropy(z, torch.tensor([0, 3, 1, 1]))),
        ("y", lambda: backprop.softmax_cross_entropy(z, torch.tensor([0, -1, 1, 1]))),
        ("y", lambda: backprop.softmax_cross_entropy(z, y.double())),
        ("y", lambda: backprop.softmax_cross_entropy(z, y[:, None])),
        ("logits", lambda: backprop.softmax_cross_entropy(z[0], y[:1])),
        ("activation", lambda: backprop.mlp_loss_and_grads(params, x, y[:4] % 3, activation="swish")),
        ("params", lambda: backprop.mlp_loss_and_grads(params[:3], x, y % 2)),
        ("params", lambda: backprop.mlp_loss_and_grads([W.T, b], x, y % 2)),
        ("params", lambda: backprop.mlp_loss_and_grads([params[0], params[1], params[2][:, :1], params[3]], x, y)),
        ("sizes", lambda: backprop.MLP([4])),
        ("sizes", lambda: backprop.MLP([4, 0, 2])),
        ("activation", lambda: backprop.MLP([4, 2], activation="swish")),
        ("dtype", lambda: backprop.MLP([4, 2], dtype=torch.int64)),
    ]


@pytest.mark.parametrize("i", range(len(_bad_calls())))
def test_bad_arguments_raise_value_error_naming_them(i):
    name, call = _bad_calls()[i]
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()
