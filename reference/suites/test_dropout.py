"""Hidden suite for dropout.py: inverted dropout, its backward pass and Gaussian noise.

Dropout is random, so it is graded by distribution and consistency, never by the
random stream: any correct way of drawing the mask passes.

- Deterministic parts are exact. The survivors of a forward pass must equal
  x / (1 - p) (to rounding) and every other output must be 0; the expected values are
  the reference's scaling applied to the mask the student's own call drew (read off
  as out != 0, with inputs that are never 0). The backward pass must be
  dout * mask / (1 - p) for that same mask.
- The cache belongs to the student (a tensor, a numpy array, a tuple, any object): it
  never leaves the worker. The forward and backward passes run there in one call
  (harness.run_layer), so the cache reaches dropout_backward exactly as it was made.
- Random parts are checked against their sampling distribution. Every statistical
  check accepts a correct implementation with probability at least 1 - 1e-7 (bounds
  from the exact binomial distribution, the exact Gaussian mean, or the Laurent and
  Massart chi-square inequality; see grader.harness_dropout), and no test case makes
  more than three such checks, so a correct submission fails a case with probability
  below 1e-6.
- Randomness comes only from the generator: the same generator state gives the same
  output, another seed another output, and torch's global generator neither shapes the
  output nor is moved by the call (seen in values only: outputs under two global seeds,
  and a global draw right after the call against the same draw without it).
- Identity cases (evaluation, p = 0, std = 0) must return x's values exactly. Returning
  x itself is accepted, as torch does; the caller's x must be unchanged either way.
"""

from __future__ import annotations

import math

import pytest
import torch

from grader.device_check import on_device
from grader.diagnosis import Mistake, error_hint, specific_error_hint
from grader.errors import StudentError
from grader.harness_dropout import binomial_interval, chi2_mean_interval, gaussian_z

FAIL_PROB = 1e-7  # per statistical check: P(a correct implementation fails it) <= FAIL_PROB
P_NAME = r"\bp\b"  # the error message must name the argument p


# --------------------------------------------------------------------------- helpers

def _x(gen: torch.Generator, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """Inputs with |x| in [0.5, 1.5) and random signs: never 0, so out != 0 marks the
    kept elements exactly, and x / (1 - p) cannot underflow."""
    mag = torch.rand(shape, generator=gen, dtype=torch.float64) + 0.5
    sign = torch.where(torch.rand(shape, generator=gen) < 0.5, -1.0, 1.0).double()
    return (mag * sign).to(dtype)


def _generator(device: str, gen: torch.Generator) -> torch.Generator:
    """A fresh generator on the case's device, seeded from the case's own generator.
    The wire sends its state, so every call that gets it starts from the same state."""
    seed = int(torch.randint(0, 2**62, (1,), generator=gen))
    return torch.Generator(device=device).manual_seed(seed)


def _kept(reference, t: torch.Tensor, keep: torch.Tensor, p: float) -> torch.Tensor:
    """The reference's scaling applied to a given keep mask: t / (1 - p) where kept, else 0."""
    return reference.dropout._scale_kept(t, keep, float(p))


def _divides_by_zero(err: StudentError) -> bool:
    """Whether an exception is the kind a division by 1 - p = 0 raises."""
    text = err.exc_message.lower()
    return err.is_a("ZeroDivisionError") or "division" in text or "divide" in text


def _call(check, fn, hint: str | None, *args, **kwargs):
    """Call the student; an exception it raises fails the case with ``hint`` when it is a
    division by zero (the cause ``hint`` names), unless its message names its own cause
    (a math domain error, say). Other exceptions get the generic diagnosis."""
    try:
        return fn(*args, **kwargs)
    except StudentError as err:
        specific = specific_error_hint(err.type_name, err.exc_message)
        if specific is not None:
            check.fail(err.message, specific)
        if hint is None or err.type_name == "NotImplementedError" or not _divides_by_zero(err):
            raise
        check.fail(err.message, hint)


PAIR_HINT = "return a tuple (out, cache): the output and what dropout_backward needs"


def _forward(check, student, x: torch.Tensor, p: float, training: bool, generator: torch.Generator):
    """The student's dropout_forward, which must return a pair (out, cache). The cache stays
    in the worker as the student's code made it (``keeping``): it is theirs, whatever it is."""
    result = student.dropout.dropout_forward.keeping(1)(x, p, training=training, generator=generator)
    check.that(isinstance(result, tuple) and len(result) == 2,
               "dropout_forward did not return a pair (out, cache)", PAIR_HINT)
    return result


def _driver_failed(err: StudentError, what: str) -> None:
    """An exception with no frame in the submission came from the grader's own driver (a
    lookup it made on the student's objects, say): report it as the grader's problem, not
    as the student's mistake."""
    if not err.where and err.type_name != "NotImplementedError":
        raise RuntimeError(f"grader-side problem in the {what} driver, not in the submission: "
                           f"{err.type_name}: {err.exc_message}"[:400]) from None


def _forward_backward(check, student, x: torch.Tensor, p: float, training: bool, generator: torch.Generator,
                      dout: torch.Tensor, hint: str | None = None) -> dict:
    """dropout_forward, then dropout_backward(dout, cache) on its cache, both in the worker in
    one call (harness.run_layer): the cache never leaves the worker, so a numpy mask, a
    tuple or any object reaches dropout_backward exactly as dropout_forward made it.
    Returns ``{"out", "grads", "dout"}`` (dx as "grads", dout as it was after both calls)."""
    try:
        res = student.harness.run_layer(student.dropout.dropout_forward, student.dropout.dropout_backward,
                                        [x, p], {"training": training, "generator": generator}, dout)
    except StudentError as err:
        if "must return a pair (out, cache)" in err.exc_message:
            check.fail(f"dropout_forward did not return a pair (out, cache): {err.exc_message}", PAIR_HINT)
        if err.type_name == "NotImplementedError":
            raise
        _driver_failed(err, "dropout forward/backward")
        where = f" ({err.where})" if err.where else ""
        message = (f"dropout_forward(x, p={p:g}, training={training}) then dropout_backward(dout, cache) raised "
                   f"{err.type_name}: {err.exc_message}{where}")
        specific = specific_error_hint(err.type_name, err.exc_message)
        if specific is None and hint is not None and _divides_by_zero(err):
            specific = hint
        check.fail(message, specific or error_hint(err.type_name, err.exc_message))
    if not isinstance(res, dict) or not {"out", "grads", "dout"} <= set(res):
        check.fail("dropout_forward / dropout_backward: the run returned no result")
    return res


NAN_DROPOUT = "never compute 0 / 0 or x / 0: at p = 1 return zeros without dividing by 1 - p"


def _require_like(check, out, x: torch.Tensor, what: str, nan_hint: str | None = NAN_DROPOUT) -> torch.Tensor:
    """out is a finite tensor with x's shape, dtype and device."""
    if not isinstance(out, torch.Tensor):
        check.fail(f"{what} returned {type(out).__name__}, not a tensor",
                   "return a torch.Tensor of x's shape")
    check.that(tuple(out.shape) == tuple(x.shape),
               f"{what} returned shape {tuple(out.shape)}, not x's shape {tuple(x.shape)}",
               "dropout works elementwise: the output has exactly x's shape")
    check.that(out.dtype == x.dtype, f"{what} returned dtype {out.dtype} for {x.dtype} input",
               "keep the input's dtype: draw random numbers with dtype=x.dtype (or cast the mask), "
               "do not mix in float64 or numpy arrays")
    check.that(out.device == x.device, f"{what} returned a tensor on {out.device} for input on {x.device}",
               "make new tensors on x's device (device=x.device)")
    check.that(bool(torch.isfinite(out).all()), f"{what} returned nan or inf for finite inputs", nan_hint)
    return out


def _count_in(check, count: int, n: int, q: float, delta: float, message: str, hint: str) -> None:
    """count ~ Binomial(n, q) for a correct implementation: fail outside its exact (1 - delta) range."""
    lo, hi = binomial_interval(n, q, delta)
    check.that(lo <= count <= hi, message.format(count=count, n=n, lo=lo, hi=hi), hint)


KEEP_VS_DROP = ("p is the probability of DROPPING an element (torch's convention), not of keeping it: "
                "keep an element with probability 1 - p, e.g. mask = torch.rand(x.shape, generator=generator) >= p")


def _zero_fraction_check(check, out: torch.Tensor, p: float, what: str) -> None:
    """The number of zeros is Binomial(n, p), within its exact (1 - FAIL_PROB) range."""
    zeros = int((out == 0).sum())
    n = out.numel()
    lo, hi = binomial_interval(n, p, FAIL_PROB)
    if lo <= zeros <= hi:
        return
    flip_lo, flip_hi = binomial_interval(n, 1 - p, FAIL_PROB)
    if zeros == 0:
        hint = "nothing was dropped: in training every element is zeroed with probability p"
    elif zeros == n:
        hint = "everything was dropped: only a fraction p of the elements is zeroed"
    elif flip_lo <= zeros <= flip_hi:
        hint = KEEP_VS_DROP
    else:
        hint = ("zero each element independently with probability p: "
                "mask = torch.rand(x.shape, generator=generator) >= p keeps it with probability 1 - p")
    check.fail(f"{what}: {zeros} of {n} outputs are 0 ({zeros / n:.1%}); a correct dropout with p={p} zeroes "
               f"{p:.0%} of them on average, between {lo} and {hi} here with probability 1 - {FAIL_PROB:g}",
               hint)


def _scaling_check(check, reference, out: torch.Tensor, x: torch.Tensor, p: float) -> None:
    """Every output is 0 or x / (1 - p) (to rounding), for the mask the call drew."""
    keep = out != 0
    expected = _kept(reference, x, keep, p)
    xd = x.double()
    check.close(out, expected, mistakes=[
        Mistake(f"the survivors are multiplied by 1 - p = {1 - p:g}: inverted dropout DIVIDES them by 1 - p "
                "so that the expected output equals x", value=lambda: torch.where(keep, xd * (1 - p), 0.0).to(x)),
        Mistake("the survivors are not scaled: inverted dropout multiplies kept elements by 1 / (1 - p) during "
                "training (and does nothing in evaluation)", value=lambda: torch.where(keep, xd, 0.0).to(x)),
        Mistake(f"the survivors are divided by p: the scale is 1 / (1 - p) = {1 / (1 - p):.6g}, "
                "1 - p being the keep probability", value=lambda: torch.where(keep, xd / p, 0.0).to(x)),
        Mistake("some outputs are neither 0 nor x / (1 - p): out = mask * x / (1 - p), elementwise",
                when=lambda a: True),
    ])


def _independence_checks(check, out: torch.Tensor, p: float, what: str) -> None:
    """The three independence checks of test_dropout_independent_mask on a 2-D (N, D) or
    4-D (N, C, H, W) output with an even last dim; each fails a correct implementation
    with probability <= FAIL_PROB."""
    shape = tuple(out.shape)
    z = (out == 0).to("cpu")
    n = shape[0]
    # 1. across the batch: one count per position, over the N samples
    per_position = z.reshape(n, -1).sum(0)
    lo, hi = binomial_interval(n, p, FAIL_PROB / per_position.numel())
    bad = int(((per_position < lo) | (per_position > hi)).sum())
    check.that(bad == 0,
               f"{what}: for {bad} of {per_position.numel()} positions the share of the {n} samples dropped there "
               f"is far from p (some positions are dropped in almost every sample, others in almost none)",
               "the same mask is used for every sample of the batch (e.g. a mask of shape x.shape[1:] or (1, D) "
               "broadcast over dim 0): draw one value per element, with x's full shape")
    # 2. within a sample: rows (2-D) or (sample, channel) planes (4-D)
    groups = z.reshape(-1, shape[-1]) if len(shape) == 2 else z.reshape(shape[0] * shape[1], -1)
    size = groups.shape[1]
    per_group = groups.sum(1)
    lo, hi = binomial_interval(size, p, FAIL_PROB / per_group.numel())
    unit = "rows" if len(shape) == 2 else "channel planes"
    bad = int(((per_group < lo) | (per_group > hi)).sum())
    check.that(bad == 0,
               f"{what}: {bad} of {per_group.numel()} {unit} have a share of zeros far from p "
               f"(whole {unit} dropped or kept together)",
               "whole rows or channels are dropped together: draw the mask with x's full shape, one independent "
               "value per element (this is not Dropout2d)")
    # 3. neighbours: disjoint pairs along the last dim
    pairs = z.reshape(-1, 2)
    both = int(pairs.all(1).sum())
    _count_in(check, both, pairs.shape[0], p * p, FAIL_PROB,
              what + ": {count} of {n} pairs of neighbouring elements are both 0; independent draws give "
              "between {lo} and {hi}",
              "neighbouring elements are not dropped independently: draw one value per element")


# ------------------------------------------------------------------ dropout forward

ZERO_FRACTION = [
    pytest.param(0.2, (100, 200), "generator", id="p0.2-100x200"),
    pytest.param(0.5, (20000,), "generator", id="p0.5-20000"),
    pytest.param(0.7, (10, 20, 100), "generator", id="p0.7-10x20x100"),
    pytest.param(0.35, (8, 5, 25, 20), "generator", id="p0.35-8x5x25x20"),
    pytest.param(0.3, (50, 400), "global", id="p0.3-50x400-generator-None"),
]


@pytest.mark.parametrize("p,shape,rng", ZERO_FRACTION)
def test_dropout_zero_fraction(student, check, gen, device, dtype, p, shape, rng):
    """The share of zeros is p: Binomial(n, p) zeros, within its exact range of probability
    1 - 1e-7 (one check per case). Also with generator=None (the global generator)."""
    x = _x(gen, shape, dtype).to(device)
    kwargs = dict(training=True)
    if rng == "generator":
        kwargs["generator"] = _generator(device, gen)
    out = _require_like(check, student.dropout.dropout(x, p, **kwargs), x, f"dropout(x, p={p})")
    _zero_fraction_check(check, out, p, f"dropout(x, p={p})")


SCALING = [
    pytest.param(0.25, (300,), id="p0.25-1d"),
    pytest.param(0.5, (12, 25), id="p0.5-2d"),
    pytest.param(0.9, (4, 6, 20), id="p0.9-3d"),
    pytest.param(0.6, (2, 3, 5, 7), id="p0.6-4d"),
    pytest.param(1 / 3, (15, 16), id="p1/3-2d"),
]


@pytest.mark.parametrize("p,shape", SCALING)
def test_dropout_scaling(student, reference, check, gen, device, dtype, p, shape):
    """Every nonzero output equals x / (1 - p) to rounding, every other output is exactly 0
    (deterministic given the drawn mask; no statistical check)."""
    x = _x(gen, shape, dtype).to(device)
    out = _require_like(check, student.dropout.dropout(x, p, training=True, generator=_generator(device, gen)),
                        x, f"dropout(x, p={p:g})")
    _scaling_check(check, reference, out, x, p)


INDEPENDENCE = [
    pytest.param(0.5, (300, 80), id="p0.5-300x80"),
    pytest.param(0.2, (300, 80), id="p0.2-300x80"),
    pytest.param(0.5, (64, 4, 8, 8), id="p0.5-64x4x8x8"),
]


@pytest.mark.parametrize("p,shape", INDEPENDENCE)
def test_dropout_independent_mask(student, check, gen, device, dtype, p, shape):
    """One independent draw per element. Three statistical checks, each failing a correct
    implementation with probability <= 1e-7 (a union bound over the rows or columns it
    covers): the zeros of every position across the batch are Binomial(N, p) (no mask
    shared by the samples of a batch), the zeros within every row (2-D) or every
    channel plane (4-D) are Binomial(size, p) (no whole rows or channels dropped), and
    disjoint neighbouring pairs are both zero with probability p**2."""
    x = _x(gen, shape, dtype).to(device)
    what = f"dropout(x, p={p})"
    out = _require_like(check, student.dropout.dropout(x, p, training=True, generator=_generator(device, gen)),
                        x, what)
    _independence_checks(check, out, p, what)

EVAL = [
    pytest.param(0.5, (6, 7), id="p0.5"),
    pytest.param(0.2, (3, 4, 5), id="p0.2-3d"),
    pytest.param(1.0, (40,), id="p1"),
]


@pytest.mark.parametrize("p,shape", EVAL)
def test_dropout_eval_identity(student, check, gen, device, dtype, p, shape):
    """training=False returns x's values exactly, whatever p (x itself is accepted)."""
    x = _x(gen, shape, dtype).to(device)
    out = student.dropout.dropout(x, p, training=False, generator=_generator(device, gen))
    xd = x.double()
    check.close(out, x, rtol=0.0, atol=0.0, mistakes=[
        Mistake("dropout is active in evaluation: with training=False return x unchanged (no mask, no scale)",
                when=lambda a: isinstance(a, torch.Tensor) and a.shape == x.shape and bool((a == 0).any())),
        Mistake("this is non-inverted dropout, which scales by 1 - p at test time: inverted dropout scales the "
                "survivors by 1 / (1 - p) in training, so evaluation is the identity",
                value=lambda: (xd * (1 - p)).to(x)),
        Mistake("the evaluation output is scaled by 1 / (1 - p): in evaluation dropout is the identity",
                when=lambda a: p < 1 and isinstance(a, torch.Tensor) and a.shape == x.shape
                and torch.allclose(a.double(), xd / (1 - p))),
    ])


@pytest.mark.parametrize("p", [0.0, 0], ids=["p0.0", "p0-int"])
@pytest.mark.parametrize("shape", [(50,), (7, 9)], ids=["1d", "2d"])
def test_dropout_p_zero_identity(student, check, gen, device, dtype, p, shape):
    """p = 0 in training drops nothing and scales by 1: x's values exactly."""
    x = _x(gen, shape, dtype).to(device)
    out = student.dropout.dropout(x, p, training=True, generator=_generator(device, gen))
    check.close(out, x, rtol=0.0, atol=0.0, mistakes=[
        Mistake("p = 0 drops nothing: the output must be x exactly",
                when=lambda a: isinstance(a, torch.Tensor) and a.shape == x.shape and bool((a == 0).any())),
    ])


ZERO_DIV = ("at p = 1 every element is dropped: return zeros (e.g. torch.zeros_like(x)) without computing "
            "1 / (1 - p) = 1 / 0 or mask * x / 0")


@pytest.mark.parametrize("p", [1.0, 1], ids=["p1.0", "p1-int"])
@pytest.mark.parametrize("shape", [(30,), (5, 6, 4)], ids=["1d", "3d"])
def test_dropout_p_one_zeros(student, check, gen, device, dtype, p, shape):
    """p = 1 in training drops everything: exact zeros, no nan from 0 / 0 or 0 * inf."""
    x = (_x(gen, shape, dtype) * 1e3).to(device)
    out = _call(check, student.dropout.dropout, ZERO_DIV, x, p, training=True, generator=_generator(device, gen))
    check.close(out, torch.zeros_like(x), rtol=0.0, atol=0.0, mistakes=[
        Mistake(ZERO_DIV, problem="nan"),
        Mistake(ZERO_DIV, problem="inf"),
        Mistake("p = 1 must drop every element (keep probability 1 - p = 0)",
                when=lambda a: isinstance(a, torch.Tensor) and bool((a != 0).any())),
    ])


@pytest.mark.parametrize("p,shape", [pytest.param(0.3, (80, 100), id="p0.3-80x100"),
                                     pytest.param(0.6, (4, 25, 60), id="p0.6-4x25x60")])
def test_dropout_forward(student, reference, check, gen, device, dtype, p, shape):
    """dropout_forward returns (out, cache); out is inverted dropout: Binomial(n, p) zeros
    (one statistical check, failure probability <= 1e-7) and survivors x / (1 - p)."""
    x = _x(gen, shape, dtype).to(device)
    result = _forward(check, student, x, p, True, _generator(device, gen))
    what = f"dropout_forward(x, p={p})"
    out = _require_like(check, result[0], x, what)
    _zero_fraction_check(check, out, p, what)
    _scaling_check(check, reference, out, x, p)


# ------------------------------------------------------------------ dropout backward

BACKWARD = [
    pytest.param(0.2, (40, 30), id="p0.2-2d"),
    pytest.param(0.5, (6, 7, 8), id="p0.5-3d"),
    pytest.param(0.75, (500,), id="p0.75-1d"),
    pytest.param(0.5, (3, 4, 5, 6), id="p0.5-4d"),
]


@pytest.mark.parametrize("p,shape", BACKWARD)
def test_dropout_backward(student, reference, check, gen, device, dtype, p, shape):
    """dx = dout * mask / (1 - p) for the mask the same forward call drew (its zeros are the
    forward output's zeros), with a random dout; exact up to rounding."""
    x = _x(gen, shape, dtype).to(device)
    generator = _generator(device, gen)
    dout = _x(gen, shape, dtype).to(device)  # never 0, so dx's zeros are the mask's
    res = _forward_backward(check, student, x, p, True, generator, dout)
    out = _require_like(check, res["out"], x, f"dropout_forward(x, p={p})")
    dx = res["grads"]
    keep = out != 0
    expected = _kept(reference, dout, keep, p)
    dd = dout.double()
    check.close(dx, expected, mistakes=[
        Mistake("dropout_backward forgot the scale: dx = mask * dout / (1 - p), the same 1 / (1 - p) as the "
                "forward pass", value=lambda: torch.where(keep, dd, 0.0).to(dout)),
        Mistake(f"dropout_backward multiplies by 1 - p = {1 - p:g}: dx = mask * dout / (1 - p)",
                value=lambda: torch.where(keep, dd * (1 - p), 0.0).to(dout)),
        Mistake("dx is not zero where the forward pass dropped x: multiply dout by the forward's mask",
                value=lambda: (dd / (1 - p)).to(dout)),
        Mistake("dx is not zero where the forward pass dropped x: multiply dout by the forward's mask",
                value=dout),
        Mistake("the zeros of dx are not where the forward pass dropped: use the mask kept in cache, "
                "never draw a new one in the backward pass",
                when=lambda a: isinstance(a, torch.Tensor) and a.shape == keep.shape
                and not torch.equal(a != 0, keep)),
    ])


BACKWARD_EDGES = [
    pytest.param(0.5, False, id="eval"),
    pytest.param(0.0, True, id="p0"),
    pytest.param(1.0, True, id="p1"),
]


@pytest.mark.parametrize("p,training", BACKWARD_EDGES)
def test_dropout_backward_identity(student, check, gen, device, dtype, p, training):
    """After an identity forward pass (evaluation, p = 0) dx = dout exactly; after p = 1,
    dx is exactly 0 (no nan from 0 / 0)."""
    shape = (9, 11)
    x = _x(gen, shape, dtype).to(device)
    generator = _generator(device, gen)
    dout = _x(gen, shape, dtype).to(device)
    p1_hint = "after p = 1 the gradient is all zeros: return zeros without computing dout / (1 - p) = dout / 0"
    dx = _forward_backward(check, student, x, p, training, generator, dout,
                           hint=p1_hint if p == 1.0 else None)["grads"]
    if p == 1.0:
        check.close(dx, torch.zeros_like(dout), rtol=0.0, atol=0.0, mistakes=[
            Mistake(p1_hint, problem="nan"),
            Mistake(p1_hint, problem="inf"),
        ])
        return
    case = "evaluation (training=False)" if not training else "p = 0"
    check.close(dx, dout, rtol=0.0, atol=0.0, mistakes=[
        Mistake(f"after a forward pass in {case} dropout is the identity, so dx = dout: no mask, no scale",
                when=lambda a: isinstance(a, torch.Tensor)),
    ])


# ----------------------------------------------------------------- argument checks

INVALID_P = [
    pytest.param("dropout", -0.1, True, id="dropout-p-0.1"),
    pytest.param("dropout", 1.5, True, id="dropout-p1.5"),
    pytest.param("dropout", float("nan"), True, id="dropout-p-nan"),
    pytest.param("dropout", 1.5, False, id="dropout-p1.5-eval"),
    pytest.param("dropout_forward", -0.5, True, id="forward-p-0.5"),
    pytest.param("dropout_forward", 2.0, True, id="forward-p2"),
    pytest.param("dropout_forward", float("nan"), True, id="forward-p-nan"),
]


@pytest.mark.parametrize("name,p,training", INVALID_P)
def test_dropout_invalid_p(student, check, gen, device, name, p, training):
    """p outside [0, 1] or nan raises ValueError naming p (checked in evaluation too, as torch)."""
    x = _x(gen, (4, 5), torch.float32).to(device)
    hint = ("check 0 <= p <= 1 and raise ValueError naming p otherwise; write the test so that nan fails it "
            "(not (0 <= p <= 1)), since every comparison with nan is False")
    if not training:
        hint += "; validate p before returning early in evaluation"
    with check.raises(ValueError, match=P_NAME, hint=hint):
        getattr(student.dropout, name)(x, p, training=training)


# ------------------------------------------------------------ randomness and hygiene

def _first(result):
    return result[0] if isinstance(result, tuple) else result


FUNCTIONS = {
    "dropout": lambda mod: (mod.dropout, dict(training=True), "p", 0.5),
    "dropout_forward": lambda mod: (mod.dropout_forward, dict(training=True), "p", 0.5),
    "gaussian_noise": lambda mod: (mod.gaussian_noise, dict(training=True), "std", 0.7),
}

RNG_HINT = ("draw every random number from the generator argument (torch.rand(x.shape, generator=generator, "
            "dtype=x.dtype, device=x.device)), never from the global torch.rand / torch.randn / torch.manual_seed")


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_generator_reproducible(student, check, gen, device, dtype, name):
    """Randomness comes from the generator only: two calls with generators in the same
    state give identical outputs, and a generator with another seed a different one
    (identical outputs by chance: probability below 2**-1000)."""
    fn, kwargs, arg, value = FUNCTIONS[name](student.dropout)
    x = _x(gen, (40, 50), dtype).to(device)
    g = _generator(device, gen)
    g_other = _generator(device, gen)
    first = _require_like(check, _first(fn(x, value, generator=g, **kwargs)), x, name, nan_hint=None)
    second = _first(fn(x, value, generator=g, **kwargs))
    same = isinstance(second, torch.Tensor) and second.shape == first.shape and torch.equal(second, first)
    check.that(same, f"{name} gave different outputs for two calls with generators in the same state",
               "the same generator state must give the same output: " + RNG_HINT)
    other = _first(fn(x, value, generator=g_other, **kwargs))
    check.that(isinstance(other, torch.Tensor) and other.shape == first.shape and not torch.equal(other, first),
               f"{name} gave the same output for generators with different seeds", RNG_HINT +
               "; do not reseed anything inside the function")


def _probe_calls(student, x: torch.Tensor):
    """The student's own dropout without a generator, which draws from torch's global
    generator: what it returns right after a call shows whether that call moved the
    global generator."""
    return [student.dropout.dropout, [x, 0.5], {"training": True}]


GLOBAL_HINT = ("with a generator, never touch torch's global random state: no torch.manual_seed and no "
               "torch.rand/randn/randperm without generator=; " + RNG_HINT)


@pytest.mark.parametrize("name", [*FUNCTIONS, "dropout_backward"])
def test_global_rng_untouched(student, check, gen, device, name):
    """With a generator given, torch's global generator neither shapes the output nor is
    moved by the call; dropout_backward draws nothing at all.

    Only values are compared, here in the grader: the output under two global seeds; and
    the student's own dropout(x2, 0.5) without a generator (a draw from the global
    generator) made right after the call against the same draw made without the call.
    The worker merely makes the calls in order after seeding the global generator."""
    x = _x(gen, (30, 40), torch.float32).to(device)
    x2 = _x(gen, (30, 40), torch.float32).to(device)
    g = _generator(device, gen)
    seeds = [int(torch.randint(0, 2**31, (), generator=gen)) for _ in range(3)]
    if name == "dropout_backward":
        _, cache = student.dropout.dropout_forward.keeping(1)(x, 0.5, training=True, generator=g)
        dout = _x(gen, (30, 40), torch.float32).to(device)
        call = [student.dropout.dropout_backward, [dout, cache], {}]
        hint = "dropout_backward must reuse the forward pass's mask from cache and draw no random numbers"
    else:
        fn, kwargs, arg, value = FUNCTIONS[name](student.dropout)
        call = [fn, [x, value], dict(kwargs, generator=g), 0 if name == "dropout_forward" else None]
        hint = GLOBAL_HINT
    run = student.harness.run_sequence
    first = run([call], seeds[0])[0]
    second = run([call], seeds[1])[0]
    check.that(isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor)
               and first.shape == second.shape and bool(torch.equal(first, second)),
               f"{name} gave different outputs for the same {'cache' if name == 'dropout_backward' else 'generator'}"
               " under different global seeds: it draws from torch's global generator", hint)
    probe = _probe_calls(student, x2)
    after = run([call, probe], seeds[2])[1]
    alone = run([probe], seeds[2])[0]
    same = isinstance(after, torch.Tensor) and isinstance(alone, torch.Tensor) and after.shape == alone.shape \
        and bool(torch.equal(after, alone))
    check.that(same, f"{name} changed the state of torch's global random generator: a draw from it right after "
               "the call differs from the same draw without the call", hint)


UNCHANGED = [
    pytest.param("dropout", dict(training=True), id="dropout"),
    pytest.param("dropout", dict(training=False), id="dropout-eval"),
    pytest.param("dropout_forward", dict(training=True), id="dropout_forward"),
    pytest.param("dropout_backward", {}, id="dropout_backward"),
    pytest.param("gaussian_noise", dict(training=True), id="gaussian_noise"),
]


@pytest.mark.parametrize("name,kwargs", UNCHANGED)
def test_inputs_unchanged(student, check, gen, device, name, kwargs):
    """No function modifies x (or dout) in place."""
    x = _x(gen, (12, 10), torch.float32).to(device)
    if name == "dropout_backward":
        generator = _generator(device, gen)
        dout = _x(gen, (12, 10), torch.float32).to(device)
        res = _forward_backward(check, student, x, 0.5, True, generator, dout)
        check.unchanged(dout, res["dout"], "dout", tuple(student.dropout.dropout_backward.findings()))
        return
    value = 0.7 if name == "gaussian_noise" else 0.5
    record = getattr(student.dropout, name).inspect_call(x, value, generator=_generator(device, gen), **kwargs)
    check.unchanged(x, record.args[0], "x", record.findings)


# ------------------------------------------------------------------- gaussian noise

NOISE = [
    pytest.param(0.3, (20000,), "generator", id="std0.3-20000"),
    pytest.param(2.5, (100, 200), "generator", id="std2.5-100x200"),
    pytest.param(1.7, (4, 50, 100), "global", id="std1.7-4x50x100-generator-None"),
]
TAIL_Q = math.erfc(math.sqrt(2.0))  # P(|N(0, 1)| > 2)


def _noise_checks(check, noise: torch.Tensor, std: float, what: str) -> None:
    """The three checks of test_gaussian_noise_statistics on the observed noise out - x
    (float64); each fails N(0, std**2) noise with probability <= FAIL_PROB."""
    e = noise.reshape(-1)
    n = e.numel()
    mean = float(e.mean())
    bound = gaussian_z(FAIL_PROB) * std / math.sqrt(n)
    check.that(abs(mean) <= bound,
               f"{what}: the noise out - x has mean {mean:.4g}; N(0, std**2) noise averages within "
               f"+-{bound:.3g} of 0 here", "the noise must have mean 0: x + std * torch.randn(...)")
    ratio = float((e * e).mean()) / std**2
    lo, hi = chi2_mean_interval(n, FAIL_PROB)
    if not lo <= ratio <= hi:
        rms = math.sqrt(ratio) * std
        if abs(rms - math.sqrt(std)) <= 0.05 * math.sqrt(std):
            hint = ("the noise's standard deviation is sqrt(std): std is the standard deviation, so multiply "
                    "N(0, 1) noise by std (its variance is std**2), not by sqrt(std)")
        elif abs(rms - std**2) <= 0.05 * std**2:
            hint = "the noise's standard deviation is std**2: multiply N(0, 1) noise by std itself"
        elif ratio == 0.0:
            hint = "no noise was added in training"
        else:
            hint = "out - x must be std * eps with eps ~ N(0, 1) (torch.randn), so its standard deviation is std"
        check.fail(f"{what}: the noise out - x has standard deviation {rms:.4g}, not std = {std}", hint)
    tails = int((e.abs() > 2 * std).sum())
    _count_in(check, tails, n, TAIL_Q, FAIL_PROB,
              what + ": {count} of {n} noise values exceed 2 std in size; Gaussian noise gives between "
              "{lo} and {hi}", "the noise must be Gaussian (torch.randn), not uniform or another distribution")


@pytest.mark.parametrize("std,shape,rng", NOISE)
def test_gaussian_noise_statistics(student, check, gen, device, dtype, std, shape, rng):
    """e = out - x is N(0, std**2), one independent draw per element. Three statistical
    checks, each failing a correct implementation with probability <= 1e-7: the mean of
    e within z * std / sqrt(n) (exact Gaussian), mean(e**2) / std**2 within the Laurent
    and Massart chi-square bounds, and the number of |e| > 2 std within the exact
    Binomial(n, 0.0455) range (Gaussian tails, not uniform noise)."""
    x = (torch.randn(shape, generator=gen, dtype=torch.float64) * 2).to(dtype).to(device)
    kwargs = dict(training=True)
    if rng == "generator":
        kwargs["generator"] = _generator(device, gen)
    what = f"gaussian_noise(x, std={std})"
    out = _require_like(check, student.dropout.gaussian_noise(x, std, **kwargs), x, what,
                        nan_hint="out = x + std * torch.randn(...) is finite for finite x")
    _noise_checks(check, (out.double() - x.double()).to("cpu"), std, what)


@pytest.mark.parametrize("std,training", [pytest.param(0.5, False, id="eval"),
                                          pytest.param(0.0, True, id="std0"),
                                          pytest.param(0, True, id="std0-int")])
def test_gaussian_noise_identity(student, check, gen, device, dtype, std, training):
    """training=False, or std = 0, returns x's values exactly (x itself is accepted)."""
    x = (torch.randn(8, 9, generator=gen, dtype=torch.float64) * 2).to(dtype).to(device)
    out = student.dropout.gaussian_noise(x, std, training=training, generator=_generator(device, gen))
    hint = ("noise is added only in training: with training=False return x unchanged" if not training
            else "std = 0 adds no noise: the output must be x exactly")
    check.close(out, x, rtol=0.0, atol=0.0, mistakes=[Mistake(hint, when=lambda a: isinstance(a, torch.Tensor))])


@pytest.mark.parametrize("std", [-0.1, float("nan")], ids=["negative", "nan"])
def test_gaussian_noise_invalid_std(student, check, gen, device, std):
    """std < 0 or nan raises ValueError naming std."""
    x = torch.randn(3, 4, generator=gen).to(device)
    with check.raises(ValueError, match=r"\bstd\b",
                      hint="a standard deviation is >= 0: raise ValueError naming std otherwise (nan included)"):
        student.dropout.gaussian_noise(x, std, training=True)


# --------------------------------------------------------------------------- on the GPU

@pytest.mark.parametrize("case", ["dropout", "dropout-eval", "dropout_forward+dropout_backward", "gaussian_noise"])
def test_on_device(student, reference, check, gen, case):
    """Each function on the simulated GPU with a generator there too: the mask is drawn
    on the data's device (device=x.device, or x.new_empty(...).uniform_), nothing comes
    back on the CPU, and the result is consistent: every output 0 or x / (1 - p), the
    gradient masked and scaled alike, the noise added to x."""
    x = _x(gen, (8, 16), torch.float32)
    g = _generator("cpu", gen)
    p = 0.4
    if case.startswith("dropout_forward"):
        dout = _x(gen, (8, 16), torch.float32)
        res = on_device(check, student, student.harness.run_layer, student.dropout.dropout_forward,
                        student.dropout.dropout_backward, [x, p], {"training": True, "generator": g}, dout,
                        what="dropout_forward and dropout_backward")
        out = _require_like(check, res.get("out") if isinstance(res, dict) else None, x,
                            "dropout_forward on the simulated GPU")
        _scaling_check(check, reference, out, x, p)
        dx = _require_like(check, res.get("grads"), x, "dropout_backward on the simulated GPU")
        check.close(dx, _kept(reference, dout, out != 0, p), what="dropout_backward on the simulated GPU",
                    hint="the backward pass applies the forward pass's mask and scale: dx = dout * mask / (1 - p)")
        return
    if case == "gaussian_noise":
        out = _require_like(check, on_device(check, student, student.dropout.gaussian_noise, x, 0.5,
                                             training=True, generator=g, what="gaussian_noise"),
                            x, "gaussian_noise on the simulated GPU")
        check.that(bool((out != x).any()), "gaussian_noise on the simulated GPU added no noise in training",
                   "add std * N(0, 1) noise drawn from the generator on x's device")
        return
    training = case == "dropout"
    out = _require_like(check, on_device(check, student, student.dropout.dropout, x, p, training=training,
                                         generator=g, what="dropout"), x, "dropout on the simulated GPU")
    if training:
        _scaling_check(check, reference, out, x, p)
    else:
        check.equal(out, x, what="dropout(training=False) on the simulated GPU")
