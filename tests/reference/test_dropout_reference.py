"""Proof tests: reference/dropout.py behaves as torch.nn.functional.dropout, and the hidden
suite's statistical checks accept torch's own dropout and Gaussian noise while rejecting
the mistakes they are built for.

Dropout is random, so "as torch" means: the same distribution of masks (p is the drop
probability, one independent draw per element), the same values given a mask (survivors
x / (1 - p), the rest 0), the same gradient given a mask (torch autograd through
F.dropout), the identity in evaluation and at p = 0 (x itself, as torch returns), and
zeros at p = 1.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import math
import types
import zlib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from grader.checks import Checker, GradeFailure
from grader.harness_dropout import binomial_interval, chi2_mean_interval, gaussian_z
from grader.harness_rng import run_sequence
from reference import dropout as D

DTYPES = [torch.float32, torch.float64]
SHAPES = [(500,), (20, 30), (4, 10, 15), (2, 3, 8, 9)]
ROOT = Path(__file__).resolve().parents[2]


def _load_suite() -> types.ModuleType:
    """The hidden suite as a plain module, to run its check helpers on known outputs."""
    path = ROOT / "reference" / "suites" / "test_dropout.py"
    spec = importlib.util.spec_from_file_location("_dropout_suite_under_proof", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SUITE = _load_suite()
REF = types.SimpleNamespace(dropout=D)  # what the suite's `reference` fixture provides


def _seed(*parts) -> int:
    return zlib.crc32(repr(parts).encode())


def _gen(*parts) -> torch.Generator:
    return torch.Generator().manual_seed(_seed(*parts))


def _x(shape, dtype, *parts) -> torch.Tensor:
    """Never-zero inputs, as in the suite, so out != 0 marks the kept elements."""
    return SUITE._x(_gen("x", shape, str(dtype), *parts), shape, dtype)


def _accepts(fn, *args) -> bool:
    try:
        fn(Checker(), *args)
    except GradeFailure:
        return False
    return True


def _unchanged(*tensors):
    return [t.clone() for t in tensors]


# ------------------------------------------------------------------- as torch, given a mask

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8, 1 / 3])
@pytest.mark.parametrize("shape", SHAPES)
def test_values_and_gradient_match_torch_for_its_mask(dtype, p, shape):
    x = _x(shape, dtype, p).requires_grad_(True)
    torch.manual_seed(_seed("torch", shape, str(dtype), p))
    out_t = F.dropout(x, p, training=True)
    dout = _x(shape, dtype, "dout", p)
    out_t.backward(dout)
    keep = (out_t != 0).detach()
    cache = (keep, p)
    xd = x.detach()
    # forward: the reference's scaling of torch's mask reproduces torch's output
    torch.testing.assert_close(D._scale_kept(xd, keep, p), out_t.detach(), rtol=2e-7 if dtype == torch.float32
                               else 1e-15, atol=0)
    # backward: dropout_backward with that mask is torch autograd's gradient
    dx = D.dropout_backward(dout, cache)
    assert dx.dtype == dtype and dx.shape == x.shape
    torch.testing.assert_close(dx, x.grad, rtol=2e-7 if dtype == torch.float32 else 1e-15, atol=0)
    # and the suite's scaling check accepts torch's output
    assert _accepts(SUITE._scaling_check, REF, out_t.detach(), xd, p)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.2, 0.5, 0.7])
def test_reference_and_torch_share_the_mask_distribution(dtype, p):
    shape = (100, 200)
    x = _x(shape, dtype, p)
    torch.manual_seed(_seed("dist", str(dtype), p))
    out_t = F.dropout(x, p, training=True)
    out_r = D.dropout(x, p, training=True, generator=_gen("ref", str(dtype), p))
    lo, hi = binomial_interval(x.numel(), p, 1e-7)
    for out in (out_t, out_r):
        assert lo <= int((out == 0).sum()) <= hi
        assert _accepts(SUITE._zero_fraction_check, out, p, "dropout")
        assert _accepts(SUITE._independence_checks, out, p, "dropout")
    assert _accepts(SUITE._scaling_check, REF, out_r, x, p)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_survivors_are_x_over_keep_probability(dtype, shape):
    p = 0.3
    x = _x(shape, dtype)
    out, cache = D.dropout_forward(x, p, True, generator=_gen("fwd", shape, str(dtype)))
    assert out.shape == x.shape and out.dtype == dtype
    keep = out != 0
    assert torch.equal(keep, cache[0])
    tol = dict(rtol=2e-7, atol=0) if dtype == torch.float32 else dict(rtol=1e-15, atol=0)
    torch.testing.assert_close(out[keep], (x.double()[keep] / (1 - p)).to(dtype), **tol)
    assert bool((out[~keep] == 0).all())


# ------------------------------------------------------------------- modes and edges

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.0, 0, 0.5, 1.0])
def test_identity_in_eval_and_at_p0_is_x_itself_as_torch(dtype, p):
    x = _x((6, 7), dtype, p)
    before = _unchanged(x)[0]
    assert F.dropout(x, p, training=False) is x
    assert D.dropout(x, p, training=False) is x
    out, cache = D.dropout_forward(x, p, False)
    assert out is x
    dout = _x((6, 7), dtype, "dout")
    assert torch.equal(D.dropout_backward(dout, cache), dout)
    if p == 0:
        assert F.dropout(x, p, training=True) is x
        assert D.dropout(x, p, training=True) is x
        out, cache = D.dropout_forward(x, p, True)
        assert torch.equal(D.dropout_backward(dout, cache), dout)
    assert torch.equal(x, before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1.0, 1])
def test_p1_gives_zeros_as_torch(dtype, p):
    x = _x((5, 6, 4), dtype) * 1e3
    out_t = F.dropout(x, p, training=True)
    out, cache = D.dropout_forward(x, p, True, generator=_gen("p1", str(dtype)))
    assert torch.equal(out, out_t) and torch.equal(out, torch.zeros_like(x))  # -0 == 0
    assert bool(torch.isfinite(out).all())
    dx = D.dropout_backward(_x((5, 6, 4), dtype, "dout"), cache)
    assert torch.equal(dx, torch.zeros_like(x))
    assert D.dropout(x, p, training=True).dtype == dtype


@pytest.mark.parametrize("fn", ["dropout", "dropout_forward"])
@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), -1e-12, 1 + 1e-12])
@pytest.mark.parametrize("training", [True, False])
def test_invalid_p_raises_value_error_naming_p(fn, p, training):
    x = torch.randn(3, 4)
    with pytest.raises(ValueError, match=SUITE.P_NAME):
        getattr(D, fn)(x, p, training=training)
    with pytest.raises((ValueError, RuntimeError)):  # torch refuses it too
        F.dropout(x, p, training=training)


def test_other_bad_arguments():
    x = torch.randn(3, 4)
    for bad in ("0.5", None, True):
        with pytest.raises(ValueError, match=r"\bp\b"):
            D.dropout(x, bad)
    for std in (-0.5, float("nan"), float("inf"), "1"):
        with pytest.raises(ValueError, match=r"\bstd\b"):
            D.gaussian_noise(x, std)
    with pytest.raises(ValueError, match="x"):
        D.dropout(torch.arange(6), 0.5)
    with pytest.raises(ValueError, match="generator"):
        D.dropout(x, 0.5, generator=1234)
    _, cache = D.dropout_forward(x, 0.5, True)
    with pytest.raises(ValueError, match="dout"):
        D.dropout_backward(torch.randn(4, 3), cache)


# ------------------------------------------------------------------- randomness

@pytest.mark.parametrize("name", ["dropout", "dropout_forward", "gaussian_noise"])
def test_draws_only_from_the_generator(name):
    x = _x((40, 50), torch.float32, name)
    fn = getattr(D, name)
    arg = 0.7 if name == "gaussian_noise" else 0.5

    def first(r):
        return r[0] if isinstance(r, tuple) else r

    a = first(fn(x, arg, training=True, generator=torch.Generator().manual_seed(3)))
    b = first(fn(x, arg, training=True, generator=torch.Generator().manual_seed(3)))
    c = first(fn(x, arg, training=True, generator=torch.Generator().manual_seed(4)))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # with a generator: the same output under any global seed, and the global generator untouched
    def call():  # a fresh generator each time, as the grader sends one over the wire per call
        return [fn, [x, arg], {"training": True, "generator": torch.Generator().manual_seed(5)}]

    probe = [D.dropout, [x, 0.5], {"training": True}]
    assert torch.equal(first(run_sequence([call()], 1)[0]), first(run_sequence([call()], 2)[0]))
    assert torch.equal(run_sequence([call(), probe], 7)[1], run_sequence([probe], 7)[0])
    # generator=None: the global generator, reproducible under torch.manual_seed
    torch.manual_seed(11)
    d = first(fn(x, arg, training=True))
    torch.manual_seed(11)
    e = first(fn(x, arg, training=True))
    assert torch.equal(d, e)
    # and the same comparison sees a call that draws globally
    global_call = [fn, [x, arg], {"training": True}]
    assert not torch.equal(run_sequence([global_call, probe], 7)[1], run_sequence([probe], 7)[0])


def test_backward_draws_nothing():
    x = _x((30, 40), torch.float32)
    _, cache = D.dropout_forward(x, 0.5, True, generator=torch.Generator().manual_seed(1))
    call = [D.dropout_backward, [torch.ones(30, 40), cache], {}]
    probe = [D.dropout, [x, 0.5], {"training": True}]
    assert torch.equal(run_sequence([call, probe], 3)[1], run_sequence([probe], 3)[0])


# ------------------------------------------------------------------- gaussian noise

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("std", [0.3, 2.5])
@pytest.mark.parametrize("shape", SHAPES)
def test_gaussian_noise_is_x_plus_std_times_standard_normal(dtype, std, shape):
    x = _x(shape, dtype, std)
    before = x.clone()
    out = D.gaussian_noise(x, std, training=True, generator=torch.Generator().manual_seed(8))
    eps = torch.randn(shape, generator=torch.Generator().manual_seed(8), dtype=dtype)
    assert out.dtype == dtype and out.shape == x.shape
    assert torch.equal(out, x + std * eps)
    assert torch.equal(x, before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("std", [0.3, 1.7, 2.5])
def test_suite_noise_checks_accept_torch_normal_noise(dtype, std):
    # torch's own N(0, std^2) sampler (torch.normal), independent of the reference
    x = _x((100, 200), dtype, std)
    noise = torch.normal(0.0, std, size=x.shape, generator=_gen("normal", str(dtype), std), dtype=dtype)
    out = x + noise
    assert _accepts(SUITE._noise_checks, out.double() - x.double(), std, "noise")
    ref = D.gaussian_noise(x, std, training=True, generator=_gen("gn", str(dtype), std))
    assert _accepts(SUITE._noise_checks, ref.double() - x.double(), std, "noise")


@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_noise_identity(dtype):
    x = _x((8, 9), dtype)
    assert D.gaussian_noise(x, 0.5, training=False) is x
    assert torch.equal(D.gaussian_noise(x, 0.0, training=True), x)
    assert torch.equal(D.gaussian_noise(x, 0, training=True), x)


# ------------------------------------------------------------------- the suite's checks have power

def test_statistical_checks_reject_the_mistakes_they_target():
    g = torch.Generator().manual_seed(0)
    shape = (300, 80)
    x = _x(shape, torch.float64, "power")
    # keep probability p instead of 1 - p
    out = D.dropout(x, 0.8, generator=g)
    assert not _accepts(SUITE._zero_fraction_check, out, 0.2, "dropout")
    # one mask shared by the batch, and whole rows dropped
    shared = torch.where(torch.rand(1, 80, generator=g) >= 0.5, x * 2, 0.0)
    rows = torch.where(torch.rand(300, 1, generator=g) >= 0.5, x * 2, 0.0)
    assert not _accepts(SUITE._independence_checks, shared, 0.5, "dropout")
    assert not _accepts(SUITE._independence_checks, rows, 0.5, "dropout")
    planes = torch.where(torch.rand(64, 4, 1, 1, generator=g) >= 0.5, 1.0, 0.0).expand(64, 4, 8, 8)
    assert not _accepts(SUITE._independence_checks, planes, 0.5, "dropout")
    pairs = (torch.rand(300, 40, 1, generator=g) >= 0.5).double().expand(300, 40, 2).reshape(300, 80)
    assert not _accepts(SUITE._independence_checks, pairs, 0.5, "dropout")
    # wrong scales
    out = D.dropout(x, 0.4, generator=g)
    assert not _accepts(SUITE._scaling_check, REF, out * 0.6 * 0.6, x, 0.4)
    # gaussian: sqrt(std), std**2, uniform noise
    z = torch.randn(20000, generator=g, dtype=torch.float64)
    u = (torch.rand(20000, generator=g, dtype=torch.float64) - 0.5) * 12 ** 0.5
    assert _accepts(SUITE._noise_checks, 0.3 * z, 0.3, "noise")
    assert not _accepts(SUITE._noise_checks, 0.3 ** 0.5 * z, 0.3, "noise")
    assert not _accepts(SUITE._noise_checks, 0.09 * z, 0.3, "noise")
    assert not _accepts(SUITE._noise_checks, 0.3 * u, 0.3, "noise")
    assert not _accepts(SUITE._noise_checks, 0.3 * z + 0.05, 0.3, "noise")


# ------------------------------------------------------------------- the bounds themselves

@pytest.mark.parametrize("n,q,delta", [(20000, 0.5, 1e-7), (80, 0.2, 1e-10), (300, 0.5, 1e-9),
                                       (12000, 0.04, 1e-7), (64, 0.25, 3e-10), (20000, 0.0455, 1e-7)])
def test_binomial_interval_is_exact(n, q, delta):
    lo, hi = binomial_interval(n, q, delta)
    dist = torch.distributions.Binomial(n, torch.tensor(q, dtype=torch.float64))
    k = torch.arange(n + 1, dtype=torch.float64)
    pmf = dist.log_prob(k).exp()
    below, above = float(pmf[:lo].sum()), float(pmf[hi + 1:].sum())
    assert below <= delta / 2 and above <= delta / 2
    # and tight: one more value on either side would exceed delta / 2
    if lo > 0:
        assert float(pmf[:lo + 1].sum()) > delta / 2
    if hi < n:
        assert float(pmf[hi:].sum()) > delta / 2


@pytest.mark.parametrize("k", [200, 20000, 40000])
def test_chi2_interval_holds(k):
    delta = 1e-7
    lo, hi = chi2_mean_interval(k, delta)
    a = torch.tensor(k / 2, dtype=torch.float64)
    below = float(torch.special.gammainc(a, torch.tensor(k * lo / 2, dtype=torch.float64)))
    above = float(torch.special.gammaincc(a, torch.tensor(k * hi / 2, dtype=torch.float64)))
    assert below <= delta / 2 and above <= delta / 2


def test_gaussian_z():
    for delta in (1e-3, 1e-7):
        assert math.erfc(gaussian_z(delta) / math.sqrt(2)) == pytest.approx(delta, rel=1e-6)


# ------------------------------------------------------------------- hygiene

def test_inputs_never_mutated():
    x = _x((12, 10), torch.float32)
    dout = _x((12, 10), torch.float32, "dout")
    bx, bd = x.clone(), dout.clone()
    D.dropout(x, 0.5)
    _, cache = D.dropout_forward(x, 0.5, True)
    D.dropout_backward(dout, cache)
    D.gaussian_noise(x, 0.7)
    assert torch.equal(x, bx) and torch.equal(dout, bd)


BANNED_ATTRS = {"softmax", "log_softmax", "sigmoid", "logsumexp", "relu", "dropout", "batch_norm",
                "layer_norm", "expit", "backward", "nn", "optim", "func", "_C", "autograd", "bernoulli_",
                "alpha_dropout", "feature_dropout"}


def test_reference_uses_no_banned_api():
    tree = ast.parse(inspect.getsource(D))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            assert node.attr not in BANNED_ATTRS, f"banned attribute .{node.attr}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names])
            for n in names:
                assert n.split(".")[0] in {"__future__", "math", "numbers", "torch"}, n
                assert not n.startswith(("torch.nn", "torch.optim", "torch.func", "torch._C", "torch.autograd")), n


def test_public_api():
    assert D.__all__ == ["dropout", "dropout_forward", "dropout_backward", "gaussian_noise"]
    for name in D.__all__:
        assert getattr(D, name).__doc__
    assert list(inspect.signature(D.dropout).parameters) == ["x", "p", "training", "generator"]
    assert inspect.signature(D.dropout).parameters["p"].default == 0.5
    assert list(inspect.signature(D.dropout_forward).parameters) == ["x", "p", "training", "generator"]
    assert list(inspect.signature(D.dropout_backward).parameters) == ["dout", "cache"]
    assert list(inspect.signature(D.gaussian_noise).parameters) == ["x", "std", "training", "generator"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_device_dtype_and_generator(dtype):
    dev = torch.device("cuda")
    x = _x((64, 4, 8, 8), dtype).to(dev)
    g = torch.Generator(device=dev).manual_seed(2)
    out, cache = D.dropout_forward(x, 0.5, True, generator=g)
    assert out.device.type == "cuda" and out.dtype == dtype
    assert _accepts(SUITE._independence_checks, out, 0.5, "dropout")
    dx = D.dropout_backward(torch.ones_like(x), cache)
    assert torch.equal(dx != 0, out != 0)
    call = [D.dropout, [x, 0.5], {"generator": torch.Generator(device=dev).manual_seed(3)}]
    probe = [D.dropout, [x, 0.5], {}]
    assert torch.equal(run_sequence([call, probe], 3)[1], run_sequence([probe], 3)[0])
    noise = D.gaussian_noise(x, 0.5, generator=torch.Generator(device=dev).manual_seed(4))
    assert noise.device.type == "cuda" and noise.dtype == dtype
