"""Hidden suite for init.py: fans, gains, the initializers' distributions, their in-place
semantics, their use of the generator, and what they do to a deep network.

How the random initializers are graded
--------------------------------------
Only the distribution is graded, never torch's random stream: any correct sampler
(``Tensor.uniform_``, a scaled ``torch.rand``, Box-Muller from uniforms, ...) passes.
Each case fills a tensor of n >= 13824 values from a generator the suite seeds, and
checks the sample against the distribution the reference's fans and gain prescribe.
Every random check below has a false-alarm probability of at most ALPHA = 1e-9 for a
correct implementation, by an exact or a proven (non-asymptotic) bound:

- mean of a normal sample: exactly N(mu, sigma^2 / n), so |mean - mu| <= Z sigma / sqrt(n)
  with Z = 6.11, the two-sided 1e-9 quantile;
- mean and second moment of a uniform sample: Bernstein's inequality with the known
  variance of the summands (for the second moment about the centre, Var((x - c)^2) =
  mu4 - s^4 = 4 h^4 / 45 for a half-width h) and their known range;
- second moment of a normal sample: n m2 / sigma^2 is chi-square with n degrees of
  freedom; Laurent and Massart's bounds give each tail at most ALPHA / 2;
- distribution shape: the Kolmogorov-Smirnov distance to the exact CDF, bounded by the
  Dvoretzky-Kiefer-Wolfowitz inequality (Massart's constant), P(D > eps) <= 2 exp(-2 n eps^2),
  so eps = sqrt(ln(2 / ALPHA) / (2 n));
- a uniform sample reaches its ends: P(max < b - delta (b - a)) = (1 - delta)^n <=
  exp(-n delta) = ALPHA for delta = ln(1 / ALPHA) / n (the same for the min);
- the deep-network growth factor: an exact martingale argument (see test_deep_network).

Support ([a, b] for a uniform) and finiteness are deterministic. Per submission the suite
makes 272 such random checks on a CPU-only grader (18 uniform cases x 5 checks and 14
normal cases x 3, in two dtypes, plus 8 deep-network windows), twice that with CUDA:
fewer than 1000, so by the union bound a correct submission loses a point to chance
with probability below 1e-6. The inputs are fixed by the rubric's seed, so a given
submission always gets the same grade.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from grader.device_check import on_device
from grader.diagnosis import Mistake
from grader.errors import StudentError

ALPHA = 1e-9
_L2 = math.log(2 / ALPHA)  # ln(2 / ALPHA): two-sided
_L1 = math.log(1 / ALPHA)  # ln(1 / ALPHA): one-sided
Z = float(-torch.special.ndtri(torch.tensor(ALPHA / 2, dtype=torch.float64)))  # 6.109...

RANDOM_INITS = ("uniform_", "normal_", "fan_in_uniform_", "xavier_uniform_", "xavier_normal_",
                "kaiming_uniform_", "kaiming_normal_")

NO_GRAD_HINT = ("fill the tensor inside `with torch.no_grad():` so that autograd neither refuses the "
                "in-place change of a leaf that requires grad nor records it")


# ----------------------------------------------------------------------- statistics

@dataclass(frozen=True)
class Dist:
    """U(p, q) for kind "uniform", N(p, q^2) for kind "normal"."""

    kind: str
    p: float
    q: float

    @property
    def centre(self) -> float:
        return (self.p + self.q) / 2 if self.kind == "uniform" else self.p

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "uniform":
            return ((x - self.p) / (self.q - self.p)).clamp(0.0, 1.0)
        return 0.5 * torch.erfc(-(x - self.p) / (self.q * math.sqrt(2.0)))


def _bernstein(var: float, spread: float, n: int) -> float:
    """eps with P(|mean of n iid Y - E Y| >= eps) <= ALPHA when Var Y = var and
    |Y - E Y| <= spread: Bernstein's bound 2 exp(-n eps^2 / (2 (var + spread eps / 3)))
    equals ALPHA at this eps (the positive root of the quadratic)."""
    a = _L2 * spread / (3 * n)
    return a + math.sqrt(a * a + 2 * _L2 * var / n)


def _ks_distance(x: torch.Tensor, dist: Dist) -> float:
    """sup_x |F_n(x) - F(x)| for the sorted float64 sample (ties handled conservatively)."""
    xs, _ = torch.sort(x)
    n = xs.numel()
    f = dist.cdf(xs)
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(torch.maximum(i / n - f, f - (i - 1) / n).max())


def _sample_problems(x: torch.Tensor, dist: Dist, dtype: torch.dtype) -> list[str]:
    """What is wrong with the float64 sample x (flat, on the CPU) as draws from dist."""
    n = x.numel()
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        return [f"{bad} of the {n} values are nan or inf (was every element filled?)"]
    eps = torch.finfo(dtype).eps
    rounding = 8 * eps  # relative slack for values stored in dtype
    out = []
    c = dist.centre
    mean = float(x.mean())
    m2 = float(((x - c) ** 2).mean())
    if dist.kind == "uniform":
        lo, hi = dist.p, dist.q
        width = hi - lo
        h = width / 2
        slack = rounding * max(abs(lo), abs(hi))
        below, above = int((x < lo - slack).sum()), int((x > hi + slack).sum())
        if below or above:
            worst = max(float(lo - x.min()), float(x.max() - hi)) / width
            out.append(f"{below + above} values lie outside the interval (the farthest by {worst:.3g} "
                       f"times its width)")
        if abs(mean - c) > _bernstein(width ** 2 / 12, h, n) + slack:
            out.append(f"the mean is off centre by {(mean - c) / width:+.3g} times the interval's width")
        if abs(m2 - h * h / 3) > _bernstein(4 * h ** 4 / 45, 2 * h * h / 3, n) + rounding * h * h:
            out.append(f"the spread is wrong: the mean square deviation from the centre is "
                       f"{m2 / (h * h / 3):.3g} times that of the intended uniform")
        delta = _L1 / n
        if float(x.max()) < hi - delta * width - slack or float(x.min()) > lo + delta * width + slack:
            reach = max(float(x.max()) - c, c - float(x.min())) / h
            out.append(f"the values do not reach the ends of the interval (they cover {reach:.3g} of "
                       f"its half-width around the centre)")
    else:
        mu, sigma = dist.p, dist.q
        if abs(mean - mu) > Z * sigma / math.sqrt(n) + rounding * (abs(mu) + sigma):
            out.append(f"the mean is off by {(mean - mu) / sigma:+.3g} standard deviations")
        ratio = m2 / (sigma * sigma)
        up = 2 * math.sqrt(_L2 / n) + 2 * _L2 / n + rounding
        down = 2 * math.sqrt(_L2 / n) + rounding
        if ratio > 1 + up or ratio < 1 - down:
            out.append(f"the standard deviation is {math.sqrt(ratio):.3g} times the intended one")
    d = _ks_distance(x, dist)
    if d > math.sqrt(_L2 / (2 * n)) + 1e-6:
        out.append(f"the shape does not match: the Kolmogorov-Smirnov distance to the intended "
                   f"{dist.kind} distribution is {d:.3g}")
    return out


def _observed_scale(x: torch.Tensor, dist: Dist) -> float:
    """The sample's spread over the intended one: max |x - c| / h for a uniform,
    the root mean square deviation over sigma for a normal."""
    c = dist.centre
    if dist.kind == "uniform":
        return float((x - c).abs().max()) / ((dist.q - dist.p) / 2)
    return math.sqrt(float(((x - c) ** 2).mean())) / dist.q


def _truncation_hint(x: torch.Tensor, dist: Dist) -> str | None:
    """A normal sample whose tails are missing: every value within about 2.6 of the sample's
    own standard deviations of the centre (a full normal of this many values reaches far
    beyond that), with a kurtosis between a uniform's 1.8 and a normal's 3 (a normal
    truncated or clipped at 2 std has about 2.4). Truncating N(0, s^2) at 2 s leaves a
    standard deviation of 0.88 s, which can mimic a fan formula's factor, so this is
    recognised before any formula is guessed."""
    if dist.kind != "normal" or x.numel() < 2000:
        return None
    dev = x - dist.centre
    m2 = float((dev * dev).mean())
    if m2 <= 0.0:
        return None
    rms = math.sqrt(m2)
    reach = float(dev.abs().max()) / rms
    kurtosis = float((dev ** 4).mean()) / (m2 * m2)
    if reach > 2.6 or not 2.1 <= kurtosis <= 2.75:
        return None
    cut = float(dev.abs().max()) / dist.q
    return (f"the values are cut off at {cut:.2g} times the intended standard deviation (a truncated or clipped "
            f"normal: its standard deviation is {rms / dist.q:.2g} times the intended one, about 0.88 for a cut "
            "at 2 std): draw from the full normal, t.normal_(mean, std, generator=generator), without clipping "
            "or redrawing the tails")


def _rescaled(dist: Dist, factor: float) -> Dist:
    """dist with its spread multiplied by factor around the same centre."""
    if dist.kind == "uniform":
        c, h = dist.centre, (dist.q - dist.p) / 2
        return Dist("uniform", c - factor * h, c + factor * h)
    return Dist("normal", dist.p, dist.q * factor)


def _formula_hint(x: torch.Tensor, dist: Dist, dtype: torch.dtype,
                  candidates: list[tuple[float, str]]) -> str | None:
    """The first slip whose spread factor matches the sample's within 2% (the cases
    are chosen so that the slips' factors differ by at least 5%)
    AND whose distribution the sample passes every check of: a formula is named only when
    it reproduces the sample's statistics, not merely its spread."""
    ratio = _observed_scale(x, dist)
    for factor, text in candidates:
        if abs(factor - 1) > 0.06 and abs(ratio / factor - 1) < 0.02:
            if not _sample_problems(x, _rescaled(dist, factor), dtype):
                return text
    return None


def _filled(record, shape) -> object:
    """What the initializer produced: its return value when that is a tensor of the right
    shape (even a new one: that mistake is graded in test_in_place), else the argument."""
    value = record.value
    if isinstance(value, torch.Tensor) and tuple(value.shape) == tuple(shape):
        return value
    return record.args[0] if record.args else value


def _subject(name: str, shape, kwargs: dict, dtype: torch.dtype) -> str:
    args = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    return f"{name}(t of shape {tuple(shape)} {str(dtype).replace('torch.', '')}{args})"


def _draw(student, name, shape, kwargs, dtype, device, seed):
    """The sample the student's initializer draws into a fresh tensor, made and filled in
    the worker (only the values travel)."""
    return student.harness.sample_init(getattr(student.init, name), shape, dict(kwargs), seed=seed,
                                       dtype=dtype, device=device)


def _check_sample(check, subject, out, shape, dist, dtype, device, candidates=(), extra=None):
    if not isinstance(out, torch.Tensor):
        check.fail(f"{subject} left no tensor to inspect (it returned {type(out).__name__})",
                   "fill t in place and return t")
    check.that(tuple(out.shape) == tuple(shape) and out.dtype == dtype and out.device.type == device,
               f"{subject} gave a tensor of shape {tuple(out.shape)}, dtype {out.dtype}, device "
               f"{out.device.type}: the initializer must keep t's shape, dtype and device",
               "fill t itself (t.uniform_(...), t.normal_(...) or t.copy_(...)) instead of making a new tensor")
    x = out.detach().to("cpu", torch.float64).reshape(-1)
    problems = _sample_problems(x, dist, dtype)
    if not problems:
        return
    hint = extra(x) if extra is not None else None
    if hint is None and bool(torch.isfinite(x).all()):
        hint = _truncation_hint(x, dist) or _formula_hint(x, dist, dtype, list(candidates))
    check.fail(f"{subject}: the values are not a sample of the intended {dist.kind} distribution: "
               + "; ".join(problems), hint)


def _seed(gen) -> int:
    return int(torch.randint(0, 2 ** 62, (), generator=gen))


def _fans(reference, shape) -> tuple[int, int, int]:
    fan_in, fan_out = reference.init.calculate_fan_in_and_fan_out(torch.empty(shape))
    rf = 1
    for s in shape[2:]:
        rf *= s
    return fan_in, fan_out, rf


# --------------------------------------------------------------------------- fans

FAN_SHAPES = [(7, 3), (3, 7), (1, 9), (5, 4, 3), (8, 6, 3, 3), (16, 1, 1, 1), (4, 2, 3, 5, 2),
              (6, 3, 1, 4)]


@pytest.mark.parametrize("shape", FAN_SHAPES, ids=["x".join(map(str, s)) for s in FAN_SHAPES])
def test_fan_in_and_fan_out(student, reference, check, device, shape):
    t = torch.zeros(shape, device=device)
    expected = reference.init.calculate_fan_in_and_fan_out(t)
    actual = student.init.calculate_fan_in_and_fan_out(t)
    rf = math.prod(shape[2:])
    slips = [((shape[0] * rf, shape[1] * rf),
              "fan_in and fan_out are swapped: a weight is (out, in, *kernel), so fan_in = shape[1] * "
              "receptive field and fan_out = shape[0] * receptive field"),
             ((shape[1], shape[0]), "the receptive field is missing: for a convolution weight (out, in, k1, ...) "
                                    "multiply both fans by k1 * k2 * ..."),
             ((shape[0], shape[1]), "fan_in and fan_out are swapped and the receptive field (k1 * k2 * ...) is "
                                    "missing")]
    got = tuple(actual) if isinstance(actual, (list, tuple)) else None
    hint = next((text for value, text in slips if got == value),
                "fan_in = shape[1] * prod(shape[2:]), fan_out = shape[0] * prod(shape[2:]), as Python ints")
    check.equal(actual, expected, hint=hint)


@pytest.mark.parametrize("shape", [(6,), ()], ids=["1-D", "0-D"])
def test_fans_need_two_dims(student, check, device, shape):
    t = torch.zeros(shape, device=device)
    with check.raises(ValueError, match="dim|fan|shape|2",
                      hint="a tensor with fewer than 2 dimensions has no fans: raise ValueError as torch does"):
        student.init.calculate_fan_in_and_fan_out(t)


# -------------------------------------------------------------------------- gains

GAINS = [("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None),
         ("conv_transpose1d", None), ("conv_transpose2d", None), ("conv_transpose3d", None),
         ("sigmoid", None), ("tanh", None), ("relu", None), ("selu", None),
         ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 0), ("leaky_relu", 3),
         ("leaky_relu", -0.5), ("relu", 0.3), ("tanh", 2.0)]


@pytest.mark.parametrize("nonlinearity,param", GAINS,
                         ids=[n if p is None else f"{n}-{p}" for n, p in GAINS])
def test_calculate_gain(student, reference, check, nonlinearity, param):
    kwargs = {} if param is None else {"param": param}
    expected = reference.init.calculate_gain(nonlinearity, **kwargs)
    actual = student.init.calculate_gain(nonlinearity, **kwargs)
    mistakes = [
        Mistake("the gain is a Python number, not a tensor or a string",
                when=lambda out: not isinstance(out, (int, float)) or isinstance(out, bool)),
        Mistake("ReLU's gain is sqrt(2), not 2: the gain multiplies the standard deviation",
                when=lambda out: nonlinearity == "relu" and abs(out - 2.0) < 1e-9),
        Mistake("tanh's gain is 5/3", when=lambda out: nonlinearity == "tanh" and abs(out - 5 / 3) > 1e-9),
        Mistake("selu's gain is 3/4", when=lambda out: nonlinearity == "selu"),
        Mistake("the gain of linear layers, convolutions (also transposed) and sigmoid is 1",
                when=lambda out: expected == 1.0),
    ]
    if nonlinearity == "leaky_relu":
        mistakes = [
            Mistake("for leaky_relu the default param (negative slope) is 0.01, not 0",
                    when=lambda out: param is None and abs(out - math.sqrt(2.0)) < 1e-12),
            Mistake("the leaky_relu gain ignores param: gain = sqrt(2 / (1 + param**2)), param = the negative slope",
                    when=lambda out: param not in (None, 0.01)
                    and min(abs(out - math.sqrt(2.0)), abs(out - math.sqrt(2 / (1 + 1e-4)))) < 1e-12),
            Mistake("leaky_relu's gain is sqrt(2 / (1 + slope**2)): square the slope (a negative slope too) "
                    "and take the square root of the ratio",
                    when=lambda out: isinstance(out, (int, float))),
        ]
    check.close(actual, expected, rtol=1e-12, atol=0.0, mistakes=mistakes)


BAD_GAINS = [("softmax", None), ("gelu", None), ("", None), ("leaky_relu", "0.1")]


@pytest.mark.parametrize("nonlinearity,param", BAD_GAINS,
                         ids=["softmax", "gelu", "empty", "leaky_relu-str-param"])
def test_calculate_gain_errors(student, check, nonlinearity, param):
    kwargs = {} if param is None else {"param": param}
    with check.raises(ValueError, match="nonlinearity|param|slope|unsupported|valid",
                      hint="an unknown nonlinearity (or a leaky_relu param that is not a number) must raise "
                           "ValueError naming it, as torch does"):
        student.init.calculate_gain(nonlinearity, **kwargs)


# ------------------------------------------------------------ constant initializers

CONSTANT_CASES = [("zeros_", (4, 5), {}), ("zeros_", (3, 2, 2), {}), ("constant_", (4, 5), {"val": 0.25}),
                  ("constant_", (7,), {"val": -3.5}), ("constant_", (2, 3, 4), {"val": 7})]


@pytest.mark.parametrize("name,shape,kwargs", CONSTANT_CASES,
                         ids=[f"{n}-{'x'.join(map(str, s))}" for n, s, _ in CONSTANT_CASES])
def test_zeros_and_constant(student, reference, check, gen, device, dtype, name, shape, kwargs):
    t = torch.randn(shape, generator=gen, dtype=dtype).to(device)
    expected = getattr(reference.init, name)(t.clone(), **kwargs)
    record = getattr(student.init, name).inspect_call(t, **kwargs)
    check.equal(_filled(record, shape), expected,
                hint="fill every element of t in place (t.zero_(), t.fill_(val)) and return t")


# ---------------------------------------------------------------- uniform_, normal_

UNIFORM_CASES = [((128, 256), {}), ((64, 300), {"a": -2.0, "b": 3.0}), ((20000,), {"a": 1.5, "b": 1.75}),
                 ((32, 16, 40), {"a": -0.5, "b": -0.25})]


def _uniform_location_hint(a: float, b: float):
    def hint(x: torch.Tensor) -> str | None:
        lo, hi = float(x.min()), float(x.max())
        w = b - a
        if a != 0 and abs(lo) < 0.01 * w and abs(hi - w) < 0.01 * w:
            return "the values lie in [0, b - a]: a + (b - a) * u needs the '+ a'"
        if (a, b) != (0.0, 1.0) and lo >= 0 and hi <= 1 and hi - lo > 0.9:
            return "the values lie in [0, 1]: a and b are ignored; scale and shift: a + (b - a) * u"
        if abs(hi - lo) > 0 and abs(lo - a) < 0.01 * w and abs(hi - (a + 2 * w)) < 0.02 * w:
            return "the interval is twice too wide: U(a, b) is a + (b - a) * u with u ~ U(0, 1)"
        return None
    return hint


@pytest.mark.parametrize("shape,kwargs", UNIFORM_CASES, ids=["default", "a-2-b3", "1-D", "negative"])
def test_uniform(student, check, gen, device, dtype, shape, kwargs):
    """U(a, b): support, both ends reached, mean and second moment (Bernstein), KS (DKW);
    each check fails a correct sampler with probability <= 1e-9 (module docstring)."""
    a, b = kwargs.get("a", 0.0), kwargs.get("b", 1.0)
    out = _draw(student, "uniform_", shape, kwargs, dtype, device, _seed(gen))
    _check_sample(check, _subject("uniform_", shape, kwargs, dtype), out, shape, Dist("uniform", a, b),
                  dtype, device, extra=_uniform_location_hint(a, b))


NORMAL_CASES = [((128, 256), {}), ((20000,), {"mean": 3.0, "std": 0.5}),
                ((32, 16, 40), {"mean": -1.0, "std": 2.5}), ((50, 400), {"mean": 0.25, "std": 0.01}),
                ((40, 50), {"mean": 2.5, "std": 0.0})]


@pytest.mark.parametrize("shape,kwargs", NORMAL_CASES, ids=["default", "mean3-std0.5", "std2.5",
                                                            "std0.01", "std0"])
def test_normal(student, check, gen, device, dtype, shape, kwargs):
    """N(mean, std^2): mean (exact normal, Z = 6.11), second moment (chi-square, Laurent-
    Massart), KS (DKW); each fails a correct sampler with probability <= 1e-9. std = 0
    must give mean exactly."""
    mean, std = kwargs.get("mean", 0.0), kwargs.get("std", 1.0)
    out = _draw(student, "normal_", shape, kwargs, dtype, device, _seed(gen))
    subject = _subject("normal_", shape, kwargs, dtype)
    if std == 0.0:
        check.that(isinstance(out, torch.Tensor) and tuple(out.shape) == tuple(shape)
                   and bool((out == mean).all()),
                   f"{subject} must fill every element with mean exactly",
                   "with std = 0, mean + std * z is mean; make sure z is finite (Box-Muller: use "
                   "log(1 - u), never log(0))")
        return

    def location(x: torch.Tensor) -> str | None:
        m, s = float(x.mean()), math.sqrt(float(((x - x.mean()) ** 2).mean()))
        if mean != 0 and abs(m) < 0.05 * std and abs(s / std - 1) < 0.05:
            return "the mean argument is ignored: N(mean, std**2) is mean + std * z"
        if abs(m - mean) < 0.05 * std + 1e-12:
            if abs(std - 1) > 0.05 and abs(s / (std * std) - 1) < 0.05:
                return "std is the standard deviation: this used std**2 (the variance) as the scale"
            if abs(std - 1) > 0.05 and abs(s / math.sqrt(std) - 1) < 0.05:
                return "std is the standard deviation already: do not take its square root"
        return None

    _check_sample(check, subject, out, shape, Dist("normal", mean, std), dtype, device, extra=location)


# ------------------------------------------------------------------ fan_in_uniform_

FAN_IN_CASES = [((96, 160), {}), ((64, 32, 3, 3), {}), ((24000,), {"fan_in": 300}),
                ((96, 160), {"fan_in": 40})]


@pytest.mark.parametrize("shape,kwargs", FAN_IN_CASES, ids=["linear", "conv2d", "bias", "fan_in-given"])
def test_fan_in_uniform(student, reference, check, gen, device, dtype, shape, kwargs):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in from the reference's fans (or the
    given one): max |w| <= bound and within (bound) ln(1e9)/n of it, moments, KS; each
    check's false-alarm probability <= 1e-9 (module docstring)."""
    computed = _fans(reference, shape)[0] if len(shape) >= 2 else None
    fan_in = kwargs.get("fan_in", computed)
    bound = 1.0 / math.sqrt(fan_in)
    candidates = [(1 / math.sqrt(fan_in), "the bound is 1/sqrt(fan_in): the square root is missing")]
    if computed is not None:
        fi, fo, rf = _fans(reference, shape)
        if "fan_in" in kwargs:
            candidates.append((math.sqrt(fan_in / fi), "the fan_in argument is ignored: when it is given, "
                                                       "use it instead of the tensor's own fan-in"))
        candidates += [
            (math.sqrt(fi / fo), "this used fan_out (shape[0] * receptive field): the bound is "
                                 "1/sqrt(fan_in), fan_in = shape[1] * receptive field"),
            (math.sqrt(rf), "the receptive field is missing from fan_in (shape[1] * k1 * k2 * ...)"),
        ]
    candidates += [(math.sqrt(6.0), "this is kaiming_uniform_'s default bound sqrt(6/fan_in): the layer "
                                    "default is 1/sqrt(fan_in) (torch's a = sqrt(5) gives gain sqrt(1/3))"),
                   (math.sqrt(3.0), "the bound is 1/sqrt(fan_in), not sqrt(3/fan_in)")]
    out = _draw(student, "fan_in_uniform_", shape, kwargs, dtype, device, _seed(gen))
    _check_sample(check, _subject("fan_in_uniform_", shape, kwargs, dtype), out, shape,
                  Dist("uniform", -bound, bound), dtype, device, candidates)


# ------------------------------------------------------------------------- xavier

def _xavier_candidates(reference, shape, gain, uniform):
    fi, fo, rf = _fans(reference, shape)
    std = gain * math.sqrt(2.0 / (fi + fo))
    c = []
    if uniform:
        c.append((1 / math.sqrt(3), "the bound is the standard deviation: a uniform on [-b, b] has std "
                                    "b/sqrt(3), so b = sqrt(3) * gain * sqrt(2/(fan_in + fan_out))"))
    else:
        c.append((math.sqrt(3), "this is the uniform bound: xavier_normal_'s std is "
                                "gain * sqrt(2/(fan_in + fan_out)), without sqrt(3)"))
    c += [
        (gain / math.sqrt(fi) / std, "xavier uses both fans: std = gain * sqrt(2/(fan_in + fan_out)); "
                                     "this used fan_in only"),
        (gain / math.sqrt(fo) / std, "xavier uses both fans: std = gain * sqrt(2/(fan_in + fan_out)); "
                                     "this used fan_out only"),
        (1 / gain, "the gain argument is ignored: multiply the std (and the bound) by gain"),
        (1 / math.sqrt(2), "the 2 is missing: std = gain * sqrt(2/(fan_in + fan_out))"),
        (math.sqrt(rf), "the receptive field is missing from the fans (conv weights: multiply by k1 * k2 * ...)"),
        (math.sqrt(2.0 / (fi + fo)), "take the square root: std = gain * sqrt(2/(fan_in + fan_out))"),
    ]
    return c


XAVIER_UNIFORM_CASES = [((256, 64), {}), ((40, 16, 5, 5), {"gain": 5 / 3}), ((96, 48, 7), {"gain": 0.75}),
                        ((16, 32, 3, 3, 3), {"gain": 2.0})]
XAVIER_NORMAL_CASES = [((80, 200), {}), ((16, 40, 5, 5), {"gain": 5 / 3}), ((48, 96, 5), {"gain": 2.5}),
                       ((32, 16, 3, 3, 3), {"gain": 0.5})]
XAVIER_IDS = ["linear", "conv2d-gain5/3", "conv1d-gain", "conv3d-gain"]


def _xavier(student, reference, check, gen, device, dtype, name, shape, kwargs):
    gain = kwargs.get("gain", 1.0)
    fi, fo, _ = _fans(reference, shape)
    std = gain * math.sqrt(2.0 / (fi + fo))
    uniform = name == "xavier_uniform_"
    dist = Dist("uniform", -math.sqrt(3) * std, math.sqrt(3) * std) if uniform else Dist("normal", 0.0, std)
    out = _draw(student, name, shape, kwargs, dtype, device, _seed(gen))
    _check_sample(check, _subject(name, shape, kwargs, dtype), out, shape, dist, dtype, device,
                  _xavier_candidates(reference, shape, gain, uniform))


@pytest.mark.parametrize("shape,kwargs", XAVIER_UNIFORM_CASES, ids=XAVIER_IDS)
def test_xavier_uniform(student, reference, check, gen, device, dtype, shape, kwargs):
    """U(-b, b), b = gain sqrt(6 / (fan_in + fan_out)): the uniform checks of the module
    docstring (each false alarm <= 1e-9), non-square linear and conv 3-D/4-D/5-D shapes."""
    _xavier(student, reference, check, gen, device, dtype, "xavier_uniform_", shape, kwargs)


@pytest.mark.parametrize("shape,kwargs", XAVIER_NORMAL_CASES, ids=XAVIER_IDS)
def test_xavier_normal(student, reference, check, gen, device, dtype, shape, kwargs):
    """N(0, std^2), std = gain sqrt(2 / (fan_in + fan_out)): the normal checks of the module
    docstring (each false alarm <= 1e-9)."""
    _xavier(student, reference, check, gen, device, dtype, "xavier_normal_", shape, kwargs)


# ------------------------------------------------------------------------ kaiming

def _kaiming_candidates(reference, shape, kwargs, uniform):
    a = kwargs.get("a", 0)
    mode = kwargs.get("mode", "fan_in")
    nonlinearity = kwargs.get("nonlinearity", "leaky_relu")
    fi, fo, rf = _fans(reference, shape)
    fan, other = (fi, fo) if mode == "fan_in" else (fo, fi)
    gain = reference.init.calculate_gain(nonlinearity, a)
    c = []
    if uniform:
        c.append((1 / math.sqrt(3), "the bound is the standard deviation gain/sqrt(fan): a uniform on [-b, b] "
                                    "has std b/sqrt(3), so b = sqrt(3) * gain / sqrt(fan)"))
    else:
        c.append((math.sqrt(3), "this is the uniform bound: kaiming_normal_'s std is gain / sqrt(fan), "
                                "without sqrt(3)"))
    if mode == "fan_in":
        swapped = "the fan is wrong: mode='fan_in' (the default) uses fan_in = shape[1] * receptive field; " \
                  "this looks like fan_out (fans swapped, or the wrong default mode)"
    else:
        swapped = "the fan is wrong: mode='fan_out' uses fan_out = shape[0] * receptive field; this looks " \
                  "like fan_in (mode ignored, or fans swapped)"
    c += [
        (math.sqrt(fan / other), swapped),
        (math.sqrt(rf), "the receptive field is missing from the fan (conv weights: multiply by k1 * k2 * ...)"),
    ]
    if nonlinearity == "leaky_relu" and a not in (0, 0.01):
        c.append((math.sqrt(2 / (1 + 1e-4)) / gain, "a (the negative slope) is ignored: the gain is "
                                                   "calculate_gain('leaky_relu', a) = sqrt(2/(1 + a**2))"))
        c.append((math.sqrt(2) / gain, "a (the negative slope) is ignored: the gain is "
                                       "calculate_gain('leaky_relu', a) = sqrt(2/(1 + a**2))"))
    if nonlinearity == "relu":
        c.append((math.sqrt(2), "relu's gain is sqrt(2), not 2: the gain multiplies the std "
                                "(std = gain / sqrt(fan))"))
    which = "sqrt(2) for the default leaky_relu with a = 0" if nonlinearity == "leaky_relu" else nonlinearity
    c += [
        (1 / gain, f"the gain is missing: std = gain / sqrt(fan) with gain = calculate_gain(nonlinearity, a) "
                   f"({which})"),
        (1 / math.sqrt(fan), "take the square root of the fan: std = gain / sqrt(fan)"),
    ]
    if not uniform:
        c.append((gain / math.sqrt(fan), "normal's std argument is the standard deviation: this looks like "
                                         "the variance gain**2/fan"))
    return c


KAIMING_UNIFORM_CASES = [((160, 400), {}), ((64, 16, 5, 5), {"a": 0.6, "mode": "fan_out"}),
                         ((40, 16, 3, 3, 3), {"nonlinearity": "relu"}),
                         ((96, 40, 5), {"mode": "fan_out", "nonlinearity": "linear"}),
                         ((200, 100), {"a": 5 ** 0.5}), ((100, 240), {"nonlinearity": "selu"})]
KAIMING_UNIFORM_IDS = ["default", "conv2d-leaky0.6-fan_out", "conv3d-relu", "conv1d-linear-fan_out",
                       "linear-a-sqrt5", "selu"]
KAIMING_NORMAL_CASES = [((96, 240), {}), ((40, 64, 3, 3), {"mode": "fan_out", "nonlinearity": "relu"}),
                        ((24, 16, 4, 4, 4), {"a": 0.2}), ((48, 80, 5), {"nonlinearity": "tanh"}),
                        ((96, 300), {"a": 0.5, "mode": "fan_out"}), ((80, 128, 2), {"nonlinearity": "sigmoid"})]
KAIMING_NORMAL_IDS = ["default", "conv2d-relu-fan_out", "conv3d-leaky0.2", "conv1d-tanh",
                      "linear-leaky0.5-fan_out", "conv1d-sigmoid"]


def _kaiming(student, reference, check, gen, device, dtype, name, shape, kwargs):
    mode = kwargs.get("mode", "fan_in")
    fi, fo, _ = _fans(reference, shape)
    fan = fi if mode == "fan_in" else fo
    std = reference.init.calculate_gain(kwargs.get("nonlinearity", "leaky_relu"), kwargs.get("a", 0)) / math.sqrt(fan)
    uniform = name == "kaiming_uniform_"
    dist = Dist("uniform", -math.sqrt(3) * std, math.sqrt(3) * std) if uniform else Dist("normal", 0.0, std)
    out = _draw(student, name, shape, kwargs, dtype, device, _seed(gen))
    _check_sample(check, _subject(name, shape, kwargs, dtype), out, shape, dist, dtype, device,
                  _kaiming_candidates(reference, shape, kwargs, uniform))


@pytest.mark.parametrize("shape,kwargs", KAIMING_UNIFORM_CASES, ids=KAIMING_UNIFORM_IDS)
def test_kaiming_uniform(student, reference, check, gen, device, dtype, shape, kwargs):
    """U(-b, b), b = sqrt(3) gain / sqrt(fan), gain = calculate_gain(nonlinearity, a), fan by
    mode: the uniform checks of the module docstring (each false alarm <= 1e-9)."""
    _kaiming(student, reference, check, gen, device, dtype, "kaiming_uniform_", shape, kwargs)


@pytest.mark.parametrize("shape,kwargs", KAIMING_NORMAL_CASES, ids=KAIMING_NORMAL_IDS)
def test_kaiming_normal(student, reference, check, gen, device, dtype, shape, kwargs):
    """N(0, std^2), std = gain / sqrt(fan): the normal checks of the module docstring (each
    false alarm <= 1e-9)."""
    _kaiming(student, reference, check, gen, device, dtype, "kaiming_normal_", shape, kwargs)


# ---------------------------------------------------------- in place, under no_grad

IN_PLACE = [("uniform_", {"a": -1.0, "b": 2.0}), ("normal_", {"mean": 1.0, "std": 2.0}), ("zeros_", {}),
            ("constant_", {"val": 0.5}), ("fan_in_uniform_", {}), ("xavier_uniform_", {}),
            ("xavier_normal_", {"gain": 2.0}), ("kaiming_uniform_", {}),
            ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"})]

_ERROR_HINTS = [
    ("leaf variable", NO_GRAD_HINT),
    ("requires grad", NO_GRAD_HINT),
    ("view", "fill the tensor through in-place operations that work on views (t.uniform_, t.normal_, "
             "t.copy_, t.fill_), not by changing its shape or storage"),
]


@pytest.mark.parametrize("name,kwargs", IN_PLACE, ids=[n for n, _ in IN_PLACE])
def test_in_place(student, check, gen, device, dtype, name, kwargs):
    """A leaf that requires grad (a model's parameter) is filled in place under no_grad
    and stays a leaf; a non-contiguous view (w.T, w[:, ::2]) is filled through to its
    base's memory; the same tensor object comes back.

    What is scored: the grader's own reading of the source (the function writes into t,
    and never through ``t.data = ...``; see grader.mutation_check) and what can be seen in
    values: the call on a parameter works (no "leaf variable" error) and fills every
    element. Whether the same object came back, or a view's base was filled, only the
    worker can see: those become notes."""
    fn = getattr(student.init, name)
    check.source(fn.findings("not_filled", "replaces_storage"))
    random = name in RANDOM_INITS
    seed = _seed(gen)
    runs = [{"requires_grad": True}, {"view": "transpose"}, {"view": "strided"}]
    if random:
        runs = [dict(r, seed=seed + i) for i, r in enumerate(runs)]
    shape = (6, 10)
    try:
        reports = student.harness.run_init(fn, shape, dict(kwargs), runs, dtype=dtype, device=device)
    except StudentError as err:
        for needle, hint in _ERROR_HINTS:
            if needle in err.exc_message.lower():
                check.fail(err.message, hint)
        raise
    subject = _subject(name, shape, kwargs, dtype)
    leaf, transposed, strided = reports
    filled = _drawn(leaf, shape)
    check.that(filled is not None and bool(torch.isfinite(filled).all()),
               f"{subject} on a leaf tensor that requires grad left elements unfilled",
               "fill every element of t in place, inside torch.no_grad()")
    if name == "zeros_":
        check.that(bool((filled == 0).all()), f"{subject} did not fill a parameter with zeros")
    if name == "constant_":
        check.that(bool((filled == kwargs["val"]).all()), f"{subject} did not fill a parameter with val")
    _in_place_notes(check, subject, leaf, transposed, strided)


def _in_place_notes(check, subject, leaf, transposed, strided):
    """What the worker reports about Python objects and memory, as notes (no points)."""
    if not leaf.get("same_object"):
        check.note(f"{subject} returned {leaf.get('returned_type')} instead of t itself (seen in the worker): "
                   "fill t in place and return t")
    if leaf.get("has_grad_fn") or not leaf.get("requires_grad", True):
        check.note(f"{subject} left a parameter with an autograd history or no longer requiring grad (seen in the "
                   "worker): fill it inside torch.no_grad()")
    for label, report, view in (("a transposed view", transposed, lambda b: b.t()),
                                ("a strided view", strided, lambda b: b[:, ::2])):
        base, values = report.get("base"), report.get("values")
        if isinstance(base, torch.Tensor) and isinstance(values, torch.Tensor) and base.dim() == 2:
            if not (view(base).shape == values.shape and bool(torch.equal(view(base), values))):
                check.note(f"{subject} on {label} did not fill the tensor it views (seen in the worker): write "
                           "into t's own memory (t.uniform_, t.copy_), never t.data = ...")


# ----------------------------------------------------------------- the generator

GEN_CASES = [("uniform_", (40, 50), {"a": -1.0, "b": 1.0}), ("normal_", (40, 50), {}),
             ("fan_in_uniform_", (40, 50), {}), ("xavier_uniform_", (20, 10, 3), {}),
             ("xavier_normal_", (40, 50), {}), ("kaiming_uniform_", (20, 10, 3, 3), {}),
             ("kaiming_normal_", (40, 50), {"nonlinearity": "relu"})]


@pytest.mark.parametrize("name,shape,kwargs", GEN_CASES, ids=[n for n, _, _ in GEN_CASES])
def test_generator(student, check, gen, device, dtype, name, shape, kwargs):
    """Randomness comes only from `generator`: the same seed gives the same values under
    any global seed, another seed other values, and torch's global generator is left
    untouched; without a generator the global RNG is used (torch.manual_seed controls it,
    and two calls in a row draw different values).

    Everything is judged from values drawn in the worker and compared here: "untouched"
    means a draw without a generator right after the call equals the same draw without
    the call, both after the same torch.manual_seed."""
    s1, s2 = _seed(gen), _seed(gen)
    g1, g2, a1, a2 = (_seed(gen) % 2 ** 31 for _ in range(4))
    runs = [{"seed": s1, "global_seed": a1}, {"seed": s1, "global_seed": a2}, {"seed": s2, "global_seed": a1},
            {"global_seed": g1}, {"global_seed": g1}, {"global_seed": g2},
            {"seed": s1, "global_seed": g1, "then_none": True}, {"global_seed": g1, "then_none": True}]
    reports = student.harness.run_init(getattr(student.init, name), shape, dict(kwargs), runs,
                                       dtype=dtype, device=device)
    subject = _subject(name, shape, kwargs, dtype)
    # judge what came back (a new tensor instead of t is graded in test_in_place)
    v = [_drawn(r, shape) for r in reports]
    check.that(all(isinstance(x, torch.Tensor) and bool(torch.isfinite(x).all()) for x in v),
               f"{subject} left elements of t unfilled", "fill every element of t in place")
    check.that(bool(torch.equal(v[0], v[1])),
               f"{subject}: the same generator seed gave different values under different global seeds: the values "
               "depend on torch's global random state",
               "draw only from the generator argument: pass generator=generator to every random call "
               "(t.uniform_(a, b, generator=generator), torch.rand(..., generator=generator)); never "
               "call torch.rand/randn/manual_seed without it")
    check.that(not bool(torch.equal(v[0], v[2])),
               f"{subject}: generators with different seeds gave identical values",
               "the generator argument is ignored (a fixed seed or a new torch.Generator inside?): "
               "sample with generator=generator")
    same_seed_equal = bool(torch.equal(v[3], v[4]))
    check.that(same_seed_equal and not bool(torch.equal(v[3], v[5])),
               f"{subject} without a generator does not follow torch's global RNG ("
               + ("different global seeds gave the same values" if same_seed_equal
                  else "the same global seed gave different values") + ")",
               "with generator=None, sample with generator=None (torch's global generator): "
               "t.uniform_(a, b, generator=None) or torch.rand(..., generator=None)")
    after = _tensor_or_none(reports[6].get("then"), shape)
    check.that(after is not None and bool(torch.equal(after, v[3])),
               f"{subject} with a generator changed torch's global random state: a draw without a generator right "
               "after the call differs from the same draw without the call",
               "draw only from the generator argument: no torch.manual_seed, and no torch.rand/randn without "
               "generator=generator")
    again = _tensor_or_none(reports[7].get("then"), shape)
    check.that(again is not None and not bool(torch.equal(again, v[3])),
               f"{subject} without a generator drew the same values twice in a row: each call must go on "
               "drawing from torch's global generator",
               "with generator=None, sample from torch's global generator and do not reseed it")


def _drawn(report, shape):
    """The values an initializer produced: its return value when that is a tensor of the
    right shape (a new tensor instead of t is graded in test_in_place), else t."""
    returned = _tensor_or_none(report.get("returned"), shape)
    return returned if returned is not None else _tensor_or_none(report.get("values"), shape)


def _tensor_or_none(value, shape):
    return value if isinstance(value, torch.Tensor) and tuple(value.shape) == tuple(shape) else None


# ---------------------------------------------------------------- deep networks

DEEP_WIDTHS = [128, 32] * 15 + [128]  # 30 layers, every one non-square (4:1 or 1:4)
DEEP_BATCH = 64
TANH_FLOOR = 0.05

DEEP_CASES = [
    pytest.param("kaiming_normal_", {}, "relu", id="kaiming_normal-relu"),
    pytest.param("kaiming_uniform_", {"nonlinearity": "relu"}, "relu", id="kaiming_uniform-relu"),
    pytest.param("kaiming_normal_", {"a": 0.5}, "leaky_relu", id="kaiming_normal-leaky_relu0.5"),
    pytest.param("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "linear"}, "backward",
                 id="kaiming_uniform-fan_out-backward"),
    pytest.param("xavier_uniform_", {"gain": "tanh"}, "tanh", id="xavier_uniform-tanh"),
    pytest.param("xavier_normal_", {"gain": "tanh"}, "tanh", id="xavier_normal-tanh"),
]


def _growth_window(units: list[int], slope: float) -> tuple[float, float]:
    """Bounds on the mean over layers of r_l = q_l / q_{l-1} that a correct kaiming
    initialisation breaks with probability at most ALPHA / 2 on each side.

    q_l is the mean square of layer l's output. Given the previous layer h, each of the
    layer's `units` outputs gives Y_i = mean over the batch (weighted by |h_n|^2) of
    c * act(u)^2, where u = w_i . h_n / (sigma_w |h_n|) is a symmetric, variance-one
    (Gaussian, or strictly sub-Gaussian for uniform weights) variable, act is the leaky
    ReLU of slope `slope` (1: linear) and c = 2 / (1 + slope^2) is the squared gain.
    So E[r_l | past] = 1 exactly (a martingale), the rows are independent, and by
    convexity E exp(lam Y_i) <= M(lam) = (1/2)(1 - 2 lam c)^-1/2 + (1/2)(1 - 2 lam c slope^2)^-1/2.
    Upper tail: Chernoff with sum_l units_l log M(lam / units_l), minimised over a grid of
    lam (any lam gives a valid bound). Lower tail: Y >= 0 gives
    E exp(-s (Y - 1)) <= exp(s^2 E[Y^2] / 2), E[Y^2] <= c^2 (3/2)(1 + slope^4), hence
    P(mean r <= 1 - t) <= exp(-k^2 t^2 / (2 E[Y^2] sum_l 1/units_l)).
    """
    k = len(units)
    c = 2.0 / (1.0 + slope * slope)
    ey2 = c * c * 1.5 * (1 + slope ** 4)
    t_low = math.sqrt(2 * ey2 * sum(1.0 / u for u in units) * _L2) / k
    lam_max = min(units) / (2 * c)

    def log_m(x: float) -> float:
        return math.log(0.5 / math.sqrt(1 - 2 * x * c) + 0.5 / math.sqrt(1 - 2 * x * c * slope * slope))

    lams = [lam_max * i / 400 for i in range(1, 400)]
    cums = [sum(u * log_m(lam / u) for u in units) for lam in lams]

    def log_bound(t: float) -> float:
        return min(cum - lam * k * (1 + t) for lam, cum in zip(lams, cums))

    lo, hi = 0.0, 10.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if log_bound(mid) <= -_L2 else (mid, hi)
    return 1 - t_low, 1 + hi


_WINDOWS: dict[float, tuple[float, float]] = {}


def _window(slope: float) -> tuple[float, float]:
    if slope not in _WINDOWS:
        _WINDOWS[slope] = _growth_window(DEEP_WIDTHS[1:], slope)
    return _WINDOWS[slope]


@pytest.mark.parametrize("name,kwargs,act", DEEP_CASES)
def test_deep_network(student, reference, check, gen, device, dtype, name, kwargs, act):
    """The student's initializer fills the weights of a 30-layer network whose layers
    alternate between widths 128 and 32; the grader runs the network on a batch of 64
    standard normal inputs (in float64) and follows q_l, the mean square of each layer's
    output.

    kaiming + relu / leaky_relu (forward) and kaiming mode="fan_out" + linear layers
    (backward: gradients flow through W^T): E[q_l / q_{l-1} | past] = 1 exactly, so the
    average growth factor per layer must lie in the window of _growth_window (about
    [0.59, 1.43] for relu; P(outside) <= 1e-9; over simulated correct networks it is
    1.00 +- 0.05). Swapped fans give factors 4 and 1/4 on alternate layers (average
    2.1), a missing sqrt(2) gain 0.5, a bound used as the std 3.
    xavier + tanh with the tanh gain 5/3 has no such martingale, but tanh saturates, so
    the activations settle near a stable fixed point of the layer map and cannot
    explode: q_30 = 0.262 +- 0.013 over 4000 simulated correct networks (smallest 0.22).
    They must not vanish: q_30 >= 0.05, 16 standard deviations below. Without the gain,
    q_30 is about 1e-4.
    """
    kwargs = dict(kwargs)
    if kwargs.get("gain") == "tanh":
        kwargs["gain"] = reference.init.calculate_gain("tanh")
    shapes = [(DEEP_WIDTHS[i + 1], DEEP_WIDTHS[i]) for i in range(len(DEEP_WIDTHS) - 1)]
    weights = student.harness.init_layers(getattr(student.init, name), shapes, kwargs, seed=_seed(gen),
                                          dtype=dtype, device=device)
    subject = f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    ok = (isinstance(weights, list) and len(weights) == len(shapes)
          and all(isinstance(w, torch.Tensor) and tuple(w.shape) == s for w, s in zip(weights, shapes)))
    check.that(ok, f"{subject} did not give weights of the layers' shapes", "fill t in place and return t")
    ws = [w.detach().to("cpu", torch.float64) for w in weights]
    check.that(all(bool(torch.isfinite(w).all()) for w in ws), f"{subject} left nan or inf in the weights",
               "fill every element of t")
    x = torch.randn(DEEP_BATCH, DEEP_WIDTHS[0 if act != "backward" else -1], generator=gen, dtype=torch.float64)
    q = [float((x * x).mean())]
    h = x
    if act == "backward":
        for w in reversed(ws):  # the gradient with respect to the layer's input: g @ W
            h = h @ w
            q.append(float((h * h).mean()))
    else:
        for w in ws:
            z = h @ w.T
            if act == "relu":
                h = z.clamp(min=0)
            elif act == "leaky_relu":
                h = torch.where(z > 0, z, kwargs["a"] * z)
            else:
                h = torch.tanh(z)
            q.append(float((h * h).mean()))
    layers = len(ws)
    total = q[-1] / q[0] if q[0] > 0 else math.nan
    where = f"in a {layers}-layer network ({'backward pass of linear' if act == 'backward' else act} " \
            f"layers of widths alternating 128 and 32)"
    if act == "tanh":
        check.that(math.isfinite(q[-1]) and q[-1] >= TANH_FLOOR,
                   f"{subject} {where}: the activations vanish (their mean square after {layers} layers is "
                   f"{q[-1]:.3g})",
                   "xavier's std is gain * sqrt(2/(fan_in + fan_out)); make sure the gain argument is applied")
        return
    ratios = [b / a if a > 0 else math.inf for a, b in zip(q[:-1], q[1:])]
    growth = sum(ratios) / len(ratios)
    lo, hi = _window(1.0 if act == "backward" else (kwargs.get("a", 0.0) if act == "leaky_relu" else 0.0))
    if lo <= growth <= hi:
        return
    trend = "explodes" if growth > hi else "vanishes"
    # (input width, output width) of each step, to tell layers that narrow the signal
    # (4:1) from layers that widen it (1:4)
    steps = [(i, o) for o, i in shapes] if act != "backward" else [(o, i) for o, i in reversed(shapes)]
    narrow = [r for r, (i, o) in zip(ratios, steps) if o < i]
    widen = [r for r, (i, o) in zip(ratios, steps) if o > i]
    r_narrow, r_widen = sum(narrow) / len(narrow), sum(widen) / len(widen)
    if r_narrow > 2.5 * r_widen or r_widen > 2.5 * r_narrow:
        hint = ("the scale jumps between layers of different shapes (x4 on one kind, /4 on the other): the "
                "fan is wrong. " + ("mode='fan_out' uses fan_out = shape[0] * receptive field; this behaves "
                                    "like fan_in (mode ignored, or fans swapped)" if act == "backward" else
                                    "mode='fan_in' (the default) uses fan_in = shape[1], the layer's input "
                                    "width; this behaves like fan_out (fans swapped, or the wrong default mode)"))
    elif 1.7 < growth < 2.3:
        hint = "the variance doubles at every layer: the gain multiplies the std, so relu's gain is sqrt(2), not 2"
    elif 0.4 < growth < 0.6:
        hint = "the gain is missing: the default leaky_relu with a = 0 (and relu) needs gain sqrt(2)"
    elif 2.6 < growth < 3.4:
        hint = "the std is sqrt(3) times too large (the uniform bound used as a normal's std?)"
    elif 0.28 < growth < 0.4:
        hint = "the spread is sqrt(3) times too small (the std used as a uniform's bound?)"
    else:
        hint = None
    check.fail(f"{subject} {where}: the signal {trend}: its mean square grows by a factor {growth:.3g} per "
               f"layer on average (it should stay near 1) and ends {total:.3g} times the input's",
               hint or "with kaiming init the mean square of the activations should stay constant from "
                       "layer to layer: std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a)")


# --------------------------------------------------------------- bad arguments

BAD_ARGS = [
    ("uniform_", (4, 5), {"a": 1.0, "b": 0.0}, r"\ba\b|\bb\b|bound|lower|upper|low|high"),
    ("normal_", (4, 5), {"std": -1.0}, "std"),
    ("kaiming_uniform_", (4, 5), {"mode": "fan_avg"}, "mode"),
    ("kaiming_normal_", (4, 5), {"nonlinearity": "softmax"}, "nonlinearity"),
    ("fan_in_uniform_", (5,), {}, "fan|dim"),
    ("fan_in_uniform_", (4, 5), {"fan_in": 0}, "fan_in"),
    ("xavier_uniform_", (5,), {}, "fan|dim"),
    ("xavier_normal_", (4, 5), {"gain": -1.0}, "gain"),
]


@pytest.mark.parametrize("name,shape,kwargs,match", BAD_ARGS,
                         ids=[f"{n}-{'-'.join(f'{k}{v}' for k, v in kw.items()) or 'dim'}" for n, _, kw, _ in BAD_ARGS])
def test_bad_arguments(student, check, device, name, shape, kwargs, match):
    t = torch.zeros(shape, device=device)
    with check.raises(ValueError, match=match,
                      hint=f"validate the arguments of {name} and raise ValueError naming the bad one"):
        getattr(student.init, name)(t, **kwargs)


# --------------------------------------------------------------------------- on the GPU

DEVICE_SHAPE = (48, 64)
DEVICE_CASES = [
    ("calculate_fan_in_and_fan_out", {}), ("zeros_", {}), ("constant_", {"val": 0.25}),
    ("uniform_", {"a": -1.0, "b": 2.0}), ("normal_", {"mean": 1.0, "std": 0.5}), ("fan_in_uniform_", {}),
    ("xavier_uniform_", {"gain": 1.5}), ("xavier_normal_", {}), ("kaiming_uniform_", {"nonlinearity": "relu"}),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}),
]


def _device_dist(reference, name: str, kwargs: dict) -> Dist:
    fi, fo, _ = _fans(reference, DEVICE_SHAPE)
    gain = math.sqrt(2.0)  # relu, for the kaiming cases
    return {
        "uniform_": Dist("uniform", kwargs.get("a", 0.0), kwargs.get("b", 1.0)),
        "normal_": Dist("normal", kwargs.get("mean", 0.0), kwargs.get("std", 1.0)),
        "fan_in_uniform_": Dist("uniform", -1 / math.sqrt(fi), 1 / math.sqrt(fi)),
        "xavier_uniform_": Dist("uniform", -1.5 * math.sqrt(6 / (fi + fo)), 1.5 * math.sqrt(6 / (fi + fo))),
        "xavier_normal_": Dist("normal", 0.0, math.sqrt(2 / (fi + fo))),
        "kaiming_uniform_": Dist("uniform", -gain * math.sqrt(3 / fi), gain * math.sqrt(3 / fi)),
        "kaiming_normal_": Dist("normal", 0.0, gain / math.sqrt(fo)),
    }[name]


@pytest.mark.parametrize("name,kwargs", DEVICE_CASES, ids=[n for n, _ in DEVICE_CASES])
def test_on_device(student, reference, check, gen, name, kwargs):
    """Each function on a tensor on the simulated GPU, with a generator there too: the
    draw happens on the tensor's device (t.uniform_(..., generator=g), or a tensor made
    with device=t.device), the tensor comes back there, and its values are right."""
    t = torch.full(DEVICE_SHAPE, math.nan)
    fn = getattr(student.init, name)
    if name == "calculate_fan_in_and_fan_out":
        got = on_device(check, student, fn, t, what=name)
        check.equal(list(got) if isinstance(got, (tuple, list)) else got,
                    list(reference.init.calculate_fan_in_and_fan_out(t)), what=f"{name} on the simulated GPU")
        return
    if name not in RANDOM_INITS:
        out = on_device(check, student, fn, t, what=name, **kwargs)
        expected = torch.full(DEVICE_SHAPE, float(kwargs.get("val", 0.0)))
        check.equal(out, expected, what=f"{name} on the simulated GPU")
        return
    g = torch.Generator().manual_seed(_seed(gen))
    out = on_device(check, student, fn, t, what=name, **kwargs, generator=g)
    _check_sample(check, _subject(name, DEVICE_SHAPE, kwargs, torch.float32) + " on the simulated GPU", out,
                  DEVICE_SHAPE, _device_dist(reference, name, kwargs), torch.float32, "cpu")
