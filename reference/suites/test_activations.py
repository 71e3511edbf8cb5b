"""Hidden suite for activations.py: the activations, softmax / log_softmax along any dim,
their behaviour for inputs as large as 1e4, and the derivatives.

Every case compares the student's value with the reference's on the case's device and
dtype. Hints name the likely mistake, recognised by recomputing what the buggy formula
returns for the same inputs: in float64 for slips in the maths, in the case's own dtype
for overflow slips (so that their nan and inf land where the student's do).
"""

from __future__ import annotations

import math

import pytest
import torch

from grader.device_check import on_device
from grader.diagnosis import Mistake

SQRT_2PI = math.sqrt(2 * math.pi)
GELU_C = math.sqrt(2 / math.pi)
GELU_K = 0.044715


# --------------------------------------------------------------------------- helpers

def _like(value: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """A candidate value cast to the case's dtype and device."""
    return value.to(dtype=ref.dtype, device=ref.device)


def _draw(gen: torch.Generator, shape: tuple[int, ...], dtype: torch.dtype, scale: float = 3.0) -> torch.Tensor:
    """Random values with exact zeros (every fifth entry) and a negative zero: the kinks."""
    x = torch.randn(shape, generator=gen, dtype=dtype) * scale
    flat = x.view(-1)
    flat[::5] = 0.0
    if flat.numel() > 2:
        flat[1] = -0.0
    return x


def _large(gen: torch.Generator, scale: float, dtype: torch.dtype) -> torch.Tensor:
    """(4, 6): +-scale, +-scale/2, moderate values and zeros, plus random ones of size scale."""
    s = scale
    fixed = torch.tensor([s, -s, s / 2, -s / 2, 0.0, -0.0, 0.5, -0.5, 2.5, -2.5, 20.0, -20.0],
                         dtype=torch.float64)
    rand = torch.randn(12, generator=gen, dtype=torch.float64) * s
    return torch.cat([fixed, rand]).to(dtype).reshape(4, 6)


def _sig(z: torch.Tensor) -> torch.Tensor:
    """A stable sigmoid (for candidate values only)."""
    e = torch.exp(-z.abs())
    return torch.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _phi_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-z / math.sqrt(2))


def _gelu_exact(z: torch.Tensor) -> torch.Tensor:
    return z * _phi_cdf(z)


def _gelu_tanh(z: torch.Tensor, c: float = GELU_C, k: float = GELU_K) -> torch.Tensor:
    return 0.5 * z * (1 + torch.tanh(c * (z + k * z ** 3)))


def _gelu_grad_exact(z: torch.Tensor) -> torch.Tensor:
    return _phi_cdf(z) + z * torch.exp(-0.5 * z * z) / SQRT_2PI


def _gelu_grad_tanh(z: torch.Tensor) -> torch.Tensor:
    t = torch.tanh(GELU_C * (z + GELU_K * z ** 3))
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * GELU_C * (1 + 3 * GELU_K * z * z)


def _softmax64(x: torch.Tensor, dim: int) -> torch.Tensor:
    x = x.double()
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)


def _log_softmax64(x: torch.Tensor, dim: int) -> torch.Tensor:
    x = x.double()
    s = x - x.amax(dim=dim, keepdim=True)
    return s - torch.log(torch.exp(s).sum(dim=dim, keepdim=True))


def _finite(out) -> bool:
    return isinstance(out, torch.Tensor) and out.is_floating_point() and bool(torch.isfinite(out).all())


NAN_SIGMOID = ("nan or inf for large |x|: exp(x) overflows (inf / inf = nan). Use e = exp(-|x|) <= 1: "
               "s(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0")
NAN_TANH = ("nan or inf for large |x|: exp(x) or exp(-x) overflows (inf / inf = nan). Use e = exp(-2|x|): "
            "tanh(x) = sign(x) (1 - e) / (1 + e)")
NAN_SOFTMAX = ("nan or inf for large logits: exp(x) overflows (inf / inf) or underflows to 0 / 0. "
               "Subtract the max along dim first: exp(x - x.amax(dim, keepdim=True))")
GLOBAL_MAX = ("nan for slices far below the largest entry: subtracting the max of the whole tensor is not "
              "enough, a slice whose entries are all far smaller underflows to 0 / 0; subtract each slice's "
              "own max, x.amax(dim=dim, keepdim=True)")
LOG_OF_SOFTMAX = ("log(softmax(x)) gives log(0) = -inf when a probability underflows, although the "
                  "log-probability is finite: compute (x - m) - log(sum(exp(x - m))) with m the max along dim")


# --------------------------------------------------------------------------- sigmoid

SHAPES = [(9,), (4, 6), (2, 3, 4)]
SHAPE_IDS = ["9", "4x6", "2x3x4"]


def _sigmoid_mistakes(xd: torch.Tensor, expected: torch.Tensor) -> list[Mistake]:
    return [
        Mistake("the sign is flipped: s(x) = 1 / (1 + exp(-x)), this computed 1 / (1 + exp(x))",
                value=lambda: _like(_sig(-xd), expected)),
        Mistake("this is tanh(x), not the sigmoid 1 / (1 + exp(-x))",
                value=lambda: _like(torch.tanh(xd), expected)),
    ]


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_sigmoid(student, reference, check, gen, device, dtype, shape):
    x = _draw(gen, shape, dtype).to(device)
    expected = reference.activations.sigmoid(x)
    actual = student.activations.sigmoid(x)
    check.close(actual, expected, mistakes=_sigmoid_mistakes(x.double(), expected))


@pytest.mark.parametrize("scale", [1e2, 1e3, 1e4], ids=["1e2", "1e3", "1e4"])
def test_sigmoid_large(student, reference, check, gen, device, dtype, scale):
    x = _large(gen, scale, dtype).to(device)
    expected = reference.activations.sigmoid(x)
    actual = student.activations.sigmoid(x)
    check.close(actual, expected, mistakes=[
        Mistake(NAN_SIGMOID, value=lambda: torch.exp(x) / (1 + torch.exp(x))),
        Mistake(NAN_SIGMOID, problem="nan"),
        Mistake(NAN_SIGMOID, problem="inf"),
        *_sigmoid_mistakes(x.double(), expected),
    ])


# --------------------------------------------------------------------------- tanh

def _tanh_mistakes(xd: torch.Tensor, expected: torch.Tensor) -> list[Mistake]:
    return [
        Mistake("this is 2 sigmoid(x) - 1 = tanh(x / 2): the identity is tanh(x) = 2 sigmoid(2x) - 1",
                value=lambda: _like(torch.tanh(xd / 2), expected)),
        Mistake("this is the sigmoid, not tanh(x) = (e^x - e^-x) / (e^x + e^-x)",
                value=lambda: _like(_sig(xd), expected)),
    ]


@pytest.mark.parametrize("shape", SHAPES[:2], ids=SHAPE_IDS[:2])
def test_tanh(student, reference, check, gen, device, dtype, shape):
    x = _draw(gen, shape, dtype).to(device)
    expected = reference.activations.tanh(x)
    actual = student.activations.tanh(x)
    check.close(actual, expected, mistakes=_tanh_mistakes(x.double(), expected))


@pytest.mark.parametrize("scale", [1e2, 1e3, 1e4], ids=["1e2", "1e3", "1e4"])
def test_tanh_large(student, reference, check, gen, device, dtype, scale):
    x = _large(gen, scale, dtype).to(device)
    expected = reference.activations.tanh(x)
    actual = student.activations.tanh(x)
    check.close(actual, expected, mistakes=[
        Mistake(NAN_TANH, problem="nan"),
        Mistake(NAN_TANH, problem="inf"),
        *_tanh_mistakes(x.double(), expected),
    ])


# --------------------------------------------------------------------------- relu, leaky relu

@pytest.mark.parametrize("shape", SHAPES[:2], ids=SHAPE_IDS[:2])
def test_relu(student, reference, check, gen, device, dtype, shape):
    x = _draw(gen, shape, dtype).to(device)
    expected = reference.activations.relu(x)
    record = student.activations.relu.inspect_call(x)
    # x[x < 0] = 0 returns the right values but clobbers the caller's tensor: that is wrong here too
    check.unchanged(x, record.args[0], "x", record.findings)
    actual = record.value
    xd = x.double()
    check.close(actual, expected, mistakes=[
        Mistake("this is the mask (x > 0), i.e. relu_grad: relu returns max(x, 0), the values themselves",
                value=lambda: _like((xd > 0).double(), expected)),
        Mistake("this keeps the negative part min(x, 0): relu is max(x, 0) (clamp(min=0))",
                value=lambda: _like(xd.clamp(max=0), expected)),
    ])


SLOPES = [None, 0.2, 0.0, 0.5]
SLOPE_IDS = ["default", "0.2", "0.0", "0.5"]


def _leaky64(xd: torch.Tensor, slope: float) -> torch.Tensor:
    return torch.where(xd > 0, xd, slope * xd)


@pytest.mark.parametrize("slope", SLOPES, ids=SLOPE_IDS)
def test_leaky_relu(student, reference, check, gen, device, dtype, slope):
    x = _draw(gen, (5, 6), dtype).to(device)
    kwargs = {} if slope is None else dict(negative_slope=slope)
    expected = reference.activations.leaky_relu(x, **kwargs)
    record = student.activations.leaky_relu.inspect_call(x, **kwargs)
    check.unchanged(x, record.args[0], "x", record.findings)
    actual = record.value
    xd = x.double()
    a = 0.01 if slope is None else slope
    mistakes = []
    if slope is None:
        mistakes += [
            Mistake("the default negative_slope is 0.01, as in torch (not 0.2 or 0.3 as in other libraries)",
                    value=lambda: _like(_leaky64(xd, 0.2), expected)),
            Mistake("the default negative_slope is 0.01, as in torch (not 0.2 or 0.3 as in other libraries)",
                    value=lambda: _like(_leaky64(xd, 0.3), expected)),
        ]
    elif slope != 0.01:
        mistakes.append(Mistake(f"negative_slope={slope} was ignored (the result matches the default 0.01)",
                                value=lambda: _like(_leaky64(xd, 0.01), expected)))
    mistakes += [
        Mistake("the slope multiplies the negative inputs: x if x > 0 else negative_slope * x",
                value=lambda: _like(torch.where(xd > 0, a * xd, xd), expected)),
    ]
    if a != 0:
        mistakes.append(Mistake("negative inputs must become negative_slope * x, not 0 (that is plain relu)",
                                value=lambda: _like(xd.clamp(min=0), expected)))
    check.close(actual, expected, mistakes=mistakes)


# --------------------------------------------------------------------------- gelu

APPROX = [None, "none", "tanh"]
APPROX_IDS = ["default", "none", "tanh"]


def _gelu_mistakes(xd: torch.Tensor, approximate: str | None, expected: torch.Tensor) -> list[Mistake]:
    if approximate == "tanh":
        return [
            Mistake("approximate='tanh' was ignored (or the two branches are swapped): this is the exact (erf) "
                    "GELU, but 'tanh' asks for 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
                    value=lambda: _like(_gelu_exact(xd), expected)),
            Mistake("this is the sigmoid approximation x * sigmoid(1.702 x); approximate='tanh' asks for "
                    "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
                    value=lambda: _like(xd * _sig(1.702 * xd), expected)),
            Mistake("close to the tanh approximation but not within tolerance: check its constants, "
                    "sqrt(2/pi) = 0.7978845608 and 0.044715, the cube x**3 and the factor 0.5",
                    when=lambda out: isinstance(out, torch.Tensor) and out.shape == xd.shape
                    and float((out.double().cpu() - _gelu_tanh(xd).cpu()).abs().max()) < 0.05),
        ]
    default = approximate is None
    which = "called without approximate, the default 'none' asks" if default else "approximate='none' asks"
    return [
        Mistake(f"this is the tanh approximation, but {which} for the exact GELU x * Phi(x) = "
                f"0.5 x (1 + erf(x / sqrt(2))); use the tanh form only when approximate='tanh'",
                value=lambda: _like(_gelu_tanh(xd), expected)),
        Mistake(f"this is the sigmoid approximation x * sigmoid(1.702 x), but {which} for the exact GELU "
                f"0.5 x (1 + erf(x / sqrt(2)))",
                value=lambda: _like(xd * _sig(1.702 * xd), expected)),
        Mistake("the erf argument is x / sqrt(2), the normal CDF is Phi(x) = (1 + erf(x / sqrt(2))) / 2",
                value=lambda: _like(0.5 * xd * (1 + torch.erf(xd / 2)), expected)),
        Mistake("the erf argument is x / sqrt(2), the normal CDF is Phi(x) = (1 + erf(x / sqrt(2))) / 2",
                value=lambda: _like(0.5 * xd * (1 + torch.erf(xd)), expected)),
        Mistake("the factor 0.5 is missing: Phi(x) = (1 + erf(x / sqrt(2))) / 2",
                value=lambda: _like(xd * (1 + torch.erf(xd / math.sqrt(2))), expected)),
    ]


@pytest.mark.parametrize("approximate", APPROX, ids=APPROX_IDS)
def test_gelu(student, reference, check, gen, device, dtype, approximate):
    # values of size 1 to 4, where the exact form and the tanh form differ by up to 5e-4
    x = _draw(gen, (5, 8), dtype, scale=2.5).to(device)
    kwargs = {} if approximate is None else dict(approximate=approximate)
    expected = reference.activations.gelu(x, **kwargs)
    actual = student.activations.gelu(x, **kwargs)
    check.close(actual, expected, mistakes=_gelu_mistakes(x.double(), approximate, expected))


@pytest.mark.parametrize("scale", [1e2, 1e4], ids=["1e2", "1e4"])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_large(student, reference, check, gen, device, dtype, approximate, scale):
    x = _large(gen, scale, dtype).to(device)
    expected = reference.activations.gelu(x, approximate=approximate)
    actual = student.activations.gelu(x, approximate=approximate)
    nan = ("nan or inf for large |x|: an exp in the formula overflows (a tanh written with exp(x) and "
           "exp(-x), or 0 * inf). torch.tanh and torch.erf are allowed; or write tanh with exp(-2|u|)")
    check.close(actual, expected, mistakes=[
        Mistake(nan, problem="nan"),
        Mistake(nan, problem="inf"),
        *_gelu_mistakes(x.double(), approximate, expected),
    ])


# --------------------------------------------------------------------------- softmax

LAST_DIM = [
    pytest.param((6,), None, id="6"),
    pytest.param((4, 7), -1, id="4x7-dim-1"),
    pytest.param((5, 5), None, id="5x5"),
    pytest.param((2, 3, 4), -1, id="2x3x4-dim-1"),
]

OTHER_DIMS = [
    pytest.param((4, 6), 0, id="4x6-dim0"),
    pytest.param((5, 5), 0, id="5x5-dim0"),
    pytest.param((3, 4, 5), 0, id="3x4x5-dim0"),
    pytest.param((3, 4, 5), 1, id="3x4x5-dim1"),
    pytest.param((2, 3, 4), -2, id="2x3x4-dim-2"),
]


def _dim_kwargs(dim: int | None) -> dict:
    return {} if dim is None else dict(dim=dim)


def _softmax_mistakes(xd: torch.Tensor, dim: int, expected: torch.Tensor, log: bool) -> list[Mistake]:
    """Wrong-dim and normalisation slips; log=True for log_softmax."""
    f = _log_softmax64 if log else _softmax64
    name = "log_softmax" if log else "softmax"
    e = torch.exp(xd - xd.max())
    whole = e / e.sum()
    out = [
        Mistake(f"normalised over the whole tensor: {name} works on each slice along dim separately "
                f"(sum with dim=dim, keepdim=True)",
                value=lambda: _like(torch.log(whole) if log else whole, expected)),
    ]
    nd = xd.dim()
    if nd >= 2 and dim % nd != nd - 1:
        out.append(Mistake(f"the dim argument was ignored: this is {name} along the last dim, "
                           f"but dim={dim} was asked for",
                           value=lambda: _like(f(xd, -1), expected)))
        m_last = xd - xd.amax(dim=-1, keepdim=True)
        e_last = torch.exp(m_last)
        wrong_max = (m_last - torch.log(e_last.sum(dim=dim, keepdim=True))) if log \
            else e_last / e_last.sum(dim=dim, keepdim=True)
        out.append(Mistake("the max is taken along the last dim but the sum along dim: take both along "
                           "dim (x.amax(dim=dim, keepdim=True))",
                           value=lambda: _like(wrong_max, expected)))
    if nd >= 2:
        for other in range(nd):
            if other != dim % nd:
                out.append(Mistake(f"normalised along dim {other} instead of dim {dim % nd}",
                                   value=lambda other=other: _like(f(xd, other), expected)))
    if nd == 2 and xd.shape[0] == xd.shape[1] and dim % nd == 1:
        # a square matrix hides the missing keepdim: (N,) broadcasts against (N, N) as a row
        s = xd - xd.amax(dim=1, keepdim=True)
        es = torch.exp(s)
        nokeep = (s - torch.log(es.sum(dim=1))) if log else es / es.sum(dim=1)
        out.append(Mistake("the sum lost its dim and was broadcast the wrong way: use "
                           "sum(dim=dim, keepdim=True) so each slice is divided by its own sum",
                           value=lambda: _like(nokeep, expected)))
    other_fn = _softmax64 if log else _log_softmax64
    out.append(Mistake("this is softmax, not its log" if log else "this is log_softmax, not softmax",
                       value=lambda: _like(other_fn(xd, dim), expected)))
    return out


@pytest.mark.parametrize("shape,dim", LAST_DIM)
def test_softmax(student, reference, check, gen, device, dtype, shape, dim):
    x = (torch.randn(shape, generator=gen, dtype=dtype) * 2).to(device)
    expected = reference.activations.softmax(x, **_dim_kwargs(dim))
    actual = student.activations.softmax(x, **_dim_kwargs(dim))
    check.close(actual, expected, mistakes=_softmax_mistakes(x.double(), -1, expected, log=False))


@pytest.mark.parametrize("shape,dim", OTHER_DIMS)
def test_softmax_dim(student, reference, check, gen, device, dtype, shape, dim):
    x = (torch.randn(shape, generator=gen, dtype=dtype) * 2).to(device)
    expected = reference.activations.softmax(x, dim=dim)
    actual = student.activations.softmax(x, dim=dim)
    check.close(actual, expected, mistakes=_softmax_mistakes(x.double(), dim, expected, log=False))


def _large_logits(gen: torch.Generator, scale: float, dtype: torch.dtype) -> torch.Tensor:
    """(4, 6) logits of size scale; rows at offsets 0, +2 scale, -2 scale, and a tie at the max."""
    s = scale
    x = torch.randn(4, 6, generator=gen, dtype=torch.float64) * s
    x[1] += 2 * s
    x[2] -= 2 * s
    x[3, 1] = x[3, 4] = x[3].max() + s / 4
    return x.to(dtype)


def _naive_softmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    e = torch.exp(x)
    return e / e.sum(dim=dim, keepdim=True)


def _stable_softmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    """The stable softmax in the case's dtype (probabilities may underflow to 0)."""
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)


def _global_max_softmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    e = torch.exp(x - x.max())
    return e / e.sum(dim=dim, keepdim=True)


LARGE_CASES = [pytest.param(s, d, id=f"{n}-dim{d}")
               for s, n in [(1e2, "1e2"), (1e4, "1e4")] for d in (-1, 0)]


@pytest.mark.parametrize("scale,dim", LARGE_CASES)
def test_softmax_large(student, reference, check, gen, device, dtype, scale, dim):
    x = _large_logits(gen, scale, dtype).to(device)
    expected = reference.activations.softmax(x, dim=dim)
    actual = student.activations.softmax(x, dim=dim)
    # the overflow candidates are computed in the case's dtype, so their nan match the student's
    check.close(actual, expected, scale=scale, mistakes=[
        Mistake(GLOBAL_MAX, value=lambda: _global_max_softmax(x, dim)),
        Mistake(NAN_SOFTMAX, value=lambda: _naive_softmax(x, dim)),
        Mistake(NAN_SOFTMAX, problem="nan"),
        Mistake(NAN_SOFTMAX, problem="inf"),
        *_softmax_mistakes(x.double(), dim, expected, log=False),
    ])


# --------------------------------------------------------------------------- log_softmax

@pytest.mark.parametrize("shape,dim", LAST_DIM)
def test_log_softmax(student, reference, check, gen, device, dtype, shape, dim):
    x = (torch.randn(shape, generator=gen, dtype=dtype) * 2).to(device)
    expected = reference.activations.log_softmax(x, **_dim_kwargs(dim))
    actual = student.activations.log_softmax(x, **_dim_kwargs(dim))
    check.close(actual, expected, mistakes=_softmax_mistakes(x.double(), -1, expected, log=True))


@pytest.mark.parametrize("shape,dim", OTHER_DIMS)
def test_log_softmax_dim(student, reference, check, gen, device, dtype, shape, dim):
    x = (torch.randn(shape, generator=gen, dtype=dtype) * 2).to(device)
    expected = reference.activations.log_softmax(x, dim=dim)
    actual = student.activations.log_softmax(x, dim=dim)
    check.close(actual, expected, mistakes=_softmax_mistakes(x.double(), dim, expected, log=True))


@pytest.mark.parametrize("scale,dim", LARGE_CASES)
def test_log_softmax_large(student, reference, check, gen, device, dtype, scale, dim):
    x = _large_logits(gen, scale, dtype).to(device)
    expected = reference.activations.log_softmax(x, dim=dim)
    actual = student.activations.log_softmax(x, dim=dim)
    # log-probabilities reach -4 scale; float32 rounding of x - max is relative to |x|
    check.close(actual, expected, scale=scale, mistakes=[
        Mistake(LOG_OF_SOFTMAX, value=lambda: torch.log(_stable_softmax(x, dim))),
        Mistake(GLOBAL_MAX, value=lambda: torch.log(_global_max_softmax(x, dim))),
        Mistake(GLOBAL_MAX, value=lambda: (x - x.max()) - torch.log(torch.exp(x - x.max()).sum(dim=dim,
                                                                                                keepdim=True))),
        Mistake(NAN_SOFTMAX, value=lambda: x - torch.log(torch.exp(x).sum(dim=dim, keepdim=True))),
        Mistake(NAN_SOFTMAX, value=lambda: torch.log(_naive_softmax(x, dim))),
        Mistake("adding a small eps inside the log caps the log-probabilities (log(1e-10) = -23) although "
                "the true ones reach minus thousands: compute (x - m) - log(sum(exp(x - m))), no log of a "
                "probability",
                when=lambda out: _finite(out) and float(out.min()) > -100 and float(expected.min()) < -150),
        Mistake(LOG_OF_SOFTMAX, problem="inf"),
        Mistake(NAN_SOFTMAX, problem="nan"),
        *_softmax_mistakes(x.double(), dim, expected, log=True),
    ])


# --------------------------------------------------------------------------- derivatives

GRAD_SCALES = [pytest.param(3.0, id="unit"), pytest.param(1e2, id="1e2"), pytest.param(1e4, id="1e4")]


def _grad_input(gen: torch.Generator, scale: float, dtype: torch.dtype) -> torch.Tensor:
    return _draw(gen, (4, 6), dtype) if scale == 3.0 else _large(gen, scale, dtype)


@pytest.mark.parametrize("scale", GRAD_SCALES)
def test_sigmoid_grad(student, reference, check, gen, device, dtype, scale):
    x = _grad_input(gen, scale, dtype).to(device)
    expected = reference.activations.sigmoid_grad(x)
    actual = student.activations.sigmoid_grad(x)
    xd = x.double()
    s = _sig(xd)
    check.close(actual, expected, mistakes=[
        Mistake("s(x) * (1 - x) mixes the input with the output: the derivative is s(x) * (1 - s(x)), "
                "with s(x) the sigmoid of the pre-activation x",
                value=lambda: _like(s * (1 - xd), expected)),
        Mistake("x * (1 - x) treats the input as the sigmoid's output: sigmoid_grad takes the "
                "pre-activation x, so compute s = sigmoid(x) first and return s * (1 - s)",
                value=lambda: _like(xd * (1 - xd), expected)),
        Mistake("this is the sigmoid itself: its derivative is s(x) * (1 - s(x))",
                value=lambda: _like(s, expected)),
        Mistake("the derivative is s(x) * (1 - s(x)), not s(x) * (1 + s(x))",
                value=lambda: _like(s * (1 + s), expected)),
        Mistake(NAN_SIGMOID + "; then s(x) * (1 - s(x))", problem="nan"),
        Mistake(NAN_SIGMOID + "; then s(x) * (1 - s(x))", problem="inf"),
    ])


@pytest.mark.parametrize("scale", GRAD_SCALES)
def test_tanh_grad(student, reference, check, gen, device, dtype, scale):
    x = _grad_input(gen, scale, dtype).to(device)
    expected = reference.activations.tanh_grad(x)
    actual = student.activations.tanh_grad(x)
    xd = x.double()
    t = torch.tanh(xd)
    check.close(actual, expected, mistakes=[
        Mistake("1 - x**2 treats the input as tanh's output: tanh_grad takes the pre-activation x, "
                "so the derivative is 1 - tanh(x)**2",
                value=lambda: _like(1 - xd * xd, expected)),
        Mistake("the square is missing: the derivative is 1 - tanh(x)**2, not 1 - tanh(x)",
                value=lambda: _like(1 - t, expected)),
        Mistake("this is tanh(x)**2: the derivative is 1 - tanh(x)**2",
                value=lambda: _like(t * t, expected)),
        Mistake("the derivative is 1 - tanh(x)**2, not 1 + tanh(x)**2",
                value=lambda: _like(1 + t * t, expected)),
        Mistake(NAN_TANH + "; then 1 - tanh(x)**2", problem="nan"),
        Mistake(NAN_TANH + "; then 1 - tanh(x)**2", problem="inf"),
    ])


KINK_HINT_RELU = ("relu_grad(0) must be 0, as torch autograd: with x >= 0 the kink at x == 0 gets 1; "
                  "use x > 0")


@pytest.mark.parametrize("shape", SHAPES[:2], ids=SHAPE_IDS[:2])
def test_relu_grad(student, reference, check, gen, device, dtype, shape):
    x = _draw(gen, shape, dtype).to(device)  # exact zeros and a -0.0 included
    expected = reference.activations.relu_grad(x)
    actual = student.activations.relu_grad(x)
    xd = x.double()
    # the derivative is 0 or 1; the default tolerance (1e-6 at most) leaves no room at the kinks
    check.close(actual, expected, mistakes=[
        Mistake(KINK_HINT_RELU, value=lambda: _like((xd >= 0).double(), expected)),
        Mistake("this is relu(x) itself: its derivative is 1 where x > 0 and 0 elsewhere",
                value=lambda: _like(xd.clamp(min=0), expected)),
        Mistake("the mask is inverted: the derivative is 1 where x > 0 and 0 elsewhere",
                value=lambda: _like((xd <= 0).double(), expected)),
        Mistake("return a tensor of x's dtype: convert the boolean mask with .to(x.dtype)",
                problem="dtype"),
    ])


@pytest.mark.parametrize("slope", SLOPES[:3], ids=SLOPE_IDS[:3])
def test_leaky_relu_grad(student, reference, check, gen, device, dtype, slope):
    x = _draw(gen, (5, 6), dtype).to(device)
    kwargs = {} if slope is None else dict(negative_slope=slope)
    expected = reference.activations.leaky_relu_grad(x, **kwargs)
    actual = student.activations.leaky_relu_grad(x, **kwargs)
    xd = x.double()
    a = 0.01 if slope is None else slope
    ones = torch.ones_like(xd)

    def grad(pos, s):
        return lambda: _like(torch.where(pos, ones, s * ones), expected)

    mistakes = [
        Mistake("leaky_relu_grad(0) must be negative_slope, as torch autograd: with x >= 0 the kink at "
                "x == 0 gets 1; use x > 0", value=grad(xd >= 0, a)),
    ]
    if slope is None:
        mistakes += [Mistake("the default negative_slope is 0.01, as in torch", value=grad(xd > 0, s))
                     for s in (0.2, 0.3)]
    elif slope != 0.01:
        mistakes.append(Mistake(f"negative_slope={slope} was ignored (the result matches the default 0.01)",
                                value=grad(xd > 0, 0.01)))
    if a != 0:
        mistakes.append(Mistake("negative inputs have derivative negative_slope, not 0 (that is relu_grad)",
                                value=grad(xd > 0, 0.0)))
    mistakes += [
        Mistake("this is leaky_relu(x) itself: its derivative is 1 where x > 0 and negative_slope elsewhere",
                value=lambda: _like(torch.where(xd > 0, xd, a * xd), expected)),
        Mistake("return a tensor of x's dtype: torch.where with two Python numbers gives the default "
                "dtype float32; use torch.full_like(x, negative_slope) / torch.ones_like(x)",
                problem="dtype"),
    ]
    check.close(actual, expected, mistakes=mistakes)


GELU_GRAD_CASES = [pytest.param(a, s, id=f"{ai}-{si}")
                   for a, ai in zip(APPROX, APPROX_IDS) for s, si in [(2.5, "unit"), (1e4, "1e4")]]


@pytest.mark.parametrize("approximate,scale", GELU_GRAD_CASES)
def test_gelu_grad(student, reference, check, gen, device, dtype, approximate, scale):
    x = (_draw(gen, (5, 8), dtype, scale=scale) if scale < 10 else _large(gen, scale, dtype)).to(device)
    kwargs = {} if approximate is None else dict(approximate=approximate)
    expected = reference.activations.gelu_grad(x, **kwargs)
    actual = student.activations.gelu_grad(x, **kwargs)
    xd = x.double()
    cdf, pdf = _phi_cdf(xd), torch.exp(-0.5 * xd * xd) / SQRT_2PI
    nan = Mistake("nan or inf for large |x|: an exp overflows or 0 * inf appears; torch.erf and torch.tanh "
                  "are allowed, and exp(-x**2 / 2) is 0 (not nan) for large |x|", problem="nan")
    inf = Mistake(nan.hint, problem="inf")
    s = _sig(1.702 * xd)
    sigmoid_grad = s + 1.702 * xd * s * (1 - s)  # d/dx [x sigmoid(1.702 x)]
    if approximate == "tanh":
        t = torch.tanh(GELU_C * (xd + GELU_K * xd ** 3))
        tanh_pdf = 0.5 * (1 - t * t) * GELU_C * (1 + 3 * GELU_K * xd * xd)  # d/dx (1 + tanh(u)) / 2
        mixed = ("approximate='tanh' asks for the tanh form in both terms of the derivative, (1 + t) / 2 + "
                 "x * d/dx[(1 + t) / 2] = (1 + t) / 2 + x (1 - t^2) / 2 * sqrt(2/pi) (1 + 3 * 0.044715 x^2); "
                 "one term here comes from the exact (erf) GELU, Phi(x) or phi(x)")
        mistakes = [
            Mistake("approximate='tanh' was ignored (or the two branches are swapped): this is the derivative "
                    "of the exact (erf) GELU, Phi(x) + x phi(x), but 'tanh' asks for the derivative of the tanh "
                    "approximation, (1 + t) / 2 + x (1 - t^2) / 2 * sqrt(2/pi) (1 + 3 * 0.044715 x^2) with "
                    "t = tanh(sqrt(2/pi) (x + 0.044715 x^3))",
                    value=lambda: _like(_gelu_grad_exact(xd), expected)),
            Mistake(mixed, value=lambda: _like(0.5 * (1 + t) + xd * pdf, expected)),
            Mistake(mixed, value=lambda: _like(cdf + xd * tanh_pdf, expected)),
            Mistake("this is the derivative of the sigmoid approximation x * sigmoid(1.702 x), but "
                    "approximate='tanh' asks for the derivative of the tanh approximation",
                    value=lambda: _like(sigmoid_grad, expected)),
            Mistake("the second term of the product rule is missing: d/dx [x (1 + tanh(u)) / 2] = "
                    "(1 + tanh(u)) / 2 + x / 2 * (1 - tanh(u)**2) * du/dx",
                    value=lambda: _like(0.5 * (1 + t), expected)),
            Mistake("the chain rule through u = sqrt(2/pi) (x + 0.044715 x^3) is missing its factor "
                    "du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2)",
                    value=lambda: _like(0.5 * (1 + t) + 0.5 * xd * (1 - t * t), expected)),
            Mistake("du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2): the 3 from the derivative of x^3 is missing",
                    value=lambda: _like(0.5 * (1 + t) + 0.5 * xd * (1 - t * t) * GELU_C
                                        * (1 + GELU_K * xd * xd), expected)),
            Mistake("this is gelu(x) itself, not its derivative",
                    value=lambda: _like(_gelu_tanh(xd), expected)),
            nan, inf,
        ]
    else:
        which = "called without approximate, the default 'none'" if approximate is None else "approximate='none'"
        t = torch.tanh(GELU_C * (xd + GELU_K * xd ** 3))
        tanh_pdf = 0.5 * (1 - t * t) * GELU_C * (1 + 3 * GELU_K * xd * xd)
        mixed = (f"{which} means the exact GELU in both terms of the derivative, Phi(x) + x * phi(x) with "
                 f"phi(x) = exp(-x^2 / 2) / sqrt(2 pi); one term here comes from the tanh approximation")
        mistakes = [
            Mistake(f"this is the derivative of the tanh approximation, but {which} means the exact GELU: "
                    f"Phi(x) + x * phi(x) (use the tanh form only when approximate='tanh')",
                    value=lambda: _like(_gelu_grad_tanh(xd), expected)),
            Mistake(mixed, value=lambda: _like(0.5 * (1 + t) + xd * pdf, expected)),
            Mistake(mixed, value=lambda: _like(cdf + xd * tanh_pdf, expected)),
            Mistake(f"this is the derivative of the sigmoid approximation x * sigmoid(1.702 x), but {which} "
                    f"means the exact GELU: Phi(x) + x * phi(x)", value=lambda: _like(sigmoid_grad, expected)),
            Mistake("the x * phi(x) term of the product rule is missing: d/dx [x Phi(x)] = Phi(x) + x phi(x), "
                    "phi(x) = exp(-x^2 / 2) / sqrt(2 pi)", value=lambda: _like(cdf, expected)),
            Mistake("the product rule gives Phi(x) + x * phi(x): the factor x on phi(x) is missing",
                    value=lambda: _like(cdf + pdf, expected)),
            Mistake("phi(x) = exp(-x^2 / 2) / sqrt(2 pi): check the normal density's constant and exponent",
                    value=lambda: _like(cdf + xd * torch.exp(-0.5 * xd * xd), expected)),
            Mistake("phi(x) = exp(-x^2 / 2) / sqrt(2 pi): check the normal density's constant and exponent",
                    value=lambda: _like(cdf + xd * torch.exp(-xd * xd) / SQRT_2PI, expected)),
            Mistake("this is gelu(x) itself, not its derivative",
                    value=lambda: _like(_gelu_exact(xd), expected)),
            nan, inf,
        ]
    check.close(actual, expected, mistakes=mistakes)


# --------------------------------------------------------------------------- hygiene

UNCHANGED = [
    ("sigmoid", {}), ("tanh", {}), ("relu", {}), ("leaky_relu", dict(negative_slope=0.2)),
    ("gelu", {}), ("softmax", dict(dim=0)), ("log_softmax", dict(dim=0)),
    ("sigmoid_grad", {}), ("tanh_grad", {}), ("relu_grad", {}), ("leaky_relu_grad", {}),
    ("gelu_grad", dict(approximate="tanh")),
]


@pytest.mark.parametrize("name,kwargs", UNCHANGED, ids=[n for n, _ in UNCHANGED])
def test_inputs_unchanged(student, check, gen, device, name, kwargs):
    x = _draw(gen, (4, 5), torch.float32, scale=20.0).to(device)  # negatives, zeros, large entries
    record = getattr(student.activations, name).inspect_call(x, **kwargs)
    check.unchanged(x, record.args[0], "x", record.findings)


BAD_ARGS = [
    pytest.param("gelu", dict(approximate="exact"), "approximate", id="gelu-approximate"),
    pytest.param("gelu_grad", dict(approximate="erf"), "approximate", id="gelu_grad-approximate"),
    pytest.param("softmax", dict(dim=2), "dim", id="softmax-dim2"),
    pytest.param("log_softmax", dict(dim=-3), "dim", id="log_softmax-dim-3"),
    pytest.param("leaky_relu", dict(negative_slope="0.1"), "negative_slope", id="leaky_relu-slope-str"),
    pytest.param("leaky_relu_grad", dict(negative_slope="0.1"), "negative_slope", id="leaky_relu_grad-slope-str"),
]


@pytest.mark.parametrize("name,kwargs,arg", BAD_ARGS)
def test_bad_arguments(student, check, gen, device, name, kwargs, arg):
    x = torch.randn(3, 4, generator=gen).to(device)
    rule = {"approximate": "'none' or 'tanh'", "dim": "in range for x.dim()",
            "negative_slope": "a real number"}[arg]
    with check.raises(ValueError, match=arg,
                      hint=f"check that {arg} is {rule} and raise ValueError naming {arg} otherwise"):
        getattr(student.activations, name)(x, **kwargs)


# --------------------------------------------------------------------------- on the GPU

ON_DEVICE = [
    ("sigmoid", {}), ("tanh", {}), ("relu", {}), ("leaky_relu", dict(negative_slope=0.2)),
    ("gelu", {}), ("gelu", dict(approximate="tanh")), ("softmax", dict(dim=0)), ("log_softmax", {}),
    ("sigmoid_grad", {}), ("tanh_grad", {}), ("relu_grad", {}), ("leaky_relu_grad", dict(negative_slope=0.2)),
    ("gelu_grad", {}), ("gelu_grad", dict(approximate="tanh")),
]


@pytest.mark.parametrize("name,kwargs", ON_DEVICE,
                         ids=[n + ("-tanh" if kw.get("approximate") else "") for n, kw in ON_DEVICE])
def test_on_device(student, reference, check, gen, name, kwargs):
    """Every function on the simulated GPU: the result stays there (no .cpu(), no tensor
    made without device=) and matches the reference's."""
    x = _draw(gen, (4, 5), torch.float32)
    actual = on_device(check, student, getattr(student.activations, name), x, what=name, **kwargs)
    check.close(actual, getattr(reference.activations, name)(x, **kwargs), what=name)
