"""Proof tests: reference/batchnorm.py agrees with torch.nn.functional.batch_norm /
layer_norm, forward (running statistics included) and backward (against autograd)."""

from __future__ import annotations

import ast
import inspect
import zlib

import pytest
import torch
import torch.nn.functional as F

from reference import batchnorm as bn

DTYPES = [torch.float32, torch.float64]
TOL = {
    torch.float32: dict(rtol=2e-5, atol=2e-5),
    torch.float64: dict(rtol=1e-10, atol=1e-11),
}
SHAPES = [(6, 3), (2, 4), (3, 5), (4, 3, 7), (2, 3, 1), (5, 2, 3, 4), (2, 3, 2, 2), (1, 3, 2, 2),
          (3, 2, 1, 1), (2, 2, 2, 3, 2)]
STEPS = 4


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _seed(*parts) -> int:
    return zlib.crc32(repr(parts).encode())


def _close(actual, expected, dtype, **override):
    assert isinstance(actual, torch.Tensor)
    assert actual.dtype == dtype, f"dtype {actual.dtype} != {dtype}"
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    tol = dict(TOL[dtype])
    tol.update(override)
    torch.testing.assert_close(actual, expected.to(dtype), equal_nan=True, **tol)


def _params(g, c, dtype):
    gamma = (torch.randn(c, generator=g, dtype=torch.float64) * 0.7 + 1).to(dtype)
    beta = torch.randn(c, generator=g, dtype=torch.float64).to(dtype)
    return gamma, beta


def _batch(g, shape, dtype, shift=0.0):
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 2 + shift
    return x.to(dtype)


def _autograd_bn(x, gamma, beta, rm, rv, training, momentum, eps, dout):
    xr = x.detach().clone().requires_grad_(True)
    gr = gamma.detach().clone().requires_grad_(True)
    br = beta.detach().clone().requires_grad_(True)
    out = F.batch_norm(xr, rm, rv, gr, br, training=training, momentum=momentum, eps=eps)
    dx, dg, db = torch.autograd.grad(out, (xr, gr, br), dout)
    return out.detach(), dx, dg, db


# ------------------------------------------------------------------------- batchnorm

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_batchnorm_training_steps_then_eval(dtype, shape):
    """Several training steps (running statistics after each), then evaluation, with
    outputs and all three gradients against autograd through F.batch_norm."""
    momentum = 0.1 if SHAPES.index(shape) % 2 == 0 else 0.3
    g = _gen(_seed(str(dtype), shape, momentum))
    c = shape[1]
    gamma, beta = _params(g, c, dtype)
    rm, rv = torch.zeros(c, dtype=dtype), torch.ones(c, dtype=dtype)
    trm, trv = rm.clone(), rv.clone()
    eps = 1e-5 if momentum == 0.1 else 1e-3
    for step in range(STEPS + 2):
        training = step < STEPS
        x = _batch(g, shape, dtype, shift=0.5 * step)
        dout = torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)
        keep = [t.clone() for t in (x, gamma, beta, dout)]
        rm_id, rv_id = id(rm), id(rv)
        out, cache = bn.batchnorm_forward(x, gamma, beta, rm, rv, training=training,
                                          momentum=momentum, eps=eps)
        dx, dg, db = bn.batchnorm_backward(dout, cache)
        eout, edx, edg, edb = _autograd_bn(x, gamma, beta, trm, trv, training, momentum, eps, dout)
        _close(out, eout, dtype)
        _close(rm, trm, dtype)
        _close(rv, trv, dtype)
        _close(dx, edx, dtype, atol=1e-4 if dtype == torch.float32 else 1e-10)
        _close(dg, edg, dtype, atol=1e-4 if dtype == torch.float32 else 1e-10)
        _close(db, edb, dtype, atol=1e-4 if dtype == torch.float32 else 1e-10)
        assert id(rm) == rm_id and id(rv) == rv_id
        for before, after in zip(keep, (x, gamma, beta, dout)):
            assert torch.equal(before, after), "an input was modified"


@pytest.mark.parametrize("dtype", DTYPES)
def test_running_statistics_formula_by_hand(dtype):
    # one step from (0, 1) with momentum 0.1 on N = 4: running_mean = 0.1 * mu,
    # running_var = 0.9 + 0.1 * unbiased var
    x = torch.tensor([[1.0, 10.0], [2.0, 10.0], [3.0, 12.0], [6.0, 8.0]], dtype=dtype)
    rm, rv = torch.zeros(2, dtype=dtype), torch.ones(2, dtype=dtype)
    out, _ = bn.batchnorm_forward(x, torch.ones(2, dtype=dtype), torch.zeros(2, dtype=dtype), rm, rv)
    _close(rm, torch.tensor([0.3, 1.0], dtype=torch.float64), dtype)
    # column 0: deviations -2, -1, 0, 3: sum of squares 14; unbiased 14/3, biased 3.5
    # column 1: deviations 0, 0, 2, -2: sum of squares 8; unbiased 8/3, biased 2
    _close(rv, torch.tensor([0.9 + 0.1 * 14 / 3, 0.9 + 0.1 * 8 / 3], dtype=torch.float64), dtype)
    expected = torch.tensor([[-2.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [3.0, -2.0]], dtype=torch.float64)
    expected = expected / torch.sqrt(torch.tensor([3.5, 2.0], dtype=torch.float64) + 1e-5)
    _close(out, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (3, 3, 2, 2)], ids=lambda s: "x".join(map(str, s)))
def test_tiny_variance_channel(dtype, shape):
    g = _gen(_seed("tiny", str(dtype), shape))
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    x[:, 0] = 0.01 + 1e-3 * x[:, 0]  # var ~ 1e-6, below eps
    x[:, 1] = -2.0                  # an exactly constant channel
    x = x.to(dtype)
    gamma, beta = _params(g, 3, dtype)
    rm, rv = torch.zeros(3, dtype=dtype), torch.ones(3, dtype=dtype)
    trm, trv = rm.clone(), rv.clone()
    out, cache = bn.batchnorm_forward(x, gamma, beta, rm, rv)
    dout = torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)
    dx, dg, db = bn.batchnorm_backward(dout, cache)
    eout, edx, edg, edb = _autograd_bn(x, gamma, beta, trm, trv, True, 0.1, 1e-5, dout)
    loose = dict(atol=1e-4, rtol=1e-4) if dtype == torch.float32 else {}
    _close(out, eout, dtype, **loose)
    _close(rv, trv, dtype, **loose)
    _close(rm, trm, dtype)
    _close(dx, edx, dtype, **(dict(atol=5e-3, rtol=1e-3) if dtype == torch.float32 else {}))
    _close(dg, edg, dtype, **loose)
    _close(db, edb, dtype)
    # the constant channel normalises to exactly 0: out = beta there
    assert torch.all(out[:, 1] == beta[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 4), (1, 4, 1), (1, 4, 1, 1), (1, 4, 1, 1, 1)])
def test_one_value_per_channel(dtype, shape):
    x = torch.randn(shape, dtype=dtype)
    gamma, beta = torch.ones(4, dtype=dtype), torch.zeros(4, dtype=dtype)
    rm, rv = torch.zeros(4, dtype=dtype), torch.ones(4, dtype=dtype)
    with pytest.raises(ValueError):
        F.batch_norm(x, rm.clone(), rv.clone(), gamma, beta, training=True)
    with pytest.raises(ValueError, match=r"\bx\b"):
        bn.batchnorm_forward(x, gamma, beta, rm, rv, training=True)
    assert torch.equal(rm, torch.zeros(4, dtype=dtype)) and torch.equal(rv, torch.ones(4, dtype=dtype))
    # evaluation with one sample is fine
    rv2 = torch.rand(4, dtype=dtype) + 0.5
    out, _ = bn.batchnorm_forward(x, gamma, beta, rm, rv2, training=False)
    _close(out, F.batch_norm(x, rm, rv2, gamma, beta, training=False), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_momentum_extremes_and_none_buffers(dtype):
    g = _gen(4)
    x = _batch(g, (5, 3, 2), dtype, shift=1.0)
    gamma, beta = _params(g, 3, dtype)
    for momentum in (0.0, 1.0):
        rm, rv = torch.randn(3, generator=g, dtype=dtype), torch.rand(3, generator=g, dtype=dtype) + 0.5
        trm, trv = rm.clone(), rv.clone()
        out, _ = bn.batchnorm_forward(x, gamma, beta, rm, rv, momentum=momentum)
        _close(out, F.batch_norm(x, trm, trv, gamma, beta, training=True, momentum=momentum), dtype)
        _close(rm, trm, dtype)
        _close(rv, trv, dtype)
    out, cache = bn.batchnorm_forward(x, gamma, beta, None, None)
    _close(out, F.batch_norm(x, None, None, gamma, beta, training=True), dtype)
    with pytest.raises(ValueError, match="running_mean"):
        bn.batchnorm_forward(x, gamma, beta, None, torch.ones(3, dtype=dtype), training=False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_batch_as_torch(dtype):
    x = torch.empty(0, 3, 4, dtype=dtype)
    gamma, beta = torch.ones(3, dtype=dtype), torch.zeros(3, dtype=dtype)
    rm, rv = torch.zeros(3, dtype=dtype), torch.ones(3, dtype=dtype)
    out, cache = bn.batchnorm_forward(x, gamma, beta, rm, rv)
    assert out.shape == x.shape and out.dtype == dtype
    assert torch.equal(rm, torch.zeros(3, dtype=dtype)) and torch.equal(rv, torch.ones(3, dtype=dtype))
    dx, dg, db = bn.batchnorm_backward(torch.empty(0, 3, 4, dtype=dtype), cache)
    assert dx.shape == x.shape
    assert torch.equal(dg, torch.zeros(3, dtype=dtype)) and torch.equal(db, torch.zeros(3, dtype=dtype))


def test_float32_large_offset_close_to_torch():
    # a large common offset: torch's float32 statistics and ours round differently, but
    # both stay close (the two-pass variance loses nothing to cancellation)
    g = _gen(11)
    x = (torch.randn(16, 4, generator=g, dtype=torch.float64) + 1000).float()
    gamma, beta = torch.ones(4), torch.zeros(4)
    out, _ = bn.batchnorm_forward(x, gamma, beta, torch.zeros(4), torch.ones(4))
    ref = F.batch_norm(x.double(), None, None, gamma.double(), beta.double(), training=True)
    torch.testing.assert_close(out.double(), ref, rtol=1e-3, atol=1e-3)


# ------------------------------------------------------------------------- layer norm

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (4, 6), (2, 3, 5), (3, 1), (2, 2, 2, 3)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_layernorm_forward_backward(dtype, shape, eps):
    g = _gen(_seed("ln", str(dtype), shape, eps))
    d = shape[-1]
    x = _batch(g, shape, dtype, shift=1.5)
    if x.dim() >= 2 and d > 1:
        x[0] = 0.01 + 1e-3 * (x[0] - 1.5)  # a row with tiny variance
    gamma, beta = _params(g, d, dtype)
    dout = torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)
    keep = [t.clone() for t in (x, gamma, beta, dout)]
    out, cache = bn.layernorm_forward(x, gamma, beta, eps=eps)
    dx, dg, db = bn.layernorm_backward(dout, cache)
    xr = x.clone().requires_grad_(True)
    gr = gamma.clone().requires_grad_(True)
    br = beta.clone().requires_grad_(True)
    eout = F.layer_norm(xr, (d,), gr, br, eps)
    edx, edg, edb = torch.autograd.grad(eout, (xr, gr, br), dout)
    loose = dict(atol=2e-3, rtol=1e-3) if dtype == torch.float32 else {}
    _close(out, eout.detach(), dtype, **({} if dtype == torch.float64 else dict(atol=1e-4)))
    _close(dx, edx, dtype, **loose)
    _close(dg, edg, dtype, **loose)
    _close(db, edb, dtype, **loose)
    for before, after in zip(keep, (x, gamma, beta, dout)):
        assert torch.equal(before, after), "an input was modified"


# ------------------------------------------------------------------------- errors

def _bn_args(**override):
    x = torch.randn(4, 3, 2)
    args = dict(x=x, gamma=torch.ones(3), beta=torch.zeros(3), running_mean=torch.zeros(3),
                running_var=torch.ones(3))
    args.update(override)
    return args


BN_ERRORS = [
    (dict(x=torch.randn(5)), "x"),
    (dict(x=torch.randint(0, 3, (4, 3))), "x"),
    (dict(gamma=torch.ones(4)), "gamma"),
    (dict(gamma=torch.ones(3, 1)), "gamma"),
    (dict(beta=torch.zeros(2)), "beta"),
    (dict(beta=torch.zeros(3, dtype=torch.float64)), "beta"),
    (dict(running_mean=torch.zeros(4)), "running_mean"),
    (dict(running_var=torch.ones(1)), "running_var"),
    (dict(running_var=torch.ones(3, dtype=torch.float64)), "running_var"),
    (dict(momentum=-0.1), "momentum"),
    (dict(momentum=1.5), "momentum"),
    (dict(eps=-1e-5), "eps"),
    (dict(eps=float("nan")), "eps"),
    (dict(x=torch.randn(1, 3)), "x"),
]


@pytest.mark.parametrize("override,argname", BN_ERRORS, ids=[f"{i}-{a}" for i, (_, a) in enumerate(BN_ERRORS)])
def test_batchnorm_value_errors_name_the_argument(override, argname):
    args = _bn_args(**override)
    with pytest.raises(ValueError, match=rf"\b{argname}\b"):
        bn.batchnorm_forward(**args)


LN_ERRORS = [
    (dict(x=torch.tensor(1.0)), "x"),
    (dict(x=torch.ones(3, 4, dtype=torch.int64)), "x"),
    (dict(gamma=torch.ones(3)), "gamma"),
    (dict(beta=torch.zeros(4, 1)), "beta"),
    (dict(gamma=torch.ones(4, dtype=torch.float64)), "gamma"),
    (dict(eps=-1.0), "eps"),
]


@pytest.mark.parametrize("override,argname", LN_ERRORS, ids=[f"{i}-{a}" for i, (_, a) in enumerate(LN_ERRORS)])
def test_layernorm_value_errors_name_the_argument(override, argname):
    args = dict(x=torch.randn(3, 4), gamma=torch.ones(4), beta=torch.zeros(4))
    args.update(override)
    with pytest.raises(ValueError, match=rf"\b{argname}\b"):
        bn.layernorm_forward(**args)


def test_backward_rejects_wrong_dout_shape():
    out, cache = bn.batchnorm_forward(**_bn_args())
    with pytest.raises(ValueError, match="dout"):
        bn.batchnorm_backward(torch.ones(4, 3), cache)
    out, cache = bn.layernorm_forward(torch.randn(3, 4), torch.ones(4), torch.zeros(4))
    with pytest.raises(ValueError, match="dout"):
        bn.layernorm_backward(torch.ones(4, 3), cache)


# ------------------------------------------------------------------------- misc

BANNED_ATTRS = {"softmax", "log_softmax", "sigmoid", "logsumexp", "relu", "dropout",
                "batch_norm", "layer_norm", "expit", "backward", "nn", "optim", "func",
                "_C", "autograd", "native_batch_norm", "native_layer_norm", "group_norm",
                "instance_norm"}


def test_reference_uses_no_banned_api():
    tree = ast.parse(inspect.getsource(bn))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            assert node.attr not in BANNED_ATTRS, f"banned attribute .{node.attr}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            for n in names:
                assert n.split(".")[0] in {"__future__", "math", "numbers", "torch"}, n
                assert not n.startswith(("torch.nn", "torch.optim", "torch.func",
                                         "torch._C", "torch.autograd")), n


def test_public_api():
    for name in bn.__all__:
        assert callable(getattr(bn, name))
        assert getattr(bn, name).__doc__
    assert list(inspect.signature(bn.batchnorm_forward).parameters) == [
        "x", "gamma", "beta", "running_mean", "running_var", "training", "momentum", "eps"]
    sig = inspect.signature(bn.batchnorm_forward).parameters
    assert sig["training"].default is True and sig["momentum"].default == 0.1 and sig["eps"].default == 1e-5
    assert list(inspect.signature(bn.batchnorm_backward).parameters) == ["dout", "cache"]
    assert list(inspect.signature(bn.layernorm_forward).parameters) == ["x", "gamma", "beta", "eps"]
    assert inspect.signature(bn.layernorm_forward).parameters["eps"].default == 1e-5
    assert list(inspect.signature(bn.layernorm_backward).parameters) == ["dout", "cache"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_device_and_dtype_kept(dtype):
    dev = torch.device("cuda")
    g = _gen(9)
    x = _batch(g, (4, 3, 2, 2), dtype).to(dev)
    gamma, beta = (t.to(dev) for t in _params(g, 3, dtype))
    rm, rv = torch.zeros(3, dtype=dtype, device=dev), torch.ones(3, dtype=dtype, device=dev)
    out, cache = bn.batchnorm_forward(x, gamma, beta, rm, rv)
    dx, dg, db = bn.batchnorm_backward(torch.ones_like(x), cache)
    for t in (out, dx, dg, db, rm, rv):
        assert t.device.type == "cuda" and t.dtype == dtype
    ref = F.batch_norm(x.cpu(), torch.zeros(3, dtype=dtype), torch.ones(3, dtype=dtype),
                       gamma.cpu(), beta.cpu(), training=True)
    _close(out.cpu(), ref, dtype)
    out, cache = bn.layernorm_forward(x, gamma.new_ones(2), beta.new_zeros(2))
    dx, dg, db = bn.layernorm_backward(torch.ones_like(x), cache)
    for t in (out, dx, dg, db):
        assert t.device.type == "cuda" and t.dtype == dtype
