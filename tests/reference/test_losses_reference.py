"""Proof tests: reference/losses.py agrees with torch.nn.functional / torch.distributions."""

from __future__ import annotations

import ast
import inspect
import math
import zlib

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Categorical

from reference import losses

DTYPES = [torch.float32, torch.float64]
REDUCTIONS = ["mean", "sum", "none"]
TOL = {
    torch.float32: dict(rtol=1e-5, atol=1e-6),
    torch.float64: dict(rtol=1e-10, atol=1e-12),
}


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


def _call_unmutated(fn, *tensors, **kwargs):
    """Call fn(*tensors, **kwargs) and assert that no tensor argument was modified."""
    before = [t.clone() for t in tensors]
    out = fn(*tensors, **kwargs)
    for b, t in zip(before, tensors):
        torch.testing.assert_close(t, b, rtol=0, atol=0, equal_nan=True)
    return out


# --------------------------------------------------------------------------- regression

REG_SHAPES = [(), (1,), (7,), (4, 3), (2, 3, 5)]


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", REG_SHAPES)
def test_regression_losses_match_torch(name, dtype, reduction, shape):
    g = _gen(_seed((name, str(dtype), reduction, shape)))
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * 2).to(dtype)
    y = (torch.randn(shape, generator=g, dtype=torch.float64) * 2).to(dtype)
    out = _call_unmutated(getattr(losses, name), x, y, reduction=reduction)
    _close(out, getattr(F, name)(x, y, reduction=reduction), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [0.5, 1.0, 2.0, 3])
def test_huber_delta_and_kink(dtype, reduction, delta):
    # residuals exactly at +-delta, just inside / outside, at 0 and far in the tails
    d = float(delta)
    r = torch.tensor([-4 * d, -d * 1.0001, -d, -d * 0.9999, -d / 2, 0.0,
                      d / 2, d * 0.9999, d, d * 1.0001, 4 * d], dtype=dtype)
    target = torch.tensor([0.25, -0.5, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                          dtype=dtype)
    x = target + r
    out = _call_unmutated(losses.huber_loss, x, target, reduction=reduction, delta=delta)
    _close(out, F.huber_loss(x, target, reduction=reduction, delta=d), dtype)
    # closed form at the kink (target 0 entries there, so r is exact): 0.5 delta^2
    per = losses.huber_loss(x, target, reduction="none", delta=delta)
    assert per[8].item() == pytest.approx(0.5 * d * d, rel=1e-6)
    assert per[2].item() == pytest.approx(0.5 * d * d, rel=1e-6)
    assert per[5].item() == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_huber_closed_form(dtype):
    r = torch.tensor([-3.0, -1.0, -0.25, 0.0, 0.5, 1.0, 2.5], dtype=dtype)
    zero = torch.zeros_like(r)
    for delta in (0.5, 1.0, 2.0):
        expected = [0.5 * v * v if abs(v) < delta else delta * (abs(v) - 0.5 * delta)
                    for v in r.tolist()]
        out = losses.huber_loss(r, zero, reduction="none", delta=delta)
        _close(out, torch.tensor(expected, dtype=torch.float64), dtype)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss",
                                  "binary_cross_entropy", "binary_cross_entropy_with_logits"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_inputs_as_torch(name, dtype):
    x = torch.empty(0, dtype=dtype)
    y = torch.empty(0, dtype=dtype)
    for reduction in REDUCTIONS:
        _close(getattr(losses, name)(x, y, reduction=reduction),
               getattr(F, name)(x, y, reduction=reduction), dtype)


# --------------------------------------------------------------------------- BCE

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(), (9,), (5, 4), (2, 3, 2)])
@pytest.mark.parametrize("soft", [False, True])
def test_bce_matches_torch(dtype, reduction, shape, soft):
    g = _gen(_seed((str(dtype), reduction, shape, soft)))
    p = torch.rand(shape, generator=g, dtype=torch.float64).to(dtype)
    t = torch.rand(shape, generator=g, dtype=torch.float64)
    t = (t if soft else (t > 0.5).double()).to(dtype)
    out = _call_unmutated(losses.binary_cross_entropy, p, t, reduction=reduction)
    _close(out, F.binary_cross_entropy(p, t, reduction=reduction), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_probabilities_exactly_0_and_1(dtype, reduction):
    p = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1e-50, 1 - 1e-8], dtype=dtype)
    t = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 1.0, 0.0], dtype=dtype)
    out = _call_unmutated(losses.binary_cross_entropy, p, t, reduction=reduction)
    assert torch.isfinite(out).all()
    _close(out, F.binary_cross_entropy(p, t, reduction=reduction), dtype)
    per = losses.binary_cross_entropy(p, t, reduction="none")
    # log clamped at -100: a confident wrong answer costs exactly 100, a right one 0
    assert per[0].item() == 100.0 and per[1].item() == 100.0
    assert per[2].item() == 0.0 and per[3].item() == 0.0
    assert per[4].item() == 50.0 and per[5].item() == 50.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(), (11,), (6, 3), (2, 2, 3)])
def test_bce_with_logits_matches_torch(dtype, reduction, shape):
    g = _gen(_seed((str(dtype), reduction, shape, "l")))
    z = (torch.randn(shape, generator=g, dtype=torch.float64) * 5).to(dtype)
    t = torch.rand(shape, generator=g, dtype=torch.float64).to(dtype)
    out = _call_unmutated(losses.binary_cross_entropy_with_logits, z, t, reduction=reduction)
    _close(out, F.binary_cross_entropy_with_logits(z, t, reduction=reduction), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_extreme(dtype, reduction):
    zs = [1e4, -1e4, 1e3, -1e3, 100.0, -100.0, 30.0, -30.0, 0.0]
    z = torch.tensor([v for v in zs for _ in range(3)], dtype=dtype)
    t = torch.tensor([0.0, 1.0, 0.5] * len(zs), dtype=dtype)
    out = _call_unmutated(losses.binary_cross_entropy_with_logits, z, t, reduction=reduction)
    assert torch.isfinite(out).all()
    _close(out, F.binary_cross_entropy_with_logits(z, t, reduction=reduction), dtype)
    per = losses.binary_cross_entropy_with_logits(z, t, reduction="none")
    # closed forms: z = 1e4, y = 0 -> 1e4; y = 1 -> 0; y = 0.5 -> 5e3; z = -1e4 mirrored
    assert per[:6].tolist() == [1e4, 0.0, 5e3, 0.0, 1e4, 5e3]
    assert per[-3:].tolist() == pytest.approx([math.log(2)] * 3, rel=1e-6)


# --------------------------------------------------------------------------- cross-entropy

def _index_targets(g, n, c, ignore_index, n_ignored):
    t = torch.randint(0, c, (n,), generator=g)
    if n_ignored:
        t[torch.randperm(n, generator=g)[:n_ignored]] = ignore_index
    return t


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("n,c", [(1, 1), (1, 4), (7, 2), (16, 5), (9, 10)])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("ignore", ["none", "default", "custom"])
def test_cross_entropy_index_targets(dtype, reduction, n, c, label_smoothing, ignore):
    g = _gen(_seed((str(dtype), reduction, n, c, label_smoothing, ignore)))
    x = (torch.randn(n, c, generator=g, dtype=torch.float64) * 3).to(dtype)
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing)
    if ignore == "none":
        t = _index_targets(g, n, c, -100, 0)
    elif ignore == "default":
        t = _index_targets(g, n, c, -100, n // 3)
    else:  # a custom ignore_index inside the class range when c > 2
        ii = 2 if c > 2 else 0
        t = _index_targets(g, n, c, ii, n // 3)
        kwargs["ignore_index"] = ii
    out = _call_unmutated(losses.cross_entropy, x, t, **kwargs)
    _close(out, F.cross_entropy(x, t, **kwargs), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(1, 3), (8, 4), (5, 1), (6,), (1,)])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("kind", ["softmax", "onehot", "unnormalised"])
def test_cross_entropy_probability_targets(dtype, reduction, shape, label_smoothing, kind):
    g = _gen(_seed((str(dtype), reduction, shape, label_smoothing, kind)))
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * 3).to(dtype)
    raw = torch.randn(shape, generator=g, dtype=torch.float64)
    if kind == "softmax":
        t = torch.softmax(raw, dim=-1)
    elif kind == "onehot":
        t = F.one_hot(raw.argmax(-1), shape[-1]).double()
    else:  # torch does not require targets to sum to 1
        t = torch.rand(shape, generator=g, dtype=torch.float64)
    t = t.to(dtype)
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing)
    out = _call_unmutated(losses.cross_entropy, x, t, **kwargs)
    _close(out, F.cross_entropy(x, t, **kwargs), dtype)
    # a negative non-default ignore_index is accepted (and irrelevant) as in torch
    out2 = losses.cross_entropy(x, t, ignore_index=-5, **kwargs)
    _close(out2, F.cross_entropy(x, t, ignore_index=-5, **kwargs), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("target", [0, 2, 4, -100])
def test_cross_entropy_1d_logits_0d_target(dtype, reduction, label_smoothing, target):
    g = _gen(_seed((str(dtype), reduction, label_smoothing, target)))
    x = torch.randn(5, generator=g, dtype=torch.float64).to(dtype)
    t = torch.tensor(target)
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing)
    out = _call_unmutated(losses.cross_entropy, x, t, **kwargs)
    assert out.shape == ()
    _close(out, F.cross_entropy(x, t, **kwargs), dtype)
    # nll_loss on log-probabilities with the same 0-d target
    logp = torch.log_softmax(x, -1)
    _close(losses.nll_loss(logp, t, reduction=reduction),
           F.nll_loss(logp, t, reduction=reduction), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_all_ignored(dtype, label_smoothing):
    x = torch.randn(4, 3, generator=_gen(0), dtype=dtype)
    for ii in (-100, 1):
        t = torch.full((4,), ii)
        for reduction in REDUCTIONS:
            kw = dict(reduction=reduction, ignore_index=ii, label_smoothing=label_smoothing)
            out = losses.cross_entropy(x, t, **kw)
            _close(out, F.cross_entropy(x, t, **kw), dtype)
        assert torch.isnan(losses.cross_entropy(x, t, ignore_index=ii,
                                                label_smoothing=label_smoothing))
        assert losses.cross_entropy(x, t, ignore_index=ii, reduction="sum").item() == 0.0
        assert torch.isnan(losses.nll_loss(x, t, ignore_index=ii))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_mean_divides_by_non_ignored(dtype):
    # hand computation, independent of torch's cross_entropy
    x = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, -1.0], [2.0, -2.0, 0.0],
                      [0.0, 0.0, 0.0]], dtype=dtype)
    t = torch.tensor([2, -100, 0, 1])
    logp = (x.double() - x.double().exp().sum(-1, keepdim=True).log())
    terms = [-logp[0, 2].item(), -logp[2, 0].item(), -logp[3, 1].item()]
    assert losses.cross_entropy(x, t).item() == pytest.approx(sum(terms) / 3, rel=1e-6)
    assert losses.cross_entropy(x, t, reduction="sum").item() == pytest.approx(sum(terms),
                                                                              rel=1e-6)
    none = losses.cross_entropy(x, t, reduction="none")
    assert none[1].item() == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_label_smoothing_formula_by_hand(dtype):
    # loss = (1 - e) * nll + e / C * (-sum_c logp_c), mean over non-ignored targets
    x = torch.tensor([[1.0, 2.0, 3.0, -1.0], [0.0, 4.0, -2.0, 1.0], [3.0, 3.0, 0.0, 0.0]],
                     dtype=dtype)
    t = torch.tensor([0, 3, 2])
    e, c = 0.2, 4
    logp = torch.log_softmax(x.double(), -1)
    per = [(1 - e) * -logp[i, t[i]].item() + e / c * -logp[i].sum().item() for i in range(3)]
    out = losses.cross_entropy(x, t, reduction="none", label_smoothing=e)
    _close(out, torch.tensor(per, dtype=torch.float64), dtype)
    # same numbers with smoothed probability targets
    probs = F.one_hot(t, c).double() * (1 - e) + e / c
    _close(losses.cross_entropy(x, F.one_hot(t, c).to(dtype), reduction="none",
                                label_smoothing=e), -(probs * logp).sum(-1), dtype)


LARGE_LOGITS = [
    [1e3, 0.0, -1e3],
    [1e4, 0.0, -1e4],
    [1e4, 1e4 - 1.0, 1e4 - 3.0],
    [-1e4, -1e4 + 2.0, -1e4 + 0.5],
    [1000.0, 999.0, -1000.0],
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
def test_cross_entropy_large_logits(dtype, reduction, label_smoothing):
    x = torch.tensor(LARGE_LOGITS, dtype=dtype)
    kw = dict(reduction=reduction, label_smoothing=label_smoothing)
    for cls in range(3):
        t = torch.full((x.shape[0],), cls)
        out = losses.cross_entropy(x, t, **kw)
        assert torch.isfinite(out).all()
        _close(out, F.cross_entropy(x, t, **kw), dtype)
    g = _gen(7)
    big = (1e4 + torch.randn(6, 5, generator=g, dtype=torch.float64) * 10).to(dtype)
    t = torch.randint(0, 5, (6,), generator=g)
    out = losses.cross_entropy(big, t, **kw)
    assert torch.isfinite(out).all()
    _close(out, F.cross_entropy(big, t, **kw), dtype)
    probs = torch.softmax(torch.randn(5, 3, generator=g, dtype=torch.float64), -1).to(dtype)
    out = losses.cross_entropy(x, probs, **kw)
    assert torch.isfinite(out).all()
    _close(out, F.cross_entropy(x, probs, **kw), dtype)
    # closed form: the right class with a 2000-nat margin costs ~0, the wrong ones ~gap
    per = losses.cross_entropy(x, torch.tensor([2, 2, 0, 1, 2]), reduction="none")
    assert per[0].item() == pytest.approx(2000.0, rel=1e-6)
    assert per[1].item() == pytest.approx(20000.0, rel=1e-6)
    assert per[4].item() == pytest.approx(2000.0 + math.log1p(math.exp(-1.0)), rel=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_infinite_logits_as_torch(dtype):
    # -inf logits are accepted by torch; match its inf / nan results
    x = torch.tensor([[0.0, float("-inf"), 1.0], [2.0, 0.0, float("-inf")]], dtype=dtype)
    for ls in (0.0, 0.1, 1.0):
        for t in (torch.tensor([0, 0]), torch.tensor([1, 2]), torch.tensor([1, -100])):
            for reduction in REDUCTIONS:
                kw = dict(reduction=reduction, label_smoothing=ls)
                _close(losses.cross_entropy(x, t, **kw), F.cross_entropy(x, t, **kw), dtype)
        p = torch.tensor([[0.5, 0.0, 0.5], [1.0, 0.0, 0.0]], dtype=dtype)
        _close(losses.cross_entropy(x, p, reduction="none", label_smoothing=ls),
               F.cross_entropy(x, p, reduction="none", label_smoothing=ls), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_empty_batch(dtype):
    x = torch.empty(0, 4, dtype=dtype)
    for t in (torch.empty(0, dtype=torch.int64), torch.empty(0, 4, dtype=dtype)):
        for reduction in REDUCTIONS:
            _close(losses.cross_entropy(x, t, reduction=reduction),
                   F.cross_entropy(x, t, reduction=reduction), dtype)


# --------------------------------------------------------------------------- nll_loss

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("n,c", [(1, 3), (10, 4), (5, 1)])
@pytest.mark.parametrize("ignore", ["none", "default", "custom", "outside"])
def test_nll_loss_matches_torch(dtype, reduction, n, c, ignore):
    g = _gen(_seed((str(dtype), reduction, n, c, ignore)))
    logp = torch.log_softmax(torch.randn(n, c, generator=g, dtype=torch.float64) * 2, -1)
    logp = logp.to(dtype)
    kw = dict(reduction=reduction)
    if ignore == "none":
        t = _index_targets(g, n, c, -100, 0)
    elif ignore == "default":
        t = _index_targets(g, n, c, -100, n // 2)
    elif ignore == "custom":
        ii = min(2, c - 1)
        t = _index_targets(g, n, c, ii, n // 2)
        kw["ignore_index"] = ii
    else:  # an ignore_index outside [0, C) may mark targets, as in torch
        t = _index_targets(g, n, c, c + 3, n // 2)
        kw["ignore_index"] = c + 3
    out = _call_unmutated(losses.nll_loss, logp, t, **kw)
    _close(out, F.nll_loss(logp, t, **kw), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nll_loss_arbitrary_input(dtype):
    # nll_loss does not check that input holds log-probabilities
    x = torch.randn(6, 3, generator=_gen(3), dtype=dtype)
    t = torch.tensor([0, 1, 2, 2, 1, 0])
    for reduction in REDUCTIONS:
        _close(losses.nll_loss(x, t, reduction=reduction),
               F.nll_loss(x, t, reduction=reduction), dtype)


# --------------------------------------------------------------------------- info theory

def _rand_dist(g, shape, dtype, zeros=False):
    p = torch.rand(shape, generator=g, dtype=torch.float64) + 0.05
    if zeros:
        p = p * (torch.rand(shape, generator=g, dtype=torch.float64) > 0.4)
        p[..., 0] = p[..., 0] + 0.1  # every row keeps some mass
    return (p / p.sum(-1, keepdim=True)).to(dtype)


INFO_SHAPES = [(1,), (5,), (4, 3), (2, 3, 6)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", INFO_SHAPES)
@pytest.mark.parametrize("zeros", [False, True])
@pytest.mark.parametrize("base", [None, 2, 10, math.e, 2.5])
def test_entropy_vs_categorical(dtype, shape, zeros, base):
    g = _gen(_seed((str(dtype), shape, zeros, str(base))))
    p = _rand_dist(g, shape, dtype, zeros)
    out = _call_unmutated(losses.entropy, p, base=base)
    expected = Categorical(probs=p.double()).entropy()
    if base is not None:
        expected = expected / math.log(base)
    assert not torch.isnan(out).any()
    _close(out, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_entropy_special_values(dtype):
    p = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.25] * 4, [0.5, 0.5, 0.0, 0.0]], dtype=dtype)
    _close(losses.entropy(p), torch.tensor([0.0, math.log(4), math.log(2)], dtype=torch.float64),
           dtype)
    _close(losses.entropy(p, base=2), torch.tensor([0.0, 2.0, 1.0]), dtype)
    _close(losses.entropy(p, base=10),
           torch.tensor([0.0, math.log10(4), math.log10(2)], dtype=torch.float64), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", INFO_SHAPES)
@pytest.mark.parametrize("base", [None, 2, 10])
def test_cross_entropy_dist_and_kl_vs_torch(dtype, shape, base):
    g = _gen(_seed((str(dtype), shape, str(base), "ce")))
    p = _rand_dist(g, shape, dtype, zeros=True)
    q = _rand_dist(g, shape, dtype, zeros=False)  # q > 0 everywhere
    scale = 1.0 if base is None else math.log(base)
    pd, qd = p.double(), q.double()
    # oracle 1: F.cross_entropy with probability targets on logits log q (q normalised)
    ce_oracle = F.cross_entropy(qd.log().reshape(-1, shape[-1]), pd.reshape(-1, shape[-1]),
                                reduction="none").reshape(shape[:-1]) / scale
    ce = _call_unmutated(losses.cross_entropy_dist, p, q, base=base)
    _close(ce, ce_oracle, dtype)
    # oracle 2: F.kl_div (log-input q, target p) and torch.distributions
    kl_oracle = F.kl_div(qd.log(), pd, reduction="none").sum(-1) / scale
    kl = _call_unmutated(losses.kl_divergence, p, q, base=base)
    _close(kl, kl_oracle, dtype)
    kl_dist = torch.distributions.kl_divergence(Categorical(probs=pd), Categorical(probs=qd))
    _close(kl, kl_dist / scale, dtype)
    # identity H(p, q) = H(p) + KL(p || q)
    _close(ce, (Categorical(probs=pd).entropy() + kl_dist) / scale, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("base", [None, 2, 10])
def test_info_zero_probabilities(dtype, base):
    scale = 1.0 if base is None else math.log(base)
    p = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 1.0]],
                     dtype=dtype)
    q = torch.tensor([[0.5, 0.5, 0.0], [0.6, 0.4, 0.0], [0.2, 0.3, 0.5], [0.5, 0.5, 0.0]],
                     dtype=dtype)
    ce = losses.cross_entropy_dist(p, q, base=base)
    kl = losses.kl_divergence(p, q, base=base)
    ent = losses.entropy(q, base=base)
    assert not torch.isnan(ce).any() and not torch.isnan(kl).any()
    assert not torch.isnan(ent).any()
    # independent xlogy formulas (0 log 0 = 0) written here
    pd, qd = p.double(), q.double()
    _close(ce[:3], (-torch.xlogy(pd, qd).sum(-1) / scale)[:3], dtype)
    _close(kl[:3], ((torch.xlogy(pd, pd) - torch.xlogy(pd, qd)).sum(-1) / scale)[:3], dtype)
    _close(ent, Categorical(probs=qd).entropy() / scale, dtype)
    # p == q with shared zeros: KL exactly 0; mass where q = 0: inf
    assert kl[0].item() == 0.0 and kl[2].item() == 0.0
    assert math.isinf(ce[3].item()) and math.isinf(kl[3].item())
    assert ce[1].item() == pytest.approx(-math.log(0.6) / scale, rel=1e-6)
    pp = losses.perplexity(p, q)
    assert pp[0].item() == pytest.approx(2.0, rel=1e-6)
    assert math.isinf(pp[3].item())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", INFO_SHAPES)
@pytest.mark.parametrize("zeros", [False, True])
def test_perplexity(dtype, shape, zeros):
    g = _gen(_seed((str(dtype), shape, zeros, "pp")))
    p = _rand_dist(g, shape, dtype, zeros)
    q = _rand_dist(g, shape, dtype, False)
    pd, qd = p.double(), q.double()
    out = _call_unmutated(losses.perplexity, p, q)
    expected = torch.exp(F.cross_entropy(qd.log().reshape(-1, shape[-1]),
                                          pd.reshape(-1, shape[-1]), reduction="none"))
    _close(out, expected.reshape(shape[:-1]), dtype)
    # the same number in any base: base ** H_base == e ** H_nats
    for base in (2, 10, 3.5):
        h_b = losses.cross_entropy_dist(p, q, base=base)
        _close(torch.pow(torch.tensor(float(base), dtype=torch.float64), h_b.double()).to(dtype),
               out.double(), dtype)
    # uniform q over C classes -> perplexity C whatever p is
    u = torch.full(shape, 1.0 / shape[-1], dtype=dtype)
    _close(losses.perplexity(p, u), torch.full(shape[:-1], float(shape[-1])), dtype)


# --------------------------------------------------------------------------- errors

def _x(shape=(3, 4), dtype=torch.float32):
    return torch.rand(shape, generator=_gen(11), dtype=dtype) * 0.8 + 0.1


P = torch.tensor([[0.2, 0.8], [0.5, 0.5]])
LOGITS = torch.randn(3, 4, generator=_gen(5))
IDX = torch.tensor([0, 1, 3])

ERROR_CASES = [
    # reduction
    ("mse_loss", (_x(), _x()), dict(reduction="avg"), "reduction"),
    ("l1_loss", (_x(), _x()), dict(reduction="MEAN"), "reduction"),
    ("huber_loss", (_x(), _x()), dict(reduction=None), "reduction"),
    ("binary_cross_entropy", (_x(), _x()), dict(reduction="batchmean"), "reduction"),
    ("binary_cross_entropy_with_logits", (_x(), _x()), dict(reduction="x"), "reduction"),
    ("cross_entropy", (LOGITS, IDX), dict(reduction="avg"), "reduction"),
    ("nll_loss", (LOGITS, IDX), dict(reduction="elementwise_mean"), "reduction"),
    # shapes / dtypes of regression and BCE targets
    ("mse_loss", (_x((3, 1)), _x((3,))), {}, "target"),
    ("l1_loss", (_x((3,)), _x((3, 1))), {}, "target"),
    ("huber_loss", (_x((4, 1)), _x((1, 4))), {}, "target"),
    ("binary_cross_entropy", (_x((3, 1)), _x((3,))), {}, "target"),
    ("binary_cross_entropy_with_logits", (_x((3, 1)), _x((3,))), {}, "target"),
    ("mse_loss", (_x(), _x(dtype=torch.float64)), {}, "target"),
    ("mse_loss", (_x(), torch.ones(3, 4, dtype=torch.int64)), {}, "target"),
    ("binary_cross_entropy_with_logits", (_x(), torch.ones(3, 4, dtype=torch.int64)), {},
     "target"),
    ("mse_loss", (torch.ones(3, dtype=torch.int64), torch.ones(3, dtype=torch.int64)), {},
     "input"),
    ("mse_loss", ([1.0, 2.0], _x((2,))), {}, "input"),
    # delta
    ("huber_loss", (_x(), _x()), dict(delta=0.0), "delta"),
    ("huber_loss", (_x(), _x()), dict(delta=-1.0), "delta"),
    ("huber_loss", (_x(), _x()), dict(delta=float("nan")), "delta"),
    ("huber_loss", (_x(), _x()), dict(delta="1"), "delta"),
    # BCE ranges
    ("binary_cross_entropy", (torch.tensor([0.5, 1.5]), torch.tensor([0.0, 1.0])), {},
     "input"),
    ("binary_cross_entropy", (torch.tensor([-0.1, 0.5]), torch.tensor([0.0, 1.0])), {},
     "input"),
    ("binary_cross_entropy", (torch.tensor([float("nan"), 0.5]), torch.tensor([0.0, 1.0])),
     {}, "input"),
    ("binary_cross_entropy", (torch.tensor([0.5, 0.5]), torch.tensor([0.0, 2.0])), {},
     "target"),
    # cross_entropy: label smoothing, targets, logits
    ("cross_entropy", (LOGITS, IDX), dict(label_smoothing=-0.1), "label_smoothing"),
    ("cross_entropy", (LOGITS, IDX), dict(label_smoothing=1.5), "label_smoothing"),
    ("cross_entropy", (LOGITS, IDX), dict(label_smoothing=float("nan")), "label_smoothing"),
    ("cross_entropy", (LOGITS, torch.tensor([0, 1, 4])), {}, "target"),
    ("cross_entropy", (LOGITS, torch.tensor([0, -1, 2])), {}, "target"),
    ("cross_entropy", (LOGITS, torch.tensor([0, -100, 2])), dict(ignore_index=1), "target"),
    ("cross_entropy", (LOGITS, torch.tensor([0, 1, 2], dtype=torch.int32)), {}, "target"),
    ("cross_entropy", (LOGITS, torch.tensor([0, 1, 2], dtype=torch.uint8)), {}, "target"),
    ("cross_entropy", (LOGITS, torch.tensor([0.0, 1.0, 2.0])), {}, "target"),
    ("cross_entropy", (LOGITS, torch.tensor([[0, 1, 2]])), {}, "target"),
    ("cross_entropy", (LOGITS, torch.tensor([0, 1])), {}, "target"),
    ("cross_entropy", (LOGITS, torch.rand(3, 5)), {}, "target"),
    ("cross_entropy", (LOGITS, torch.rand(3, 4, dtype=torch.float64)), {}, "target"),
    ("cross_entropy", (LOGITS, torch.softmax(LOGITS, -1)), dict(ignore_index=2),
     "ignore_index"),
    ("cross_entropy", (LOGITS, IDX), dict(ignore_index=1.5), "ignore_index"),
    ("cross_entropy", (torch.randn(2, 3, 4), torch.zeros(2, 4, dtype=torch.int64)), {},
     "input"),
    ("cross_entropy", (torch.tensor(1.0), torch.tensor(0)), {}, "input"),
    ("cross_entropy", (torch.ones(3, 4, dtype=torch.int64), IDX), {}, "input"),
    ("cross_entropy", (torch.randn(5), torch.tensor(5)), {}, "target"),
    ("cross_entropy", (torch.randn(5), torch.tensor([1])), {}, "target"),
    # nll_loss
    ("nll_loss", (LOGITS, torch.tensor([0, 1, 4])), {}, "target"),
    ("nll_loss", (LOGITS, torch.tensor([0, 1, 2], dtype=torch.int32)), {}, "target"),
    ("nll_loss", (LOGITS, torch.tensor([0, 1])), {}, "target"),
    ("nll_loss", (torch.randn(2, 3, 4), torch.zeros(2, 4, dtype=torch.int64)), {}, "input"),
    ("nll_loss", (LOGITS, IDX), dict(ignore_index="x"), "ignore_index"),
    # information theory
    ("entropy", (torch.tensor([0.5, 1.5]),), {}, "p"),
    ("entropy", (torch.tensor([-0.5, 1.5]),), {}, "p"),
    ("entropy", (torch.tensor(1.0),), {}, "p"),
    ("entropy", (torch.tensor([1, 0]),), {}, "p"),
    ("entropy", (P,), dict(base=1), "base"),
    ("entropy", (P,), dict(base=0), "base"),
    ("entropy", (P,), dict(base=-2.0), "base"),
    ("cross_entropy_dist", (P, P[0]), {}, "q"),
    ("cross_entropy_dist", (P, P.double()), {}, "q"),
    ("cross_entropy_dist", (P, P + 1), {}, "q"),
    ("cross_entropy_dist", (P - 1, P), {}, "p"),
    ("cross_entropy_dist", (P, P), dict(base=1.0), "base"),
    ("kl_divergence", (P, P[:, :1]), {}, "q"),
    ("kl_divergence", (P, P * 2), {}, "q"),
    ("kl_divergence", (P, P), dict(base=0.0), "base"),
    ("perplexity", (P, P.T[:1]), {}, "q"),
    ("perplexity", (P * 3, P), {}, "p"),
]


@pytest.mark.parametrize("name,args,kwargs,argname", ERROR_CASES,
                         ids=[f"{c[0]}-{i}-{c[3]}" for i, c in enumerate(ERROR_CASES)])
def test_value_errors_name_the_argument(name, args, kwargs, argname):
    with pytest.raises(ValueError, match=rf"\b{argname}\b"):
        getattr(losses, name)(*args, **kwargs)


# --------------------------------------------------------------------------- misc

def test_gradients_flow_and_match_torch():
    # not required by SPEC, but the losses are built from differentiable ops
    g = _gen(21)
    x = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0, 3, -100, 1, 2])
    for ls in (0.0, 0.2):
        (gx,) = torch.autograd.grad(losses.cross_entropy(x, t, label_smoothing=ls), x)
        (gt,) = torch.autograd.grad(F.cross_entropy(x, t, label_smoothing=ls), x)
        torch.testing.assert_close(gx, gt, rtol=1e-10, atol=1e-12)
    z = torch.randn(7, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.rand(7, generator=g, dtype=torch.float64)
    (gz,) = torch.autograd.grad(losses.binary_cross_entropy_with_logits(z, y), z)
    (gr,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(z, y), z)
    torch.testing.assert_close(gz, gr, rtol=1e-10, atol=1e-12)


BANNED_ATTRS = {"softmax", "log_softmax", "sigmoid", "logsumexp", "relu", "dropout",
                "batch_norm", "layer_norm", "expit", "backward", "nn", "optim", "func",
                "_C", "autograd", "log_sigmoid", "logsigmoid"}


def test_reference_uses_no_banned_api():
    tree = ast.parse(inspect.getsource(losses))
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
    for name in losses.__all__:
        assert callable(getattr(losses, name))
        assert getattr(losses, name).__doc__
    params = list(inspect.signature(losses.cross_entropy).parameters)
    assert params[:3] == ["input", "target", "reduction"]
    assert set(params) >= {"ignore_index", "label_smoothing"}
    assert list(inspect.signature(losses.perplexity).parameters) == ["p", "q"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_device_and_dtype_kept(dtype):
    dev = torch.device("cuda")
    g = _gen(9)
    x = torch.randn(6, 5, generator=g, dtype=dtype).to(dev)
    t = torch.tensor([0, 1, 2, -100, 4, 3], device=dev)
    for ls in (0.0, 0.1):
        out = losses.cross_entropy(x, t, label_smoothing=ls)
        assert out.device.type == "cuda" and out.dtype == dtype
        _close(out.cpu(), F.cross_entropy(x.cpu(), t.cpu(), label_smoothing=ls), dtype)
    p = torch.rand(6, 5, generator=g, dtype=dtype).to(dev)
    y = torch.rand(6, 5, generator=g, dtype=dtype).to(dev)
    for name in ("mse_loss", "l1_loss", "huber_loss", "binary_cross_entropy",
                 "binary_cross_entropy_with_logits"):
        out = getattr(losses, name)(p, y, reduction="none")
        assert out.device.type == "cuda" and out.dtype == dtype
        _close(out.cpu(), getattr(F, name)(p.cpu(), y.cpu(), reduction="none"), dtype)
    q = (p / p.sum(-1, keepdim=True))
    for name in ("cross_entropy_dist", "kl_divergence", "perplexity"):
        assert getattr(losses, name)(q, q).device.type == "cuda"
    assert losses.entropy(q, base=2).device.type == "cuda"
    with pytest.raises(ValueError, match="target"):
        losses.cross_entropy(x, torch.tensor([0, 1, 2, 3, 4, 5], device=dev))
