"""Proof tests: reference/activations.py agrees with PyTorch, values and autograd derivatives."""

from __future__ import annotations

import ast
import inspect
import math
import zlib

import pytest
import torch
import torch.nn.functional as F

from reference import activations as A

DTYPES = [torch.float32, torch.float64]
TOL = {
    torch.float32: dict(rtol=1e-5, atol=1e-6),
    torch.float64: dict(rtol=1e-10, atol=1e-12),
}
SHAPES = [(), (1,), (9,), (4, 5), (2, 3, 4), (2, 1, 3, 2)]
KINKS = [0.0, -0.0]
LARGE = [1e4, -1e4, 9999.5, -9999.5, 1e3, -1e3, 710.0, -710.0, 100.0, -100.0, 89.0, -89.0,
         40.0, -40.0, 20.0, -20.0, 5.0, -5.0, 1e-30, -1e-30, 0.0, -0.0]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _seed(*parts) -> int:
    """Deterministic seed from the test parameters (str hashes are salted per process)."""
    return zlib.crc32(repr(parts).encode())


def _close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype, **override) -> None:
    assert isinstance(actual, torch.Tensor)
    assert actual.dtype == dtype, f"dtype {actual.dtype} != {dtype}"
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    tol = dict(TOL[dtype])
    tol.update(override)
    torch.testing.assert_close(actual, expected.to(dtype), equal_nan=True, **tol)


def _call_unmutated(fn, x, **kwargs):
    """Call fn(x, **kwargs) and assert that x was not modified."""
    before = x.clone()
    out = fn(x, **kwargs)
    torch.testing.assert_close(x, before, rtol=0, atol=0, equal_nan=True)
    assert out is not x
    return out


def _inputs(shape, dtype, seed, scale=3.0):
    """Random values, a few exact zeros (kinks) among them when there is room."""
    x = torch.randn(shape, generator=_gen(seed), dtype=torch.float64) * scale
    flat = x.view(-1)
    if flat.numel() >= 4:
        flat[::4] = 0.0
    return x.to(dtype)


# torch counterparts of every forward function, with the reference's keyword names
FORWARD = {
    "sigmoid": (A.sigmoid, lambda x: torch.sigmoid(x), {}),
    "tanh": (A.tanh, lambda x: torch.tanh(x), {}),
    "relu": (A.relu, lambda x: torch.relu(x), {}),
    "leaky_relu": (A.leaky_relu, lambda x, negative_slope=0.01: F.leaky_relu(x, negative_slope), {}),
    "leaky_relu-0.2": (A.leaky_relu, lambda x, negative_slope: F.leaky_relu(x, negative_slope),
                       dict(negative_slope=0.2)),
    "gelu": (A.gelu, lambda x: F.gelu(x), {}),
    "gelu-none": (A.gelu, lambda x, approximate: F.gelu(x, approximate=approximate),
                  dict(approximate="none")),
    "gelu-tanh": (A.gelu, lambda x, approximate: F.gelu(x, approximate=approximate),
                  dict(approximate="tanh")),
}


def _torch_derivative(name: str, x: torch.Tensor, **kwargs) -> torch.Tensor:
    """d f(x_i) / d x_i by torch autograd (the functions are elementwise)."""
    xr = x.detach().clone().requires_grad_(True)
    if name == "sigmoid":
        y = torch.sigmoid(xr)
    elif name == "tanh":
        y = torch.tanh(xr)
    elif name == "relu":
        y = torch.relu(xr)
    elif name == "leaky_relu":
        y = F.leaky_relu(xr, kwargs.get("negative_slope", 0.01))
    elif name == "gelu":
        y = F.gelu(xr, approximate=kwargs.get("approximate", "none"))
    else:
        raise AssertionError(name)
    (g,) = torch.autograd.grad(y, xr, torch.ones_like(y))
    return g


GRADS = [
    ("sigmoid", A.sigmoid_grad, {}),
    ("tanh", A.tanh_grad, {}),
    ("relu", A.relu_grad, {}),
    ("leaky_relu", A.leaky_relu_grad, {}),
    ("leaky_relu", A.leaky_relu_grad, dict(negative_slope=0.2)),
    ("leaky_relu", A.leaky_relu_grad, dict(negative_slope=0.0)),
    ("gelu", A.gelu_grad, {}),
    ("gelu", A.gelu_grad, dict(approximate="none")),
    ("gelu", A.gelu_grad, dict(approximate="tanh")),
]
GRAD_IDS = [name + "".join(f"-{v}" for v in kw.values()) for name, _, kw in GRADS]


# --------------------------------------------------------------------------- forward values

@pytest.mark.parametrize("case", list(FORWARD))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_elementwise_matches_torch(case, dtype, shape):
    ours, theirs, kwargs = FORWARD[case]
    for scale in (0.5, 3.0, 30.0):
        x = _inputs(shape, dtype, _seed(case, str(dtype), shape, scale), scale)
        out = _call_unmutated(ours, x, **kwargs)
        _close(out, theirs(x, **kwargs), dtype)


@pytest.mark.parametrize("case", list(FORWARD))
@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_large_inputs(case, dtype):
    ours, theirs, kwargs = FORWARD[case]
    x = torch.tensor(LARGE, dtype=dtype)
    out = _call_unmutated(ours, x, **kwargs)
    assert torch.isfinite(out).all(), f"{case}: not finite at {x[~torch.isfinite(out)].tolist()}"
    _close(out, theirs(x, **kwargs), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_closed_forms(dtype):
    z = torch.tensor([0.0, -0.0], dtype=dtype)
    assert A.sigmoid(z).tolist() == [0.5, 0.5]
    assert A.tanh(z).tolist() == [0.0, 0.0]
    assert A.relu(z).tolist() == [0.0, 0.0]
    assert A.leaky_relu(z, negative_slope=0.3).tolist() == [0.0, 0.0]
    assert A.gelu(z).tolist() == [0.0, 0.0] and A.gelu(z, approximate="tanh").tolist() == [0.0, 0.0]
    big = torch.tensor([1e4, -1e4], dtype=dtype)
    assert A.sigmoid(big).tolist() == [1.0, 0.0]
    assert A.tanh(big).tolist() == [1.0, -1.0]
    assert A.gelu(big).tolist() == [1e4, 0.0]
    assert A.gelu(big, approximate="tanh").tolist() == [1e4, 0.0]
    x = torch.tensor([-2.0, -0.5, 3.0], dtype=dtype)
    assert A.relu(x).tolist() == [0.0, 0.0, 3.0]
    assert A.leaky_relu(x).tolist() == pytest.approx([-0.02, -0.005, 3.0], rel=1e-6)
    assert A.leaky_relu(x, negative_slope=0.2).tolist() == pytest.approx([-0.4, -0.1, 3.0], rel=1e-6)
    # s(x) + s(-x) = 1 and tanh is odd
    r = torch.randn(50, generator=_gen(3), dtype=dtype) * 4
    torch.testing.assert_close(A.sigmoid(r) + A.sigmoid(-r), torch.ones_like(r), **TOL[dtype])
    torch.testing.assert_close(A.tanh(-r), -A.tanh(r), rtol=0, atol=0)
    # gelu(1) exactly, from the normal CDF
    one = torch.tensor([1.0], dtype=dtype)
    assert A.gelu(one).item() == pytest.approx(0.5 * (1 + math.erf(1 / math.sqrt(2))), rel=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_exact_and_tanh_differ(dtype):
    x = torch.linspace(-6, 6, 241, dtype=dtype)
    exact, approx = A.gelu(x), A.gelu(x, approximate="tanh")
    gap = (exact - approx).abs().max().item()
    assert 3e-4 < gap < 6e-4, gap  # far above float32 tolerance, so tests can tell them apart
    gexact, gapprox = A.gelu_grad(x), A.gelu_grad(x, approximate="tanh")
    assert (gexact - gapprox).abs().max().item() > 5e-4


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2, 1.0, 1.5, -0.5, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_leaky_relu_any_slope_as_torch(slope, dtype):
    x = _inputs((5, 6), dtype, _seed("slope", slope, str(dtype)))
    _close(_call_unmutated(A.leaky_relu, x, negative_slope=slope), F.leaky_relu(x, slope), dtype)
    _close(_call_unmutated(A.leaky_relu_grad, x, negative_slope=slope),
           _torch_derivative("leaky_relu", x, negative_slope=slope), dtype)


def test_nan_propagates_as_torch():
    x = torch.tensor([float("nan"), 1.0, -1.0, 0.0])
    for case, (ours, theirs, kwargs) in FORWARD.items():
        torch.testing.assert_close(ours(x, **kwargs), theirs(x, **kwargs), equal_nan=True, rtol=1e-5,
                                   atol=1e-6, msg=case)


# --------------------------------------------------------------------------- softmax

def _all_dims(ndim: int) -> list[int]:
    n = max(ndim, 1)
    return list(range(-n, n))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_every_dim(name, dtype, shape):
    ours, theirs = getattr(A, name), getattr(torch, name)
    for scale in (1.0, 10.0):
        x = (torch.randn(shape, generator=_gen(_seed(name, str(dtype), shape, scale)), dtype=torch.float64)
             * scale).to(dtype)
        for dim in _all_dims(x.dim()):
            out = _call_unmutated(ours, x, dim=dim)
            _close(out, theirs(x, dim=dim), dtype)
        _close(ours(x), theirs(x, dim=-1), dtype)  # the default is the last dim


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1e2, 1e3, 1e4])
def test_softmax_large_logits(dtype, scale):
    g = _gen(_seed("large", str(dtype), scale))
    x = (torch.randn(3, 4, 5, generator=g, dtype=torch.float64) * scale).to(dtype)
    x[0, 0] = torch.tensor([scale, -scale, 0.0, scale, -scale], dtype=dtype)  # a tie at the max
    x[1] += 2 * scale  # slices at very different offsets
    x[2] -= 2 * scale
    for dim in (-1, 0, 1, 2):
        p = _call_unmutated(A.softmax, x, dim=dim)
        lp = _call_unmutated(A.log_softmax, x, dim=dim)
        assert torch.isfinite(p).all() and torch.isfinite(lp).all()
        _close(p, torch.softmax(x, dim=dim), dtype)
        # log-probabilities as large as 4e4: float32 rounding of x - max is relative to |x|
        _close(lp, torch.log_softmax(x, dim=dim), dtype, atol=TOL[dtype]["atol"] * 3 * scale)
        torch.testing.assert_close(p.sum(dim=dim), torch.ones_like(p.sum(dim=dim)), **TOL[dtype])
    # the tie at the max splits the mass equally; the log is exactly -log 2
    p = A.softmax(x[0, 0])
    assert p[0].item() == pytest.approx(0.5, rel=1e-6) and p[3].item() == pytest.approx(0.5, rel=1e-6)
    assert A.log_softmax(x[0, 0])[0].item() == pytest.approx(-math.log(2), rel=1e-6)
    # a gap of 2 * scale: log-probability exactly -2 * scale, probability underflows to 0
    lp = A.log_softmax(torch.tensor([scale, -scale], dtype=dtype))
    assert lp[1].item() == pytest.approx(-2 * scale, rel=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_infinities_as_torch(dtype):
    cases = [
        [float("-inf"), 1.0, 2.0],  # a masked entry gets probability 0
        [float("-inf"), float("-inf"), 0.5],
        [float("-inf")] * 3,  # nothing left: nan, as torch
        [float("inf"), 1.0, 2.0],  # nan, as torch
    ]
    for row in cases:
        x = torch.tensor(row, dtype=dtype)
        for name in ("softmax", "log_softmax"):
            torch.testing.assert_close(getattr(A, name)(x), getattr(torch, name)(x, dim=-1),
                                       equal_nan=True, **TOL[dtype])


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 4), (2, 0, 3)])
def test_softmax_empty_as_torch(shape):
    x = torch.empty(shape)
    for name in ("softmax", "log_softmax"):
        for dim in _all_dims(x.dim()):
            out = getattr(A, name)(x, dim=dim)
            assert out.shape == getattr(torch, name)(x, dim=dim).shape and out.dtype == x.dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_identities(dtype):
    x = torch.randn(6, 7, generator=_gen(5), dtype=dtype) * 3
    for dim in (0, 1):
        p, lp = A.softmax(x, dim=dim), A.log_softmax(x, dim=dim)
        _close(torch.exp(lp), p, dtype)
        # shift invariance: adding a constant per slice changes nothing
        shift = torch.randn(p.sum(dim=dim, keepdim=True).shape, generator=_gen(6), dtype=dtype) * 50
        _close(A.softmax(x + shift, dim=dim), p, dtype, atol=1e-5 if dtype == torch.float32 else 1e-12)


# --------------------------------------------------------------------------- derivatives

@pytest.mark.parametrize("name,fn,kwargs", GRADS, ids=GRAD_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_derivatives_match_autograd(name, fn, kwargs, dtype):
    for shape in SHAPES:
        for scale in (0.5, 3.0, 30.0):
            x = _inputs(shape, dtype, _seed("grad", name, str(kwargs), str(dtype), shape, scale), scale)
            out = _call_unmutated(fn, x, **kwargs)
            _close(out, _torch_derivative(name, x, **kwargs), dtype)


@pytest.mark.parametrize("name,fn,kwargs", GRADS, ids=GRAD_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_derivatives_large_inputs(name, fn, kwargs, dtype):
    x = torch.tensor(LARGE, dtype=dtype)
    out = _call_unmutated(fn, x, **kwargs)
    assert torch.isfinite(out).all()
    _close(out, _torch_derivative(name, x, **kwargs), dtype)


@pytest.mark.parametrize("name,fn,kwargs", GRADS, ids=GRAD_IDS)
def test_derivatives_match_central_differences(name, fn, kwargs):
    # an independent check in float64, away from the kinks
    x = torch.randn(40, generator=_gen(_seed("fd", name, str(kwargs))), dtype=torch.float64) * 3
    x = x[x.abs() > 1e-3]
    f = {"sigmoid": A.sigmoid, "tanh": A.tanh, "relu": A.relu, "leaky_relu": A.leaky_relu,
         "gelu": A.gelu}[name]
    h = 1e-6
    fd = (f(x + h, **kwargs) - f(x - h, **kwargs)) / (2 * h)
    torch.testing.assert_close(fn(x, **kwargs), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_derivatives_at_the_kinks(dtype):
    z = torch.tensor([0.0, -0.0, 1e-30, -1e-30], dtype=dtype)
    # exact values, as torch autograd
    assert A.relu_grad(z).tolist() == [0.0, 0.0, 1.0, 0.0]
    assert A.relu_grad(z).tolist() == _torch_derivative("relu", z).tolist()
    for slope in (0.01, 0.2, 0.0):
        expected = [slope, slope, 1.0, slope]
        assert A.leaky_relu_grad(z, negative_slope=slope).tolist() == pytest.approx(expected, rel=1e-6)
        assert A.leaky_relu_grad(z, negative_slope=slope).tolist() == \
            _torch_derivative("leaky_relu", z, negative_slope=slope).tolist()
    assert A.leaky_relu_grad(z)[0].item() == torch.tensor(0.01, dtype=dtype).item()
    zero = torch.zeros(1, dtype=dtype)
    assert A.sigmoid_grad(zero).item() == 0.25
    assert A.tanh_grad(zero).item() == 1.0
    assert A.gelu_grad(zero).item() == 0.5
    assert A.gelu_grad(zero, approximate="tanh").item() == 0.5


@pytest.mark.parametrize("fn", [A.relu_grad, A.leaky_relu_grad, A.sigmoid_grad, A.tanh_grad,
                                A.gelu_grad])
def test_derivatives_keep_dtype(fn):
    for dtype in DTYPES:
        x = torch.tensor([[-1.0, 0.0], [2.0, 3.0]], dtype=dtype)
        out = fn(x)
        assert out.dtype == dtype and out.shape == x.shape


# --------------------------------------------------------------------------- errors

X = torch.randn(3, 4)
ALL_FUNCTIONS = [A.sigmoid, A.tanh, A.relu, A.leaky_relu, A.gelu, A.softmax, A.log_softmax,
                 A.sigmoid_grad, A.tanh_grad, A.relu_grad, A.leaky_relu_grad, A.gelu_grad]

ERROR_CASES = [
    ("gelu", dict(approximate="exact"), "approximate"),
    ("gelu", dict(approximate="Tanh"), "approximate"),
    ("gelu", dict(approximate=None), "approximate"),
    ("gelu_grad", dict(approximate="erf"), "approximate"),
    ("softmax", dict(dim=2), "dim"),
    ("softmax", dict(dim=-3), "dim"),
    ("softmax", dict(dim=1.0), "dim"),
    ("softmax", dict(dim=None), "dim"),
    ("log_softmax", dict(dim=2), "dim"),
    ("log_softmax", dict(dim=-3), "dim"),
    ("leaky_relu", dict(negative_slope="0.1"), "negative_slope"),
    ("leaky_relu", dict(negative_slope=None), "negative_slope"),
    ("leaky_relu", dict(negative_slope=True), "negative_slope"),
    ("leaky_relu_grad", dict(negative_slope="0.1"), "negative_slope"),
]


@pytest.mark.parametrize("name,kwargs,argname", ERROR_CASES,
                         ids=[f"{c[0]}-{i}-{c[2]}" for i, c in enumerate(ERROR_CASES)])
def test_value_errors_name_the_argument(name, kwargs, argname):
    with pytest.raises(ValueError, match=rf"\b{argname}\b"):
        getattr(A, name)(X, **kwargs)


@pytest.mark.parametrize("fn", ALL_FUNCTIONS, ids=lambda f: f.__name__)
def test_bad_x(fn):
    for bad in (torch.tensor([1, 2, 3]), [1.0, 2.0], 1.5, torch.tensor([True])):
        with pytest.raises(ValueError, match=r"\bx\b"):
            fn(bad)


def test_zero_dim_dims_as_torch():
    x = torch.tensor(2.5)
    for dim in (0, -1):
        assert A.softmax(x, dim=dim).item() == 1.0 and A.log_softmax(x, dim=dim).item() == 0.0
    for dim in (1, -2):
        with pytest.raises(ValueError, match="dim"):
            A.softmax(x, dim=dim)


def test_slope_as_tensor_like_torch():
    x = torch.tensor([-2.0, 0.0, 3.0])
    _close(A.leaky_relu(x, negative_slope=torch.tensor(0.5)), F.leaky_relu(x, 0.5), torch.float32)


# --------------------------------------------------------------------------- misc

BANNED_ATTRS = {"softmax", "log_softmax", "sigmoid", "logsumexp", "relu", "dropout",
                "batch_norm", "layer_norm", "expit", "backward", "nn", "optim", "func",
                "_C", "autograd", "log_sigmoid", "logsigmoid", "gelu", "leaky_relu", "tanh"}


def test_reference_uses_no_banned_api():
    tree = ast.parse(inspect.getsource(A))
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


def test_public_api():
    assert set(A.__all__) == {
        "sigmoid", "tanh", "relu", "leaky_relu", "gelu", "softmax", "log_softmax",
        "sigmoid_grad", "tanh_grad", "relu_grad", "leaky_relu_grad", "gelu_grad"}
    for name in A.__all__:
        assert callable(getattr(A, name)) and getattr(A, name).__doc__
        assert list(inspect.signature(getattr(A, name)).parameters)[0] == "x"
    assert inspect.signature(A.leaky_relu).parameters["negative_slope"].default == 0.01
    assert inspect.signature(A.leaky_relu_grad).parameters["negative_slope"].default == 0.01
    assert inspect.signature(A.gelu).parameters["approximate"].default == "none"
    assert inspect.signature(A.gelu_grad).parameters["approximate"].default == "none"
    assert inspect.signature(A.softmax).parameters["dim"].default == -1
    assert inspect.signature(A.log_softmax).parameters["dim"].default == -1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_device_and_dtype_kept(dtype):
    dev = torch.device("cuda")
    x = torch.tensor(LARGE, dtype=dtype).reshape(2, -1)
    for case, (ours, theirs, kwargs) in FORWARD.items():
        out = ours(x.to(dev), **kwargs)
        assert out.device.type == "cuda" and out.dtype == dtype, case
        _close(out.cpu(), theirs(x, **kwargs), dtype)
    for name in ("softmax", "log_softmax"):
        for dim in (0, 1):
            out = getattr(A, name)(x.to(dev) / 1e3, dim=dim)
            assert out.device.type == "cuda" and out.dtype == dtype
            _close(out.cpu(), getattr(torch, name)(x / 1e3, dim=dim), dtype)
    for name, fn, kwargs in GRADS:
        out = fn(x.to(dev), **kwargs)
        assert out.device.type == "cuda" and out.dtype == dtype
        _close(out.cpu(), _torch_derivative(name, x, **kwargs), dtype)
