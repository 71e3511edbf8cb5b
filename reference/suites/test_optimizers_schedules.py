"""Hidden suite for optimizers.py: learning-rate schedules and gradient clipping.

Schedules are pure functions of the step t returning Python floats: each is checked at
many t, including t = 0, the steps around every boundary, and t well past total_steps.
Clipping functions take parameters whose .grad they change in place; the grader builds
those parameters beside the student's code with ``harness.run_clipping`` and compares
the return value and the gradients afterwards with the reference's.
"""

from __future__ import annotations

import math

import pytest
import torch

from grader import harness
from grader.compare import compare
from grader.diagnosis import Mistake
from grader.errors import StudentError

pytestmark = pytest.mark.topic("optimizers")


# ----------------------------------------------------------------------------- schedules


def _call_text(fn, t, kwargs):
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"{fn}({t}, {args})"


def check_schedule(check, student, reference, fn, lr0, ts, kwargs, slips=None, error_hints=()):
    """Call student and reference at every t; report the first t that differs.

    ``slips`` maps a hint to a function (t -> value) giving what the slip returns.
    """
    slips = slips or {}
    for t in ts:
        try:
            got = getattr(student.optimizers, fn)(t, lr0, **kwargs)
        except StudentError as err:
            for needle, hint in error_hints:
                if needle.lower() in err.exc_message.lower():
                    check.fail(f"{_call_text(fn, t, dict(lr0=lr0, **kwargs))} raised "
                               f"{err.type_name}: {err.exc_message[:150]}", hint)
            raise
        want = getattr(reference.optimizers, fn)(t, lr0, **kwargs)
        if not compare(got, want).ok:
            mistakes = [Mistake(hint, value=float(f(t))) for hint, f in slips.items() if _finite(f, t)]
            check.close(got, want, what=_call_text(fn, t, dict(lr0=lr0, **kwargs)), mistakes=mistakes)


def _finite(f, t):
    try:
        return math.isfinite(float(f(t)))
    except (ZeroDivisionError, OverflowError, ValueError):
        return False


def _ts(k, span=3):
    """Steps to probe for a schedule with period or horizon k."""
    base = {0, 1, k - 1, k, k + 1, 2 * k, span * k + 2, 10 * k + 3}
    return sorted(t for t in base if t >= 0)


@pytest.mark.parametrize("lr0,step_size,gamma", [(0.1, 5, 0.5), (0.3, 7, 0.1), (1.0, 1, 0.9)])
def test_step_decay(student, reference, check, lr0, step_size, gamma):
    slips = {
        "off by one: the first decay happens at t = step_size (lr0 * gamma^floor(t / step_size))":
            lambda t: lr0 * gamma ** math.floor((t + 1) / step_size),
        "the exponent is floor(t / step_size), a whole number of periods, not t / step_size":
            lambda t: lr0 * gamma ** (t / step_size),
        "decay every step_size steps: the exponent is floor(t / step_size), not t":
            lambda t: lr0 * gamma**t,
    }
    check_schedule(check, student, reference, "step_decay", lr0, _ts(step_size),
                   dict(step_size=step_size, gamma=gamma), slips)


@pytest.mark.parametrize("lr0,gamma", [(0.1, 0.9), (0.5, 0.99)])
def test_exponential_decay(student, reference, check, lr0, gamma):
    slips = {"off by one: at t = 0 the rate is lr0 (lr0 * gamma^t)": lambda t: lr0 * gamma ** (t + 1)}
    check_schedule(check, student, reference, "exponential_decay", lr0, _ts(10), dict(gamma=gamma), slips)


@pytest.mark.parametrize("lr0,lr_end,total_steps", [(0.1, 0.001, 10), (1.0, 0.2, 7), (0.05, 0.0, 1)])
def test_linear_decay(student, reference, check, lr0, lr_end, total_steps):
    k = total_steps
    slips = {
        "past total_steps the rate stays at lr_end (clamp t at total_steps)":
            lambda t: (1 - t / k) * lr0 + (t / k) * lr_end,
        "off by one: at t = 0 the rate is lr0 and at t = total_steps it is lr_end":
            lambda t: lr_end if t + 1 >= k else (1 - (t + 1) / k) * lr0 + ((t + 1) / k) * lr_end,
        "lr_end was ignored: the rate goes from lr0 to lr_end, (1 - t/K) lr0 + (t/K) lr_end":
            lambda t: max(0.0, 1 - t / k) * lr0,
    }
    check_schedule(check, student, reference, "linear_decay", lr0, _ts(k),
                   dict(lr_end=lr_end, total_steps=total_steps), slips)


@pytest.mark.parametrize("lr0,s,c", [(0.1, 10.0, -0.5), (0.5, 3.0, -1.0), (0.2, 0.5, -2.0)])
def test_power_decay(student, reference, check, lr0, s, c):
    slips = {
        "use the exponent c as given: lr0 * (1 + t/s)^c (c < 0 makes it decay)":
            lambda t: lr0 * (1 + t / s) ** (-c),
        "the time scale divides t: lr0 * (1 + t/s)^c, not lr0 * (1 + t*s)^c":
            lambda t: lr0 * (1 + t * s) ** c,
        "s divides t inside the bracket: lr0 * (1 + t/s)^c, not lr0 * ((1 + t)/s)^c":
            lambda t: lr0 * ((1 + t) / s) ** c,
    }
    check_schedule(check, student, reference, "power_decay", lr0, _ts(10), dict(s=s, c=c), slips)


@pytest.mark.parametrize("lr0,total_steps,lr_min", [(0.1, 10, 0.0), (1.0, 7, 0.1), (0.3, 1, 0.01)])
def test_cosine_decay(student, reference, check, lr0, total_steps, lr_min):
    k = total_steps

    def cos(t):
        return lr_min + (lr0 - lr_min) * (1 + math.cos(math.pi * t / k)) / 2

    slips = {
        "past total_steps the rate stays at lr_min (clamp t at total_steps); the cosine must not rise again":
            cos,
        "lr_min was ignored: lr_min + (lr0 - lr_min) * (1 + cos(pi t / K)) / 2":
            lambda t: lr0 * (1 + math.cos(math.pi * min(t, k) / k)) / 2,
        "off by one: at t = 0 the rate is lr0":
            lambda t: cos(min(t + 1, k)),
        "the cosine goes from 0 to pi over total_steps (pi * t / K), not 0 to 2 pi":
            lambda t: lr_min + (lr0 - lr_min) * (1 + math.cos(2 * math.pi * min(t, k) / k)) / 2,
    }
    check_schedule(check, student, reference, "cosine_decay", lr0, _ts(k),
                   dict(total_steps=total_steps, lr_min=lr_min), slips)


@pytest.mark.parametrize("d_model,warmup_steps", [(512, 10), (64, 4), (16, 1)])
def test_inverse_sqrt_warmup(student, reference, check, d_model, warmup_steps):
    w = warmup_steps
    ts = _ts(w)
    slips = {
        "off by one: n = t + 1, so the rate is already > 0 at t = 0":
            lambda t: 0.0 if t == 0 else d_model**-0.5 * min(t**-0.5, t * w**-1.5),
        "take the MIN of the two branches: n^-0.5 after warm-up, n * warmup^-1.5 during it":
            lambda t: d_model**-0.5 * max((t + 1) ** -0.5, (t + 1) * w**-1.5),
        "the factor is d_model^-0.5 (one over the square root of d_model)":
            lambda t: min((t + 1) ** -0.5, (t + 1) * w**-1.5),
    }
    off_by_one = "off by one: n = t + 1, so t = 0 must not divide by zero"
    hints = [("division by zero", off_by_one),
             ("cannot be raised to a negative power", off_by_one),  # 0 ** -0.5
             ("math domain error", off_by_one)]  # math.pow(0, -0.5)
    for t in ts:  # this schedule has no lr0: call it with its own arguments
        try:
            got = student.optimizers.inverse_sqrt_warmup(t, d_model, warmup_steps=warmup_steps)
        except StudentError as err:
            for needle, hint in hints:
                if needle in err.exc_message:
                    check.fail(f"inverse_sqrt_warmup({t}, {d_model}, warmup_steps={w}) raised "
                               f"{err.type_name}: {err.exc_message[:150]}", hint)
            raise
        want = reference.optimizers.inverse_sqrt_warmup(t, d_model, warmup_steps=warmup_steps)
        if not compare(got, want).ok:
            mistakes = [Mistake(h, value=float(f(t))) for h, f in slips.items() if _finite(f, t)]
            check.close(got, want, what=f"inverse_sqrt_warmup({t}, {d_model}, warmup_steps={w})",
                        mistakes=mistakes)


BAD_SCHEDULE_CALLS = [
    ("step_decay", (-1, 0.1), dict(step_size=5), r"\bt\b"),
    ("step_decay", (3, 0.1), dict(step_size=0), "step_size"),
    ("exponential_decay", (-2, 0.1), dict(gamma=0.9), r"\bt\b"),
    ("linear_decay", (-1, 0.1), dict(lr_end=0.0, total_steps=10), r"\bt\b"),
    ("linear_decay", (3, 0.1), dict(lr_end=0.0, total_steps=0), "total_steps"),
    ("power_decay", (-1, 0.1), dict(s=10.0, c=-0.5), r"\bt\b"),
    ("power_decay", (3, 0.1), dict(s=0.0, c=-0.5), r"\bs\b"),
    ("cosine_decay", (-1, 0.1), dict(total_steps=10), r"\bt\b"),
    ("cosine_decay", (3, 0.1), dict(total_steps=0), "total_steps"),
    ("inverse_sqrt_warmup", (-1, 512), dict(warmup_steps=10), r"\bt\b"),
    ("inverse_sqrt_warmup", (3, 0), dict(warmup_steps=10), "d_model"),
    ("inverse_sqrt_warmup", (3, 512), dict(warmup_steps=0), "warmup_steps"),
]


@pytest.mark.parametrize(
    "fn,args,kwargs,match", BAD_SCHEDULE_CALLS,
    ids=[f"{fn}-bad_{m.replace(chr(92) + 'b', '')}" for fn, _, _, m in BAD_SCHEDULE_CALLS],
)
def test_schedule_bad_arguments(student, check, fn, args, kwargs, match):
    with check.raises(ValueError, match=match,
                      hint="raise ValueError naming the argument: t >= 0, step_size/total_steps/"
                           "d_model/warmup_steps >= 1, s > 0"):
        getattr(student.optimizers, fn)(*args, **kwargs)


# ----------------------------------------------------------------------------- clipping


def _grads(gen, shapes, dtype, device, scale=1.0):
    return [None if s is None else (torch.randn(s, generator=gen, dtype=torch.float64) * scale).to(dtype).to(device)
            for s in shapes]


def _norm(g, p):
    g = g.to("cpu", torch.float64)
    return float(g.abs().max()) if math.isinf(p) else float((g.abs() ** p).sum() ** (1.0 / p))


def _clip_slips(grads, max_norm, p):
    """What known slips of clip_grad_norm_ return: (hint, result-or-None, grads-or-None)."""
    present = [g for g in grads if g is not None]
    norms = [_norm(g, p) for g in present]
    total = max(norms) if math.isinf(p) else sum(n**p for n in norms) ** (1 / p)
    first = present[0]

    def scaled(coefs):
        it = iter(coefs)
        return [None if g is None else (g.to("cpu", torch.float64) * next(it)).to(g.dtype).to(g.device)
                for g in grads]

    def tensor(x):
        return torch.tensor(x, dtype=first.dtype, device=first.device)

    per_tensor = scaled([min(max_norm / (n + 1e-6), 1.0) for n in norms])
    always = scaled([max_norm / (total + 1e-6)] * len(norms))
    no_eps = scaled([min(max_norm / total, 1.0)] * len(norms))
    summed = sum(norms)
    by_sum = scaled([min(max_norm / (summed + 1e-6), 1.0)] * len(norms))
    return [
        ("clip by the GLOBAL norm of all gradients together, not each tensor by its own norm",
         None, per_tensor),
        ("the total norm is the p-norm of the per-tensor norms (sqrt of the sum of squares for p = 2), "
         "not their sum", tensor(summed), by_sum),
        ("return the total norm measured BEFORE clipping", tensor(min(total, max_norm)), None),
        ("clip only when the total norm exceeds max_norm: coef = min(max_norm / (total + 1e-6), 1)",
         None, always),
        ("torch divides by (total + 1e-6): coef = max_norm / (total + 1e-6)", None, no_eps),
        ("norm_type was ignored: use the p-norm it names (inf: the largest |g|)",
         tensor(sum(float((g.to('cpu', torch.float64) ** 2).sum()) for g in present) ** 0.5), None),
    ]


def run_clip(check, student, fn, grads, kwargs):
    try:
        return student.harness.run_clipping(getattr(student.optimizers, fn), grads, kwargs)
    except StudentError as err:
        if "NoneType" in err.exc_message:
            check.fail(err.message, "skip parameters whose .grad is None")
        raise


def check_clipping(check, got, want, fn, grads, kwargs, slips=(), rtol=None, atol=None):
    """Compare the return value and the gradients afterwards; name a slip the student matches.

    A slip is named only where it differs from the right answer for this case and the
    student's value is much closer to it than to the right answer.
    """
    call = f"{fn}(parameters with grads {_shapes(grads)}, {', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    if not isinstance(got, dict) or "result" not in got or not isinstance(got.get("grads"), list):
        check.fail(f"{call}: the call returned nothing usable")
    for key, index, what in (("result", 1, f"the value returned by {call}"),
                             ("grads", 2, f"the gradients after {call} (list of grads)")):
        actual, expected = got[key], want[key]
        mistakes = [Mistake(slip[0], when=_closer(actual, expected, slip[index]))
                    for slip in slips if slip[index] is not None]
        check.close(actual, expected, what=what, mistakes=mistakes, rtol=rtol, atol=atol)


def _flat(value):
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float64).reshape(-1)
    if isinstance(value, (list, tuple)):
        parts = [_flat(v) for v in value if v is not None]
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)
    raise TypeError("not a tensor")


def _closer(actual, expected, candidate):
    """Predicate: candidate differs from expected, and actual is far closer to candidate."""
    def when(_out):
        try:
            a, e, c = _flat(actual), _flat(expected), _flat(candidate)
        except TypeError:
            return False
        if a.shape != e.shape or c.shape != e.shape:
            return False
        off = float((c - e).abs().max()) if e.numel() else 0.0
        scale = float(e.abs().max()) if e.numel() else 1.0
        return off > 1e-6 * scale and float((a - c).abs().max()) < 0.01 * off

    return when


def _shapes(grads):
    return "[" + ", ".join("None" if g is None else "x".join(map(str, g.shape)) for g in grads) + "]"


def _ref_clip(reference, fn, grads, kwargs):
    return harness.run_clipping(getattr(reference.optimizers, fn), grads, kwargs)


@pytest.mark.parametrize("shapes,ratio", [
    ([(3, 4), (5,), (2, 3, 2)], 0.3),
    ([(7,), None, (4, 2)], 0.8),
    ([(6, 3)], 0.05),
], ids=["three-tensors", "with-None-grad", "one-tensor"])
def test_clip_grad_norm(student, reference, check, gen, device, dtype, shapes, ratio):
    grads = _grads(gen, shapes, dtype, device)
    total = sum(_norm(g, 2.0) ** 2 for g in grads if g is not None) ** 0.5
    kwargs = dict(max_norm=round(ratio * total, 3))
    got = run_clip(check, student, "clip_grad_norm_", grads, kwargs)
    want = _ref_clip(reference, "clip_grad_norm_", grads, kwargs)
    # float64: rtol 1e-6, so that a missing + 1e-6 (which changes the result by 1e-6 / total)
    # is charged to test_clip_grad_norm_small only
    check_clipping(check, got, want, "clip_grad_norm_", grads, kwargs,
                   _clip_slips(grads, kwargs["max_norm"], 2.0)[:5], rtol=1e-5 if dtype == torch.float32 else 1e-6)


@pytest.mark.parametrize("shapes,scale,max_norm", [
    ([(3, 4), (5,)], 1e-3, 1e-4),
    ([(2, 5), (3,)], 1e-4, 5e-5),
], ids=["norm-1e-2", "norm-1e-3"])
def test_clip_grad_norm_small(student, reference, check, gen, device, dtype, shapes, scale, max_norm):
    """Small gradients: the + 1e-6 in max_norm / (total + 1e-6) matters."""
    grads = _grads(gen, shapes, dtype, device, scale)
    kwargs = dict(max_norm=max_norm)
    got = run_clip(check, student, "clip_grad_norm_", grads, kwargs)
    want = _ref_clip(reference, "clip_grad_norm_", grads, kwargs)
    # the clipped gradients are about max_norm in size: scale the absolute tolerance with it
    atol = (1e-6 if dtype == torch.float32 else 1e-10) * max_norm
    check_clipping(check, got, want, "clip_grad_norm_", grads, kwargs, _clip_slips(grads, max_norm, 2.0)[:5],
                   atol=atol)


@pytest.mark.parametrize("shapes,factor", [
    ([(3, 4), (5,)], 1.5),
    ([(4,), None, (2, 2)], 20.0),
], ids=["1.5x-norm", "20x-norm"])
def test_clip_grad_norm_below_threshold(student, reference, check, gen, device, dtype, shapes, factor):
    """Below max_norm the gradients are left as they are; the total norm is still returned."""
    grads = _grads(gen, shapes, dtype, device)
    total = sum(_norm(g, 2.0) ** 2 for g in grads if g is not None) ** 0.5
    kwargs = dict(max_norm=round(factor * total, 3))
    got = run_clip(check, student, "clip_grad_norm_", grads, kwargs)
    want = _ref_clip(reference, "clip_grad_norm_", grads, kwargs)
    check_clipping(check, got, want, "clip_grad_norm_", grads, kwargs, _clip_slips(grads, kwargs["max_norm"], 2.0),
                   rtol=1e-5 if dtype == torch.float32 else 1e-6)


@pytest.mark.parametrize("norm_type", [math.inf, 1.0, 3.0], ids=["inf", "1", "3"])
def test_clip_grad_norm_types(student, reference, check, gen, device, dtype, norm_type):
    grads = _grads(gen, [(3, 4), (6,), (2, 2)], dtype, device)
    present = [g for g in grads if g is not None]
    norms = [_norm(g, norm_type) for g in present]
    total = max(norms) if math.isinf(norm_type) else sum(n**norm_type for n in norms) ** (1 / norm_type)
    kwargs = dict(max_norm=round(0.4 * total, 3), norm_type=norm_type)
    got = run_clip(check, student, "clip_grad_norm_", grads, kwargs)
    want = _ref_clip(reference, "clip_grad_norm_", grads, kwargs)
    slips = _clip_slips(grads, kwargs["max_norm"], norm_type)
    check_clipping(check, got, want, "clip_grad_norm_", grads, kwargs, [slips[-1]] + slips[:-1],
                   rtol=1e-5 if dtype == torch.float32 else 1e-6)


@pytest.mark.parametrize("shapes,clip_value", [
    ([(3, 4), (5,)], 0.5),
    ([(2, 3), None, (4,)], 1.2),
    ([(8,)], 0.05),
], ids=["two-tensors", "with-None-grad", "small-clip"])
def test_clip_grad_value(student, reference, check, gen, device, dtype, shapes, clip_value):
    grads = _grads(gen, shapes, dtype, device)
    kwargs = dict(clip_value=clip_value)
    got = run_clip(check, student, "clip_grad_value_", grads, kwargs)
    want = _ref_clip(reference, "clip_grad_value_", grads, kwargs)

    def clamp(lo):
        return [None if g is None else g.clamp(lo, clip_value) for g in grads]

    slips = [
        ("clamp into [-clip_value, clip_value]: negative gradients are clipped at -clip_value, not 0",
         None, clamp(0.0)),
        ("clamp each element; do not rescale the whole gradient", None,
         [None if g is None else g * min(1.0, clip_value / float(g.abs().max())) for g in grads]),
    ]
    check_clipping(check, got, want, "clip_grad_value_", grads, kwargs, slips)


@pytest.mark.parametrize("fn,kwargs,match", [
    ("clip_grad_norm_", dict(max_norm=-1.0), "max_norm"),
    ("clip_grad_value_", dict(clip_value=-0.5), "clip_value"),
], ids=["max_norm", "clip_value"])
def test_clip_bad_arguments(student, check, gen, fn, kwargs, match):
    grads = [torch.randn(3, generator=gen, dtype=torch.float64)]
    with check.raises(ValueError, match=match, hint=f"raise ValueError naming {match} when it is negative"):
        student.harness.run_clipping(getattr(student.optimizers, fn), grads, kwargs)
