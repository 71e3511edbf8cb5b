"""Hidden suite for losses.py: regression losses, binary and multi-class cross-entropy,
nll_loss and the information-theory functions.

Every accuracy case compares the student's value with the reference's on the case's
device and dtype; hints name the likely mistake, recognised by recomputing what the
buggy formula returns for the same inputs (in float64, on the case's device).
"""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from grader.device_check import on_device
from grader.diagnosis import Mistake, ignore_index_hint, specific_error_hint
from grader.errors import StudentError

REDUCTIONS = ["mean", "sum", "none"]


# --------------------------------------------------------------------------- helpers

def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return values
    if reduction == "sum":
        return values.sum()
    return values.mean()


def _like(value: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """A float64 candidate value cast to the case's dtype and device."""
    return value.to(dtype=ref.dtype, device=ref.device)


def _scale_of(*tensors: torch.Tensor) -> float:
    """The inputs' magnitude, for check.close(scale=...)."""
    m = 1.0
    for t in tensors:
        finite = t[torch.isfinite(t)]
        if finite.numel():
            m = max(m, float(finite.abs().max()))
    return m


def _reduction_mistakes(elementwise: torch.Tensor, reduction: str, ref: torch.Tensor,
                        rows: int | None = None) -> list[Mistake]:
    """Mean/sum confusion, recognised from the float64 per-element losses."""
    out = []
    if reduction == "mean":
        out.append(Mistake("reduction='mean' returned the sum: divide by the number of loss terms",
                           value=lambda: _like(elementwise.sum(), ref)))
        if rows is not None and rows != elementwise.numel():
            out.append(Mistake(
                "the mean divides by the number of rows N instead of the number of elements "
                "N*C: 'mean' averages over every element",
                value=lambda: _like(elementwise.sum() / rows, ref)))
    elif reduction == "sum":
        out.append(Mistake("reduction='sum' returned the mean: add the loss terms up",
                           value=lambda: _like(elementwise.mean(), ref)))
    else:
        out.append(Mistake("reduction='none' must return one loss per element, unreduced",
                           problem="shape"))
    return out


def _scalar_fallback(expected: torch.Tensor, text: str) -> Mistake:
    """For a wrong 0-d result of the right kind, a pointer to the formula instead of the
    engine's 'k times the expected one' (any two scalars are multiples of each other)."""
    return Mistake(text, when=lambda out: isinstance(out, torch.Tensor) and out.dim() == 0
                   and expected.dim() == 0 and out.dtype == expected.dtype and out.device == expected.device
                   and bool(torch.isfinite(out)))


def _random_classes(gen: torch.Generator, n: int, c: int) -> torch.Tensor:
    return torch.randint(0, c, (n,), generator=gen)


# ----------------------------------------------------------------- regression losses

@pytest.mark.parametrize("shape", [(7,), (5, 3), (2, 3, 4)], ids=["7", "5x3", "2x3x4"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss(student, reference, check, gen, device, dtype, shape, reduction):
    x = (torch.randn(shape, generator=gen, dtype=dtype) * 2).to(device)
    y = (torch.randn(shape, generator=gen, dtype=dtype) * 2).to(device)
    expected = reference.losses.mse_loss(x, y, reduction=reduction)
    actual = student.losses.mse_loss(x, y, reduction=reduction)
    sq = (x.double() - y.double()) ** 2
    check.close(actual, expected, mistakes=[
        *_reduction_mistakes(sq, reduction, expected, rows=shape[0]),
        Mistake("the loss is not squared: mse uses (input - target)**2",
                value=lambda: _like(_reduce((x.double() - y.double()).abs(), reduction), expected)),
        Mistake("mse has no 1/2 factor: loss = (input - target)**2",
                value=lambda: _like(_reduce(sq / 2, reduction), expected)),
        _scalar_fallback(expected, "no common slip matches: mse = (input - target)**2 per element, "
                                   "then the mean over all elements or the sum"),
    ])


@pytest.mark.parametrize("shape", [(9,), (4, 6)], ids=["9", "4x6"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_l1_loss(student, reference, check, gen, device, dtype, shape, reduction):
    x = torch.randn(shape, generator=gen, dtype=dtype) * 2
    y = torch.randn(shape, generator=gen, dtype=dtype) * 2
    flat_x, flat_y = x.view(-1), y.view(-1)
    flat_x[::3] = flat_y[::3]  # exact-zero residuals
    x, y = x.to(device), y.to(device)
    expected = reference.losses.l1_loss(x, y, reduction=reduction)
    actual = student.losses.l1_loss(x, y, reduction=reduction)
    ab = (x.double() - y.double()).abs()
    check.close(actual, expected, mistakes=[
        Mistake("nan where input == target: |r| must be 0 at a zero residual (torch.abs, not r / |r|)",
                problem="nan"),
        *_reduction_mistakes(ab, reduction, expected, rows=shape[0]),
        Mistake("l1 is |input - target|, not squared",
                value=lambda: _like(_reduce(ab ** 2, reduction), expected)),
        _scalar_fallback(expected, "no common slip matches: l1 = |input - target| per element, "
                                   "then the mean over all elements or the sum"),
    ])


def _huber_inputs(gen: torch.Generator, delta: float, dtype: torch.dtype):
    """Residuals exactly at +-delta, +-2 delta, 0, +-delta/2, plus random ones.

    Targets are multiples of 1/8, so input - target is exact.
    """
    d = delta
    kinks = torch.tensor([-2 * d, -d, -d / 2, 0.0, d / 2, d, 2 * d, 3 * d], dtype=torch.float64)
    target = torch.randint(-16, 17, (4, 8), generator=gen).double() / 8
    r = torch.randn(4, 8, generator=gen, dtype=torch.float64) * 2 * d
    r[0] = kinks
    r[1, :4] = torch.tensor([d, -d, 0.0, -2 * d], dtype=torch.float64)
    x = target + r
    return x.to(dtype), target.to(dtype)


@pytest.mark.parametrize("delta", [0.5, 1.0, 2.0], ids=["d0.5", "d1", "d2"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_huber_loss(student, reference, check, gen, device, dtype, delta, reduction):
    x, y = _huber_inputs(gen, delta, dtype)
    x, y = x.to(device), y.to(device)
    expected = reference.losses.huber_loss(x, y, reduction=reduction, delta=delta)
    actual = student.losses.huber_loss(x, y, reduction=reduction, delta=delta)
    xd, yd = x.double(), y.double()
    z = (xd - yd).abs()
    quad = 0.5 * z * z
    huber = torch.where(z < delta, quad, delta * (z - 0.5 * delta))
    check.close(actual, expected, mistakes=[
        Mistake(f"this is SmoothL1 (beta = delta), which is Huber / delta; Huber's linear branch is "
                f"delta * (|r| - delta/2) and its quadratic branch 0.5 * r**2 (delta={delta})",
                value=lambda: _like(_reduce(huber / delta, reduction), expected)),
        Mistake("the linear branch is missing -delta**2/2: use delta * (|r| - 0.5 * delta) for |r| >= delta",
                value=lambda: _like(_reduce(torch.where(z < delta, quad, delta * z), reduction), expected)),
        Mistake("the delta argument is ignored (the result matches delta = 1)",
                value=lambda: _like(F.huber_loss(xd, yd, reduction=reduction, delta=1.0), expected)),
        Mistake("the quadratic branch is 0.5 * r**2, not r**2",
                value=lambda: _like(_reduce(torch.where(z < delta, 2 * quad, delta * (z - 0.5 * delta)),
                                            reduction), expected)),
        *_reduction_mistakes(huber, reduction, expected, rows=4),
        _scalar_fallback(expected, "no common slip matches: huber = 0.5 r**2 for |r| < delta and "
                                   "delta (|r| - delta/2) otherwise, then the mean or the sum"),
    ])


MISMATCH = [
    ("mse_loss", (6, 1), (6,)),
    ("mse_loss", (5,), (5, 1)),
    ("mse_loss", (3, 4), (4,)),
    ("l1_loss", (6, 1), (6,)),
    ("l1_loss", (4,), (1, 4)),
    ("huber_loss", (6, 1), (6,)),
    ("huber_loss", (2, 5), (5,)),
]


@pytest.mark.parametrize("name,in_shape,target_shape", MISMATCH,
                         ids=[f"{n}-{a}-{b}".replace(" ", "") for n, a, b in MISMATCH])
def test_regression_shape_mismatch(student, check, gen, device, name, in_shape, target_shape):
    x = torch.randn(in_shape, generator=gen).to(device)
    y = torch.randn(target_shape, generator=gen).to(device)
    with check.raises(ValueError, match="shape|target|input|broadcast",
                      hint="input and target of different shapes must raise ValueError: "
                           "broadcasting (N, 1) against (N,) silently builds an (N, N) loss"):
        getattr(student.losses, name)(x, y)


# -------------------------------------------------------------- binary cross-entropy

def _bce64(p: torch.Tensor, y: torch.Tensor, clamp: float | None = -100.0) -> torch.Tensor:
    p, y = p.double(), y.double()
    lp, l1p = torch.log(p), torch.log1p(-p)
    if clamp is not None:
        lp, l1p = lp.clamp(min=clamp), l1p.clamp(min=clamp)
    return -(y * lp + (1 - y) * l1p)


@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(student, reference, check, gen, device, dtype, soft, reduction):
    p = (torch.rand(6, 5, generator=gen, dtype=dtype) * 0.98 + 0.01).to(device)
    y = torch.rand(6, 5, generator=gen, dtype=dtype)
    y = (y if soft else (y > 0.5).to(dtype)).to(device)
    expected = reference.losses.binary_cross_entropy(p, y, reduction=reduction)
    actual = student.losses.binary_cross_entropy(p, y, reduction=reduction)
    per = _bce64(p, y)
    check.close(actual, expected, mistakes=[
        Mistake("the loss has the wrong sign: BCE = -(y log p + (1 - y) log(1 - p))",
                value=lambda: _like(_reduce(-per, reduction), expected)),
        Mistake("the (1 - y) * log(1 - p) term is missing",
                value=lambda: _like(_reduce(-y.double() * torch.log(p.double()), reduction), expected)),
        *_reduction_mistakes(per, reduction, expected, rows=6),
        _scalar_fallback(expected, "no common slip matches: bce = -(y log p + (1 - y) log(1 - p)) per "
                                   "element, then the mean over all elements or the sum"),
    ])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_extremes(student, reference, check, device, dtype, reduction):
    # probabilities exactly 0 and 1: each log is clamped at -100, so a confident wrong
    # answer costs exactly 100 (soft targets: 100 times the wrong share)
    p = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
                      [0.5, 1e-6, 1 - 1e-6, 0.25, 0.0, 1.0]], dtype=dtype, device=device)
    y = torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.3, 0.7],
                      [1.0, 1.0, 0.0, 0.0, 0.9, 0.1]], dtype=dtype, device=device)
    expected = reference.losses.binary_cross_entropy(p, y, reduction=reduction)
    actual = student.losses.binary_cross_entropy(p, y, reduction=reduction)
    clamp_hint = ("log(0) at p = 0 or p = 1: clamp each log at -100 as torch does "
                  "(torch.clamp(torch.log(p), min=-100), and the same for log(1 - p))")
    check.close(actual, expected, scale=100.0, mistakes=[
        Mistake(clamp_hint, problem="nan"),
        Mistake(clamp_hint, problem="inf"),
        *_reduction_mistakes(_bce64(p, y), reduction, expected, rows=2),
        Mistake("p was clamped into [eps, 1 - eps] instead of clamping the logs at -100: "
                "p = 0 with target 1 must cost exactly 100",
                when=lambda out: isinstance(out, torch.Tensor) and bool(torch.isfinite(out).all())
                and float(out.double().sum()) < float(expected.double().sum()) * 0.9),
    ])


def _bcel_naive(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """sigmoid, then log, in the case's own dtype: the classic unstable form."""
    s = 1 / (1 + torch.exp(-z))
    return -(y * torch.log(s) + (1 - y) * torch.log(1 - s))


def _bcel64(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(z.double(), y.double(), reduction="none")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(student, reference, check, gen, device, dtype, reduction):
    z = (torch.randn(5, 7, generator=gen, dtype=dtype) * 4).to(device)
    y = torch.rand(5, 7, generator=gen, dtype=dtype)
    y[:3] = (y[:3] > 0.5).to(dtype)  # hard labels in the first rows, soft in the rest
    y = y.to(device)
    expected = reference.losses.binary_cross_entropy_with_logits(z, y, reduction=reduction)
    actual = student.losses.binary_cross_entropy_with_logits(z, y, reduction=reduction)
    per = _bcel64(z, y)
    check.close(actual, expected, scale=_scale_of(z), mistakes=[
        Mistake("the loss has the wrong sign: loss = (1 - y) z - log sigmoid(z)",
                value=lambda: _like(_reduce(-per, reduction), expected)),
        Mistake("computing sigmoid(z) first and then its log loses precision (log(1 - sigmoid(z)) "
                "cancels for large z): use log sigmoid(z) = min(z, 0) - log1p(exp(-|z|))",
                value=lambda: _reduce(_bcel_naive(z, y), reduction)),
        Mistake("the loss is not finite: compute log sigmoid(z) stably as min(z, 0) - log1p(exp(-|z|))",
                problem="nan"),
        *_reduction_mistakes(per, reduction, expected, rows=5),
        _scalar_fallback(expected, "no common slip matches: loss = (1 - y) z - log sigmoid(z) per element, "
                                   "log sigmoid(z) = min(z, 0) - log1p(exp(-|z|)); then the mean or the sum"),
    ])


@pytest.mark.parametrize("scale", [1e2, 1e3, 1e4], ids=["1e2", "1e3", "1e4"])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_binary_cross_entropy_with_logits_large(student, reference, check, gen, device, dtype,
                                                scale, reduction):
    s = scale
    z = torch.tensor([[s, -s, s, -s, s, -s],
                      [s / 2, -s / 2, 0.0, 1.0, -3.0, s]], dtype=dtype)
    y = torch.tensor([[0.0, 1.0, 1.0, 0.0, 0.5, 0.25],
                      [1.0, 0.0, 1.0, 0.0, 1.0, 0.9]], dtype=dtype)
    z, y = z.to(device), y.to(device)
    expected = reference.losses.binary_cross_entropy_with_logits(z, y, reduction=reduction)
    actual = student.losses.binary_cross_entropy_with_logits(z, y, reduction=reduction)
    naive = ("log(sigmoid(z)) gives log(0) = -inf for |z| >= ~100: compute log sigmoid(z) "
             "as min(z, 0) - log1p(exp(-|z|)), never sigmoid first and then log")
    check.close(actual, expected, scale=scale, mistakes=[
        Mistake(naive, problem="nan"),
        Mistake(naive, problem="inf"),
        Mistake("this is binary_cross_entropy(sigmoid(z)) with its -100 clamp: the loss caps at 100 "
                "for large logits; compute log sigmoid(z) = min(z, 0) - log1p(exp(-|z|)) directly",
                rtol=1e-2,
                value=lambda: _like(_reduce(_bce64(torch.sigmoid(z.double()), y), reduction), expected)),
        Mistake("sigmoid(z) was clamped into [eps, 1 - eps] before the log: the loss caps for large "
                "|z|; use log sigmoid(z) = min(z, 0) - log1p(exp(-|z|))",
                when=lambda out: isinstance(out, torch.Tensor) and bool(torch.isfinite(out).all())
                and float(out.double().max()) < 0.5 * float(expected.double().max())),
    ])


# ------------------------------------------------------------- softmax cross-entropy

def _ce_model(x: torch.Tensor, t: torch.Tensor, reduction: str, ignore_index: int = -100,
              eps: float = 0.0, off: str = "C", denom: str = "valid",
              smooth_ignored: bool = False, no_log: bool = False) -> torch.Tensor:
    """Cross-entropy with index targets, and its classic wrong variants, in float64.

    off: "C" (correct: eps/C on every class), "C-1" (eps/(C-1) on the others, 1 - eps on
    the true class), "others" (eps/C on the others only). denom: "valid" or "N".
    smooth_ignored: ignored rows still get the smoothing term. no_log: probabilities
    where log-probabilities belong.
    """
    logp = (torch.softmax if no_log else torch.log_softmax)(x.double(), dim=-1)
    tt = t
    if x.dim() == 1:
        logp, tt = logp[None], t.reshape(1)
    c = logp.shape[-1]
    valid = tt != ignore_index
    safe = torch.where(valid, tt, torch.zeros_like(tt))
    onehot = torch.zeros_like(logp).scatter_(-1, safe[:, None], 1.0)
    if off == "C":
        q = (1 - eps) * onehot + eps / c
    elif off == "C-1":
        q = (1 - eps) * onehot + (eps / (c - 1) if c > 1 else 0.0) * (1 - onehot)
    else:
        q = (1 - eps) * onehot + eps / c * (1 - onehot)
    rows = -(q * logp).sum(-1)
    smooth_rows = -(eps / c) * logp.sum(-1)
    rows = torch.where(valid, rows, smooth_rows if smooth_ignored else torch.zeros_like(rows))
    if reduction == "none":
        return rows.reshape(t.shape)
    if reduction == "sum":
        return rows.sum()
    return rows.sum() / (valid.sum() if denom == "valid" else rows.numel())


def _nll_like(v: torch.Tensor, t: torch.Tensor, reduction: str, ignore_index: int = -100) -> torch.Tensor:
    """nll_loss of any (N, C) / (C,) tensor v, in v's dtype."""
    vv, tt = (v[None], t.reshape(1)) if v.dim() == 1 else (v, t)
    valid = tt != ignore_index
    safe = torch.where(valid, tt, torch.zeros_like(tt))
    rows = torch.where(valid, -vv.gather(-1, safe[:, None]).squeeze(-1), torch.zeros((), dtype=vv.dtype,
                                                                                      device=vv.device))
    if reduction == "none":
        return rows.reshape(t.shape)
    if reduction == "sum":
        return rows.sum()
    return rows.sum() / valid.sum()


def _ce_mistakes(x: torch.Tensor, t: torch.Tensor, reduction: str, expected: torch.Tensor,
                 ignore_index: int = -100, eps: float = 0.0) -> list[Mistake]:
    """The known slips of cross_entropy with index targets, each recomputed for this case."""
    base = dict(reduction=reduction, ignore_index=ignore_index, eps=eps)

    def variant(**changes):
        return lambda: _like(_ce_model(x, t, **{**base, **changes}), expected)

    tt = t.reshape(-1)
    ignored = tt == ignore_index
    c = x.shape[-1]
    out = []
    if reduction != "none":
        other = "sum" if reduction == "mean" else "mean"
        out.append(Mistake(f"reduction={reduction!r} returned the {other}", value=variant(reduction=other)))
    if reduction == "mean" and bool(ignored.any()) and x.dim() == 2:
        out.append(Mistake("the mean divides by all N rows: ignored targets must not count in the denominator",
                           value=variant(denom="N")))
    if eps > 0 and bool(ignored.any()):
        out.append(Mistake("ignored rows still get the smoothing term: a row whose target is ignore_index "
                           "contributes nothing at all", value=variant(smooth_ignored=True)))
    if ignore_index != -100 and bool(ignored.any()):
        out.append(Mistake(f"ignore_index={ignore_index} was not honoured (a hard-coded -100?): rows whose "
                           f"target equals ignore_index contribute nothing", value=variant(ignore_index=-100)))
    if eps > 0:
        out += [
            Mistake(f"label smoothing puts eps/(C-1) on the other classes; torch puts eps/C on EVERY "
                    f"class, the true one included: target = (1 - eps) * onehot + eps / C (eps={eps}, C={c})",
                    value=variant(off="C-1")),
            Mistake(f"the true class must also get eps/C: target = (1 - eps) * onehot + eps / C "
                    f"(eps={eps}, C={c})", value=variant(off="others")),
            Mistake("label_smoothing is ignored (the result has no smoothing)", value=variant(eps=0.0)),
        ]
    out += [
        Mistake("the log of the softmax is missing: the loss uses the probabilities where "
                "log-probabilities belong (loss = -log softmax(x)[target])", value=variant(no_log=True)),
        Mistake("the softmax was applied twice (softmax of the probabilities, then the loss): "
                "cross_entropy takes raw logits",
                value=lambda: _like(_ce_model(torch.softmax(x.double(), -1), t, **base), expected)),
        Mistake("the loss has the wrong sign: loss = -log softmax(x)[target]",
                value=lambda: _like(-_ce_model(x, t, **base), expected)),
    ]
    return out


CE_FORMULA = ("no common slip matches: check one row by hand, loss_n = -(1 - eps) log softmax(x_n)[y_n] "
              "- (eps / C) sum_c log softmax(x_n)[c]; 'mean' divides by the number of non-ignored rows")


def _ignored_target_hint(err: StudentError, ignore_index: int) -> str | None:
    """A hint when the exception comes from using an ignored target as a class index: a
    negative ignore_index is out of range for every class, so gather, indexing and one-hot
    rows fail on it (a non-negative one is a valid index and raises nothing)."""
    if ignore_index >= 0:
        return None
    message = err.exc_message
    if (re.search(rf"\bindex {ignore_index} is out of bounds\b|\bid={ignore_index}\b", message)
            or re.search(r"\bclass values must be non-negative\b", message, flags=re.IGNORECASE)):
        return ignore_index_hint(ignore_index)
    return None


def _call_hinted(check, fn, hint: str | None, *args, **kwargs):
    """Call the student. An exception from indexing with an ignored target (the call's
    ignore_index, -100 by default) fails the case with a hint naming it; any other fails it
    with ``hint`` unless its message names its own cause; with no hint it propagates."""
    try:
        return fn(*args, **kwargs)
    except StudentError as err:
        if err.type_name == "NotImplementedError":
            raise
        found = (_ignored_target_hint(err, kwargs.get("ignore_index", -100))
                 or (specific_error_hint(err.type_name, err.exc_message) if hint else None) or hint)
        if found is None:
            raise
        check.fail(err.message, found)


@pytest.mark.parametrize("n,c", [(7, 5), (3, 11), (1, 4)], ids=["7x5", "3x11", "1x4"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy(student, reference, check, gen, device, dtype, n, c, reduction):
    x = (torch.randn(n, c, generator=gen, dtype=dtype) * 3).to(device)
    t = _random_classes(gen, n, c).to(device)
    expected = reference.losses.cross_entropy(x, t, reduction=reduction)
    actual = student.losses.cross_entropy(x, t, reduction=reduction)
    check.close(actual, expected, scale=_scale_of(x), mistakes=[
        *_ce_mistakes(x, t, reduction, expected),
        _scalar_fallback(expected, CE_FORMULA),
    ])


LARGE = [
    pytest.param("random", 1e3, 0.0, "mean", id="randn1e3-mean"),
    pytest.param("random", 1e3, 0.0, "none", id="randn1e3-none"),
    pytest.param("random", 1e4, 0.0, "none", id="randn1e4-none"),
    pytest.param("random", 1e4, 0.0, "sum", id="randn1e4-sum"),
    pytest.param("random", 1e3, 0.1, "none", id="randn1e3-smooth0.1"),
    pytest.param("gap", 1e3, 0.0, "none", id="gap1000-0-minus1000"),
    pytest.param("gap", 1e3, 0.0, "mean", id="gap1000-mean"),
    pytest.param("close", 1e3, 0.0, "none", id="1000-1001-1002"),
    pytest.param("close", 12345.0, 0.0, "none", id="12345-12346-12347"),
]


@pytest.mark.parametrize("kind,scale,eps,reduction", LARGE)
def test_cross_entropy_large_logits(student, reference, check, gen, device, dtype, kind, scale, eps,
                                    reduction):
    if kind == "random":
        x = torch.randn(6, 4, generator=gen, dtype=dtype) * scale
        t = _random_classes(gen, 6, 4)
    elif kind == "gap":  # one row per target: losses 0, 1000, 2000
        x = torch.tensor([[1000.0, 0.0, -1000.0]] * 3, dtype=dtype)
        t = torch.tensor([0, 1, 2])
    else:
        x = torch.tensor([[scale, scale + 1, scale + 2]] * 3, dtype=dtype)
        x[1] = -x[1]  # all logits very negative: exp underflows to 0 without the shift
        t = torch.tensor([0, 1, 2])
    x, t = x.to(device), t.to(device)
    expected = reference.losses.cross_entropy(x, t, reduction=reduction, label_smoothing=eps)
    actual = student.losses.cross_entropy(x, t, reduction=reduction, label_smoothing=eps)
    top = float(expected.double().max())
    check.close(actual, expected, scale=_scale_of(x), mistakes=[
        Mistake("nan for large logits: exp overflowed; subtract the row max before exp "
                "(log softmax = (x - max) - log(sum(exp(x - max))))", problem="nan"),
        Mistake("inf for a large logit gap: log(softmax(x)) takes log(0) when a probability "
                "underflows; use log-sum-exp: log softmax = (x - max) - log(sum(exp(x - max)))",
                problem="inf"),
        *_ce_mistakes(x, t, reduction, expected, eps=eps),
        Mistake("the loss caps for a large logit gap, as log(softmax(x) + eps) or a clamped probability "
                "does: compute log softmax directly as (x - max) - log(sum(exp(x - max)))",
                when=lambda out: isinstance(out, torch.Tensor) and bool(torch.isfinite(out).all())
                and out.numel() > 0 and top > 100 and 0 <= float(out.double().max()) < 0.5 * top),
        _scalar_fallback(expected, CE_FORMULA),
    ])


ONE_D = [
    pytest.param(0.0, "mean", "index", id="mean"),
    pytest.param(0.0, "sum", "index", id="sum"),
    pytest.param(0.0, "none", "index", id="none"),
    pytest.param(0.2, "mean", "index", id="smooth0.2"),
    pytest.param(0.0, "mean", "ignored", id="ignored-target-mean"),
    pytest.param(0.0, "none", "ignored", id="ignored-target-none"),
    pytest.param(0.0, "mean", "probs", id="prob-target"),
]

ONE_D_HINT = ("(C,) logits with a () target are one sample: treat them as a batch of one "
              "(x[None], target.reshape(1)) and return a 0-d loss for every reduction")


@pytest.mark.parametrize("eps,reduction,kind", ONE_D)
def test_cross_entropy_1d(student, reference, check, gen, device, dtype, eps, reduction, kind):
    c = 6
    x = (torch.randn(c, generator=gen, dtype=dtype) * 3).to(device)
    if kind == "probs":
        t = torch.softmax(torch.randn(c, generator=gen, dtype=torch.float64), -1).to(dtype).to(device)
    elif kind == "ignored":
        t = torch.tensor(-100).to(device)
    else:
        t = torch.randint(0, c, (), generator=gen).to(device)
    expected = reference.losses.cross_entropy(x, t, reduction=reduction, label_smoothing=eps)
    actual = _call_hinted(check, student.losses.cross_entropy, ONE_D_HINT, x, t, reduction=reduction,
                          label_smoothing=eps)
    mistakes = [Mistake(ONE_D_HINT, problem="shape")]
    if kind == "ignored":
        mistakes.append(Mistake("an ignored target leaves no terms: the mean is 0/0 = nan, as torch",
                                when=lambda out: reduction == "mean" and isinstance(out, torch.Tensor)
                                and not bool(torch.isnan(out).any())))
    elif kind == "probs":
        mistakes += _prob_mistakes(x, t, reduction, expected, eps)
    else:
        mistakes += _ce_mistakes(x, t, reduction, expected, eps=eps)
    mistakes.append(_scalar_fallback(expected, CE_FORMULA))
    check.close(actual, expected, scale=_scale_of(x), mistakes=mistakes)


IGNORE = [
    pytest.param(-100, "mean", "some", id="default-mean"),
    pytest.param(-100, "sum", "some", id="default-sum"),
    pytest.param(-100, "none", "some", id="default-none"),
    pytest.param(2, "mean", "some", id="custom2-mean"),
    pytest.param(2, "none", "some", id="custom2-none"),
    pytest.param(0, "sum", "some", id="custom0-sum"),
    pytest.param(-100, "mean", "all", id="all-ignored-mean"),
    pytest.param(-100, "sum", "all", id="all-ignored-sum"),
    pytest.param(-100, "none", "all", id="all-ignored-none"),
    pytest.param(-1, "mean", "all", id="all-ignored-custom-mean"),
]


@pytest.mark.parametrize("ignore_index,reduction,which", IGNORE)
def test_cross_entropy_ignore_index(student, reference, check, gen, device, dtype, ignore_index,
                                    reduction, which):
    n, c = 9, 5
    x = torch.randn(n, c, generator=gen, dtype=dtype) * 3
    t = _random_classes(gen, n, c)
    if which == "all":
        t[:] = ignore_index
    else:
        t[torch.tensor([1, 4, 5])] = ignore_index  # three ignored rows
        if ignore_index >= 0:  # some targets that are surely not ignore_index
            t[torch.tensor([0, 2])] = torch.tensor([(ignore_index + 1) % c, (ignore_index + 3) % c])
    x, t = x.to(device), t.to(device)
    kwargs = dict(reduction=reduction)
    if ignore_index != -100:
        kwargs["ignore_index"] = ignore_index
    expected = reference.losses.cross_entropy(x, t, **kwargs)
    actual = _call_hinted(check, student.losses.cross_entropy, None, x, t, **kwargs)
    mistakes = []
    if which == "all" and reduction == "mean":
        mistakes.append(Mistake(
            "every target is ignored, so the mean is 0/0 = nan (as torch); do not return 0 or "
            "guard the division",
            when=lambda out: isinstance(out, torch.Tensor) and not bool(torch.isnan(out).any())))
    mistakes += _ce_mistakes(x, t, reduction, expected, ignore_index=ignore_index)
    mistakes += [
        Mistake("nan in the result: ignored rows must give exactly 0 (do not index with the ignored "
                "target, mask it out)", problem="nan"),
        _scalar_fallback(expected, CE_FORMULA),
    ]
    check.close(actual, expected, scale=_scale_of(x), mistakes=mistakes)


SMOOTH = [
    pytest.param(0.1, "mean", False, id="0.1-mean"),
    pytest.param(0.1, "sum", False, id="0.1-sum"),
    pytest.param(0.1, "none", False, id="0.1-none"),
    pytest.param(1.0, "mean", False, id="1.0-mean"),
    pytest.param(1.0, "none", False, id="1.0-none"),
    pytest.param(0.1, "mean", True, id="0.1-ignored-mean"),
    pytest.param(0.1, "none", True, id="0.1-ignored-none"),
    pytest.param(0.3, "sum", True, id="0.3-ignored-sum"),
]


@pytest.mark.parametrize("eps,reduction,with_ignore", SMOOTH)
def test_cross_entropy_label_smoothing(student, reference, check, gen, device, dtype, eps, reduction,
                                       with_ignore):
    n, c = 8, 5
    x = torch.randn(n, c, generator=gen, dtype=dtype) * 2
    t = _random_classes(gen, n, c)
    if with_ignore:
        t[torch.tensor([2, 6])] = -100
    x, t = x.to(device), t.to(device)
    expected = reference.losses.cross_entropy(x, t, reduction=reduction, label_smoothing=eps)
    actual = _call_hinted(check, student.losses.cross_entropy, None, x, t, reduction=reduction, label_smoothing=eps)
    check.close(actual, expected, scale=_scale_of(x), mistakes=[
        *_ce_mistakes(x, t, reduction, expected, eps=eps),
        _scalar_fallback(expected, CE_FORMULA),
    ])


def _soft_ce64(x: torch.Tensor, p: torch.Tensor, eps: float) -> torch.Tensor:
    c = x.shape[-1]
    q = p.double() * (1 - eps) + eps / c
    return -(q * torch.log_softmax(x.double(), -1)).sum(-1)


def _prob_mistakes(x: torch.Tensor, p: torch.Tensor, reduction: str, expected: torch.Tensor,
                   eps: float) -> list[Mistake]:
    c = x.shape[-1]
    rows = _soft_ce64(x, p, eps)
    n_rows = rows.numel()
    out = []
    if reduction == "mean":
        out += [
            Mistake("with probability targets 'mean' averages over the rows (N, or 1 for (C,) logits), "
                    "not over all N*C entries", value=lambda: _like(rows.sum() / (n_rows * c), expected)),
            Mistake("reduction='mean' returned the sum over rows", value=lambda: _like(rows.sum(), expected)),
        ]
    elif reduction == "sum":
        out.append(Mistake("reduction='sum' returned the mean over rows", value=lambda: _like(rows.mean(), expected)))
    if eps:
        out += [
            Mistake("label_smoothing is ignored for probability targets: use target * (1 - eps) + eps / C",
                    value=lambda: _like(_reduce(_soft_ce64(x, p, 0.0), reduction), expected)),
            Mistake("smoothing probability targets adds eps / C to every class: target * (1 - eps) + eps / C",
                    value=lambda: _like(_reduce(_soft_ce64(x, p * (1 - eps), 0.0), reduction), expected)),
        ]
    out += [
        Mistake("the log of the softmax is missing: loss_n = -sum_c target[n, c] * log softmax(x[n])[c]",
                value=lambda: _like(_reduce(-((p.double() * (1 - eps) + eps / c)
                                              * torch.softmax(x.double(), -1)).sum(-1), reduction), expected)),
        Mistake("the softmax was applied twice: cross_entropy takes raw logits",
                value=lambda: _like(_reduce(_soft_ce64(torch.softmax(x.double(), -1), p, eps), reduction),
                                    expected)),
        Mistake("float targets of the input's shape are class probabilities: "
                "loss_n = -sum_c target[n, c] * log softmax(x[n])[c]", problem="shape"),
    ]
    return out


@pytest.mark.parametrize("eps", [0.0, 0.2], ids=["eps0", "eps0.2"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["soft", "onehot"])
def test_cross_entropy_prob_targets(student, reference, check, gen, device, dtype, eps, reduction, kind):
    n, c = 6, 4
    x = torch.randn(n, c, generator=gen, dtype=dtype) * 3
    if kind == "soft":
        p = torch.softmax(torch.randn(n, c, generator=gen, dtype=torch.float64) * 2, -1).to(dtype)
    else:
        p = torch.zeros(n, c, dtype=dtype)
        p[torch.arange(n), _random_classes(gen, n, c)] = 1.0
    x, p = x.to(device), p.to(device)
    expected = reference.losses.cross_entropy(x, p, reduction=reduction, label_smoothing=eps)
    actual = student.losses.cross_entropy(x, p, reduction=reduction, label_smoothing=eps)
    check.close(actual, expected, scale=_scale_of(x), mistakes=[
        *_prob_mistakes(x, p, reduction, expected, eps),
        _scalar_fallback(expected, "no common slip matches: with probability targets, loss_n = "
                                   "-sum_c t[n, c] log softmax(x_n)[c] with t = target * (1 - eps) + eps / C; "
                                   "'mean' divides by N"),
    ])


NLL = [
    pytest.param("logprobs", -100, "mean", False, id="logprobs-mean"),
    pytest.param("logprobs", -100, "sum", False, id="logprobs-sum"),
    pytest.param("logprobs", -100, "none", False, id="logprobs-none"),
    pytest.param("arbitrary", -100, "mean", False, id="arbitrary-mean"),
    pytest.param("arbitrary", -100, "none", False, id="arbitrary-none"),
    pytest.param("logprobs", -100, "mean", True, id="ignored-mean"),
    pytest.param("logprobs", 3, "mean", True, id="custom-ignore3-mean"),
    pytest.param("logprobs", 3, "none", True, id="custom-ignore3-none"),
    pytest.param("1d", -100, "none", False, id="1d-none"),
]


@pytest.mark.parametrize("kind,ignore_index,reduction,with_ignore", NLL)
def test_nll_loss(student, reference, check, gen, device, dtype, kind, ignore_index, reduction, with_ignore):
    n, c = 7, 6
    raw = torch.randn(n, c, generator=gen, dtype=torch.float64) * 2
    x = raw if kind == "arbitrary" else torch.log_softmax(raw, -1)
    t = _random_classes(gen, n, c)
    if with_ignore:
        t[torch.tensor([0, 3])] = ignore_index
        t[torch.tensor([1, 2])] = torch.tensor([(ignore_index + 1) % c, (ignore_index + 2) % c])
    if kind == "1d":
        x, t = x[0], t[0]
    x, t = x.to(dtype).to(device), t.to(device)
    kwargs = dict(reduction=reduction)
    if ignore_index != -100:
        kwargs["ignore_index"] = ignore_index
    expected = reference.losses.nll_loss(x, t, **kwargs)
    actual = _call_hinted(check, student.losses.nll_loss, ONE_D_HINT if kind == "1d" else None, x, t, **kwargs)
    xd = x.double()

    def nll(v, red=reduction, ign=ignore_index):
        return lambda: _like(_nll_like(v, t, red, ign), expected)

    mistakes = [
        Mistake("nll_loss takes log-probabilities already: do not apply log_softmax (or log) again",
                value=nll(torch.log_softmax(xd, -1))),
        Mistake("the loss has the wrong sign: l_n = -input[n, target[n]]", value=nll(-xd)),
    ]
    if reduction == "mean" and x.dim() == 2:
        if with_ignore:
            mistakes.append(Mistake(
                "the mean divides by all N rows: ignored targets must not count in the denominator",
                value=lambda: _like(_nll_like(xd, t, "sum", ignore_index) / n, expected)))
        mistakes.append(Mistake("reduction='mean' returned the sum", value=nll(xd, red="sum")))
    if ignore_index != -100:
        mistakes.append(Mistake(f"ignore_index={ignore_index} was not honoured (a hard-coded -100?)",
                                value=nll(xd, ign=-100)))
    mistakes += [
        Mistake(ONE_D_HINT, problem="shape"),
        _scalar_fallback(expected, "no common slip matches: l_n = -input[n, target[n]] (0 for ignored rows); "
                                   "'mean' divides by the number of non-ignored rows"),
    ]
    check.close(actual, expected, scale=_scale_of(x), mistakes=mistakes)



# ---------------------------------------------------------------- information theory

def _dist(gen: torch.Generator, shape: tuple[int, ...], zeros: bool, dtype: torch.dtype) -> torch.Tensor:
    """Random distributions on the last dim; with zeros, about a third of the entries are exactly 0."""
    logits = torch.randn(shape, generator=gen, dtype=torch.float64) * 1.5
    p = torch.softmax(logits, -1)
    if zeros:
        mask = torch.rand(shape, generator=gen) < 0.35
        mask[..., 0] = False  # every row keeps some mass
        p = torch.where(mask, torch.zeros_like(p), p)
        p = p / p.sum(-1, keepdim=True)
    return p.to(dtype)


def _xlogy_sum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.xlogy(a.double(), b.double()).sum(-1)


def _base_mistakes(h_nats: torch.Tensor, base, expected: torch.Tensor) -> list[Mistake]:
    if base is None:
        return [Mistake("without base the result is in nats (natural log), not bits",
                        value=lambda: _like(h_nats / math.log(2), expected))]
    lb = math.log(base)
    return [
        Mistake(f"base={base} was ignored: divide the natural-log result by ln(base)",
                value=lambda: _like(h_nats, expected)),
        Mistake(f"to change the base divide by ln(base), do not multiply (base={base})",
                value=lambda: _like(h_nats * lb, expected)),
        Mistake(f"divide by ln(base), not by log10(base) or log2(base) (base={base})",
                when=lambda out: isinstance(out, torch.Tensor) and any(
                    torch.allclose(out.double().cpu(), (h_nats / f(base)).cpu(), rtol=1e-4, atol=1e-6)
                    for f in (math.log10, math.log2) if abs(f(base) - lb) > 1e-6)),
    ]


ZERO_HINT = ("nan at zero probabilities: 0 * log 0 must count as 0 "
             "(torch.xlogy(p, p), or torch.where(p > 0, p * log(p), 0))")

INFO_CASES = [
    pytest.param((6,), False, None, id="C6"),
    pytest.param((5, 7), True, None, id="5x7-zeros"),
    pytest.param((2, 3, 4), True, 2, id="2x3x4-zeros-base2"),
    pytest.param((4, 5), False, 10, id="4x5-base10"),
    pytest.param((3, 6), True, 10, id="3x6-zeros-base10"),
]


@pytest.mark.parametrize("shape,zeros,base", INFO_CASES)
def test_entropy(student, reference, check, gen, device, dtype, shape, zeros, base):
    p = _dist(gen, shape, zeros, dtype)
    if len(shape) == 2:
        p[0] = 0.0
        p[0, 1] = 1.0  # a one-hot row: entropy exactly 0
    p = p.to(device)
    kwargs = {} if base is None else dict(base=base)
    expected = reference.losses.entropy(p, **kwargs)
    actual = student.losses.entropy(p, **kwargs)
    h = -_xlogy_sum(p, p).to(p.device)
    check.close(actual, expected, mistakes=[
        Mistake(ZERO_HINT, problem="nan"),
        Mistake("entropy is -sum p log p: the sign is wrong", value=lambda: _like(-h, expected)),
        Mistake("entropy is over the last dim per distribution, no reduction over rows", problem="shape"),
        *_base_mistakes(h, base, expected),
    ])


@pytest.mark.parametrize("shape,zeros,base", INFO_CASES)
def test_cross_entropy_dist(student, reference, check, gen, device, dtype, shape, zeros, base):
    p = _dist(gen, shape, zeros, dtype)
    q = _dist(gen, shape, False, dtype)
    if zeros:  # q = 0 where p = 0 too: that term is 0, not 0 * (-inf)
        q = torch.where(p == 0, torch.zeros_like(q), q)
    p, q = p.to(device), q.to(device)
    kwargs = {} if base is None else dict(base=base)
    expected = reference.losses.cross_entropy_dist(p, q, **kwargs)
    actual = student.losses.cross_entropy_dist(p, q, **kwargs)
    h = -_xlogy_sum(p, q).to(p.device)
    check.close(actual, expected, mistakes=[
        Mistake(ZERO_HINT.replace("0 * log 0", "p = 0 terms (even where q = 0)")
                .replace("xlogy(p, p)", "xlogy(p, q)").replace("p * log(p)", "p * log(q)"), problem="nan"),
        Mistake("the arguments are swapped: H(p, q) = -sum p log q, with p the true distribution",
                value=lambda: _like(-_xlogy_sum(q, p).to(p.device), expected)),
        Mistake("this is the entropy of p: H(p, q) = -sum p log q", value=lambda: _like(-_xlogy_sum(p, p).to(p.device),
                                                                                        expected)),
        Mistake("cross-entropy is -sum p log q: the sign is wrong", value=lambda: _like(-h, expected)),
        *_base_mistakes(h, base, expected),
    ])


KL_ZERO_HINT = ("a probability is 0 where it is divided by or logged: the KL term p log(p / q) is 0 where p = 0 "
                "(even where q = 0) and inf where p > 0 = q; never divide by q or take log 0, compute "
                "torch.xlogy(p, p) - torch.xlogy(p, q), or mask with torch.where(p > 0, ..., 0)")


def _zero_probability_call(check, fn, hint: str, *args, **kwargs):
    """Call an information-theory function; a division by a zero probability or log(0)
    (ZeroDivisionError, math domain error) fails the case with ``hint``, which names the
    zero probabilities rather than a step count."""
    try:
        return fn(*args, **kwargs)
    except StudentError as err:
        text = err.exc_message.lower()
        if err.is_a("ZeroDivisionError") or "division by zero" in text or "math domain error" in text:
            check.fail(err.message, hint)
        raise


KL_CASES = [
    pytest.param((6,), False, None, id="C6"),
    pytest.param((5, 7), True, None, id="5x7-zeros-in-p"),
    pytest.param((2, 3, 4), True, 2, id="2x3x4-zeros-base2"),
    pytest.param((4, 5), False, 10, id="4x5-base10"),
    pytest.param((4, 6), True, None, id="4x6-zeros-in-p-and-q"),
    pytest.param((3, 5), True, None, id="3x5-q-zero-where-p-positive"),
]


@pytest.mark.parametrize("shape,zeros,base", KL_CASES)
def test_kl_divergence(student, reference, check, request, gen, device, dtype, shape, zeros, base):
    p = _dist(gen, shape, zeros, dtype)
    q = _dist(gen, shape, False, dtype)
    cid = request.node.callspec.id
    if "p-and-q" in cid:  # q = 0 where p = 0: those terms are 0
        q = torch.where(p == 0, torch.zeros_like(q), q)
        q = q / q.sum(-1, keepdim=True)
    if "q-zero" in cid:  # p > 0 where q = 0 in row 0: KL is inf there
        q[0, 0] = 0.0
    p, q = p.to(device), q.to(device)
    kwargs = {} if base is None else dict(base=base)
    expected = reference.losses.kl_divergence(p, q, **kwargs)
    actual = _zero_probability_call(check, student.losses.kl_divergence, KL_ZERO_HINT, p, q, **kwargs)
    kl = (_xlogy_sum(p, p) - _xlogy_sum(p, q)).to(p.device)
    check.close(actual, expected, mistakes=[
        Mistake("KL is in the wrong direction: KL(p || q) = sum p (log p - log q), weighted by p; "
                "this computed KL(q || p)",
                value=lambda: _like((_xlogy_sum(q, q) - _xlogy_sum(q, p)).to(p.device), expected)),
        Mistake(ZERO_HINT.replace("0 * log 0", "terms with p = 0 (even where q = 0)")
                .replace("torch.xlogy(p, p)", "torch.xlogy(p, p) - torch.xlogy(p, q)"), problem="nan"),
        Mistake("KL(p || q) = sum p (log p - log q): the sign is wrong", value=lambda: _like(-kl, expected)),
        Mistake("KL is per distribution over the last dim, no reduction (not 'batchmean' or 'mean')",
                problem="shape"),
        *_base_mistakes(kl, base, expected),
    ])


PPL_CASES = [
    pytest.param("random", (5, 6), False, id="5x6"),
    pytest.param("random", (2, 3, 4), True, id="2x3x4-zeros-in-p"),
    pytest.param("uniform", (3, 7), True, id="uniform-q-gives-C"),
    pytest.param("onehot", (4, 5), False, id="one-hot-p-equals-q-gives-1"),
]


@pytest.mark.parametrize("kind,shape,zeros", PPL_CASES)
def test_perplexity(student, reference, check, gen, device, dtype, kind, shape, zeros):
    p = _dist(gen, shape, zeros, dtype)
    if kind == "uniform":
        q = torch.full(shape, 1.0 / shape[-1], dtype=dtype)
    elif kind == "onehot":
        p = torch.zeros(shape, dtype=dtype)
        p[torch.arange(shape[0]), _random_classes(gen, shape[0], shape[-1])] = 1.0
        q = p.clone()
    else:
        q = _dist(gen, shape, False, dtype)
    p, q = p.to(device), q.to(device)
    expected = reference.losses.perplexity(p, q)
    actual = student.losses.perplexity(p, q)
    h = -_xlogy_sum(p, q).to(p.device)
    check.close(actual, expected, mistakes=[
        Mistake("perplexity = exp(H(p, q)) with H in nats (or 2 ** H in bits): the log base and the "
                "exponent's base must match", value=lambda: _like(2 ** h, expected)),
        Mistake("perplexity = exp(H(p, q)) with H in nats: this is exp of H in bits",
                value=lambda: _like(torch.exp(h / math.log(2)), expected)),
        Mistake("this is exp of the entropy of p: perplexity uses the cross-entropy H(p, q) = -sum p log q",
                value=lambda: _like(torch.exp(-_xlogy_sum(p, p).to(p.device)), expected)),
        Mistake("the arguments are swapped: perplexity(p, q) = exp(-sum p log q)",
                value=lambda: _like(torch.exp(-_xlogy_sum(q, p).to(p.device)), expected)),
        Mistake("perplexity is exp(H), not H", value=lambda: _like(h, expected)),
        Mistake(ZERO_HINT.replace("0 * log 0", "terms with p = 0").replace("xlogy(p, p)", "xlogy(p, q)")
                .replace("p * log(p)", "p * log(q)"), problem="nan"),
    ])


# -------------------------------------------------------------------- bad arguments

def _call_args(name: str, gen: torch.Generator, device: str):
    if name in ("cross_entropy", "nll_loss"):
        x = torch.randn(4, 3, generator=gen)
        if name == "nll_loss":
            x = torch.log_softmax(x, -1)
        return x.to(device), torch.tensor([0, 2, 1, 2]).to(device)
    if name in ("entropy",):
        return (torch.softmax(torch.randn(3, 4, generator=gen), -1).to(device),)
    if name in ("cross_entropy_dist", "kl_divergence", "perplexity"):
        return (torch.softmax(torch.randn(3, 4, generator=gen), -1).to(device),
                torch.softmax(torch.randn(3, 4, generator=gen), -1).to(device))
    if name == "binary_cross_entropy":
        return (torch.rand(3, 4, generator=gen) * 0.9 + 0.05).to(device), torch.rand(3, 4, generator=gen).to(device)
    return torch.randn(3, 4, generator=gen).to(device), torch.randn(3, 4, generator=gen).to(device)


BAD_REDUCTION = [
    ("mse_loss", "avg"),
    ("l1_loss", "MEAN"),
    ("huber_loss", "batchmean"),
    ("binary_cross_entropy", "average"),
    ("binary_cross_entropy_with_logits", "elementwise_mean"),
    ("cross_entropy", "batchmean"),
    ("nll_loss", "mean "),
]


@pytest.mark.parametrize("name,bad", BAD_REDUCTION, ids=[n for n, _ in BAD_REDUCTION])
def test_bad_reduction(student, check, gen, device, name, bad):
    args = _call_args(name, gen, device)
    with check.raises(ValueError, match="reduction",
                      hint="check reduction against 'mean', 'sum' and 'none' and raise "
                           "ValueError naming reduction for anything else"):
        getattr(student.losses, name)(*args, reduction=bad)


BAD_ARGS = [
    ("huber_loss", dict(delta=0.0), "delta"),
    ("huber_loss", dict(delta=-1.0), "delta"),
    ("cross_entropy", dict(label_smoothing=-0.1), "label_smoothing"),
    ("cross_entropy", dict(label_smoothing=1.5), "label_smoothing"),
]


@pytest.mark.parametrize("name,kwargs,arg", BAD_ARGS,
                         ids=[f"{n}-{k}={v}" for n, kw, _ in BAD_ARGS for k, v in kw.items()])
def test_bad_arguments(student, check, gen, device, name, kwargs, arg):
    args = _call_args(name, gen, device)
    with check.raises(ValueError, match=arg,
                      hint=f"validate {arg} ({'> 0' if arg == 'delta' else 'in [0, 1]'}) and raise "
                           f"ValueError naming {arg}"):
        getattr(student.losses, name)(*args, **kwargs)


OUT_OF_RANGE = [
    pytest.param("cross_entropy", [0, 2, 3, 1], {}, id="ce-index-C"),
    pytest.param("cross_entropy", [0, -1, 2, 1], {}, id="ce-index-minus1"),
    pytest.param("cross_entropy", [0, -100, 2, 1], dict(ignore_index=1), id="ce-minus100-not-ignored"),
    pytest.param("nll_loss", [0, 7, 2, 1], {}, id="nll-index-7"),
    pytest.param("nll_loss", [0, 1, -2, 1], {}, id="nll-index-minus2"),
]


@pytest.mark.parametrize("name,target,kwargs", OUT_OF_RANGE)
def test_class_index_out_of_range(student, check, gen, device, name, target, kwargs):
    x, _ = _call_args(name, gen, device)  # C = 3 classes
    t = torch.tensor(target).to(device)
    with check.raises(ValueError, match="target|class|index|range",
                      hint="check that every target is in [0, C) or equals ignore_index, and raise "
                           "ValueError naming target (negative indices must not wrap around)"):
        getattr(student.losses, name)(x, t, **kwargs)


# ------------------------------------------------------------------ inputs unchanged

INFO_FUNCTIONS = ("entropy", "cross_entropy_dist", "kl_divergence", "perplexity")

UNCHANGED = [
    ("mse_loss", {}),
    ("l1_loss", {}),
    ("huber_loss", dict(delta=0.5)),
    ("binary_cross_entropy", {}),
    ("binary_cross_entropy_with_logits", {}),
    ("cross_entropy", dict(label_smoothing=0.1)),
    ("cross_entropy", dict(ignore_index=1)),
    ("nll_loss", {}),
    ("entropy", {}),
    ("cross_entropy_dist", {}),
    ("kl_divergence", {}),
    ("perplexity", {}),
]


@pytest.mark.parametrize("name,kwargs", UNCHANGED,
                         ids=[n + "".join(f"-{k}" for k in kw) for n, kw in UNCHANGED])
def test_inputs_unchanged(student, check, gen, device, name, kwargs):
    args = _call_args(name, gen, device)
    if name == "cross_entropy":
        args = (args[0] * 5, args[1])  # logits the student might shift in place
    record = getattr(student.losses, name).inspect_call(*args, **kwargs)
    names = ("p", "q") if name in INFO_FUNCTIONS else ("input", "target")
    for arg_name, before, after in zip(names, args, record.args):
        check.unchanged(before, after, arg_name, record.findings)


# --------------------------------------------------------------------------- on the GPU

def _device_case(gen: torch.Generator, case: str):
    """(function name, args, kwargs) of one on_device case, in float64 (the case is about
    devices, not rounding)."""
    x = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    probs = torch.rand(6, 4, generator=gen, dtype=torch.float64) * 0.9 + 0.05
    labels = (torch.rand(6, 4, generator=gen) < 0.5).double()
    classes = torch.randint(0, 4, (6,), generator=gen)
    dist = torch.softmax(torch.randn(3, 5, generator=gen, dtype=torch.float64), dim=-1)
    with_zeros = dist.clone()
    with_zeros[0, 1] = 0.0
    with_zeros = with_zeros / with_zeros.sum(-1, keepdim=True)
    ignored = classes.clone()
    ignored[1] = -100
    soft = torch.softmax(torch.randn(6, 4, generator=gen, dtype=torch.float64), dim=-1)
    return {
        "mse_loss": ("mse_loss", (x, probs), dict(reduction="none")),
        "l1_loss": ("l1_loss", (x, probs), {}),
        "huber_loss": ("huber_loss", (x * 2, probs), dict(delta=0.5, reduction="sum")),
        "binary_cross_entropy": ("binary_cross_entropy", (probs, labels), {}),
        "binary_cross_entropy_with_logits": ("binary_cross_entropy_with_logits", (x * 3, labels), {}),
        "cross_entropy": ("cross_entropy", (x, classes), {}),
        "cross_entropy-ignore-smoothing": ("cross_entropy", (x, ignored), dict(label_smoothing=0.1, reduction="sum")),
        "cross_entropy-probabilities": ("cross_entropy", (x, soft), dict(label_smoothing=0.2)),
        "cross_entropy-1d": ("cross_entropy", (x[0], classes[0]), {}),
        "nll_loss": ("nll_loss", (torch.log_softmax(x, dim=1), ignored), dict(reduction="none")),
        "entropy": ("entropy", (with_zeros,), dict(base=2)),
        "cross_entropy_dist": ("cross_entropy_dist", (dist, with_zeros.flip(-1) * 0.5 + dist * 0.5), {}),
        "kl_divergence": ("kl_divergence", (with_zeros, dist), {}),
        "perplexity": ("perplexity", (dist, dist.flip(-1)), {}),
    }[case]


DEVICE_CASES = ["mse_loss", "l1_loss", "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
                "cross_entropy", "cross_entropy-ignore-smoothing", "cross_entropy-probabilities",
                "cross_entropy-1d", "nll_loss", "entropy", "cross_entropy_dist", "kl_divergence", "perplexity"]


@pytest.mark.parametrize("case", DEVICE_CASES)
def test_on_device(student, reference, check, gen, case):
    """Every loss on the simulated GPU: the result stays there (no .cpu(), no tensor made
    without device=, no class weights or smoothing targets built on the CPU) and matches
    the reference's."""
    name, args, kwargs = _device_case(gen, case)
    actual = on_device(check, student, getattr(student.losses, name), *args, what=name, **kwargs)
    check.close(actual, getattr(reference.losses, name)(*args, **kwargs), what=name)
