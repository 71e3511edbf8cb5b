"""Hidden suite for backprop.py, part 1: the linear layer, the activations, softmax
cross-entropy, and the rules every function follows (inputs unchanged, argument checks).

A layer's cache belongs to the student (tuple, dict, object or closure): it never comes
to the grader. ``harness.run_layer`` calls forward and then backward in the worker and
returns only data, the forward output, the gradients and the arguments as they were
after both calls. Upstream gradients are random (never all ones) and shapes non-square,
so a transposed dW or a missing factor cannot pass by accident.

Part 2 (test_backprop_mlp.py) grades mlp_loss_and_grads and the MLP class.
"""

from __future__ import annotations

import math

import pytest
import torch

from grader import harness
from grader.describe import describe_call, describe_value
from grader.device_check import on_device
from grader.diagnosis import Mistake

# (N, in, out): batch 1, tall, square (a transposed dW keeps its shape there), wide, in = 1
LINEAR_SHAPES = [(1, 3, 5), (4, 7, 2), (6, 5, 5), (9, 2, 6), (3, 1, 4)]
LINEAR_IDS = [f"N{n}-in{i}-out{o}" for n, i, o in LINEAR_SHAPES]

ACT_CASES = [("sigmoid", {}), ("tanh", {}), ("relu", {}), ("leaky_relu", {}),
             ("leaky_relu", {"negative_slope": 0.2}), ("gelu", {})]
ACT_IDS = ["sigmoid", "tanh", "relu", "leaky_relu", "leaky_relu-slope0.2", "gelu"]
ACT_SHAPES = [(1, 5), (6, 3), (2, 3, 4)]
ACT_SHAPE_IDS = ["1x5", "6x3", "2x3x4"]

CE_SHAPES = [(1, 3), (5, 4), (8, 10), (6, 2), (3, 7)]
CE_IDS = [f"N{n}-C{c}" for n, c in CE_SHAPES]

_SQRT_HALF = math.sqrt(0.5)


# ----------------------------------------------------------------------------- helpers


def run_student(check, student, fwd, bwd, args, kwargs=None, dout=None):
    """Forward then backward in the worker; the student's cache stays there."""
    res = student.harness.run_layer(
        getattr(student.backprop, fwd), getattr(student.backprop, bwd) if bwd else None,
        list(args), dict(kwargs or {}), dout,
    )
    if not isinstance(res, dict) or "out" not in res:
        check.fail(f"{fwd}: the forward/backward run returned no result")
    return res


def what(fwd, args, kwargs=None, bwd=None, dout=None, part=None):
    """How a check names the call: the forward's inputs, then the backward's dout."""
    text = describe_call(fwd, list(args), dict(kwargs or {}))
    if bwd is not None:
        text = f"{bwd}({describe_value(dout)}, cache of {text})"
    return f"{text} {part}" if part else text


def run_reference(reference, fwd, bwd, args, kwargs=None, dout=None):
    return harness.run_layer(
        getattr(reference.backprop, fwd), getattr(reference.backprop, bwd) if bwd else None,
        [a.clone() if isinstance(a, torch.Tensor) else a for a in args], dict(kwargs or {}),
        None if dout is None else dout.clone(),
    )


def _randn(gen, *shape, dtype, device, scale=1.0):
    return (torch.randn(*shape, generator=gen, dtype=dtype) * scale).to(device)


def _shape_is(*shape):
    return lambda out: isinstance(out, torch.Tensor) and tuple(out.shape) == tuple(shape)


def _logistic(x):
    e = torch.exp(-x.abs())
    return torch.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _cdf(x):
    return 0.5 * (1.0 + torch.erf(x * _SQRT_HALF))


def _pdf(x):
    return torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _gelu_tanh(x):
    c = math.sqrt(2 / math.pi)
    return 0.5 * x * (1 + torch.tanh(c * (x + 0.044715 * x ** 3)))


def _gelu_tanh_grad(x):
    c = math.sqrt(2 / math.pi)
    t = torch.tanh(c * (x + 0.044715 * x ** 3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)


def _triple(check, grads, fn="linear_backward"):
    if not isinstance(grads, (list, tuple)) or len(grads) != 3:
        check.fail(f"{fn} must return the three gradients (dx, dW, db), got "
                   f"{type(grads).__name__}{'' if not isinstance(grads, (list, tuple)) else ' of length ' + str(len(grads))}")
    return grads


def _linear_case(gen, n, d_in, d_out, dtype, device):
    x = _randn(gen, n, d_in, dtype=dtype, device=device)
    W = _randn(gen, d_out, d_in, dtype=dtype, device=device)
    b = _randn(gen, d_out, dtype=dtype, device=device)
    dout = _randn(gen, n, d_out, dtype=dtype, device=device)
    return x, W, b, dout


# ------------------------------------------------------------------------------ linear


@pytest.mark.parametrize("n,d_in,d_out", LINEAR_SHAPES, ids=LINEAR_IDS)
def test_linear_forward(student, reference, check, gen, device, dtype, n, d_in, d_out):
    x, W, b, _ = _linear_case(gen, n, d_in, d_out, dtype, device)
    got = run_student(check, student, "linear_forward", None, [x, W, b])
    want = run_reference(reference, "linear_forward", None, [x, W, b])
    mistakes = [Mistake("add the bias: out = x @ W.T + b", value=x @ W.T)]
    if d_in == d_out:
        mistakes.append(Mistake("W is (out, in) as in torch.nn.Linear: out = x @ W.T + b, not x @ W + b",
                                value=x @ W + b))
    check.close(got["out"], want["out"], what=what("linear_forward", [x, W, b], part="out"),
                mistakes=mistakes)


@pytest.mark.parametrize("n,d_in,d_out", LINEAR_SHAPES, ids=LINEAR_IDS)
def test_linear_backward_dx(student, reference, check, gen, device, dtype, n, d_in, d_out):
    x, W, b, dout = _linear_case(gen, n, d_in, d_out, dtype, device)
    got = run_student(check, student, "linear_forward", "linear_backward", [x, W, b], dout=dout)
    want = run_reference(reference, "linear_forward", "linear_backward", [x, W, b], dout=dout)
    dx = _triple(check, got["grads"])[0]
    mistakes = [Mistake("dx has x's shape (N, in): dx = dout @ W (W is (out, in))",
                        when=_shape_is(n, d_out))]
    if d_in == d_out:
        mistakes += [
            Mistake("dx = dout @ W, not dout @ W.T: W is (out, in), so dout (N, out) @ W gives (N, in)",
                    value=dout @ W.T),
            Mistake("the upstream gradient goes through the weights: dx = dout @ W", value=dout),
        ]
    check.close(dx, want["grads"][0], mistakes=mistakes,
                what=what("linear_forward", [x, W, b], bwd="linear_backward", dout=dout, part="dx"))


@pytest.mark.parametrize("n,d_in,d_out", LINEAR_SHAPES, ids=LINEAR_IDS)
def test_linear_backward_dW(student, reference, check, gen, device, dtype, n, d_in, d_out):
    x, W, b, dout = _linear_case(gen, n, d_in, d_out, dtype, device)
    got = run_student(check, student, "linear_forward", "linear_backward", [x, W, b], dout=dout)
    want = run_reference(reference, "linear_forward", "linear_backward", [x, W, b], dout=dout)
    dW = _triple(check, got["grads"])[1]
    transposed = ("dW has W's shape (out, in): dW = dout.T @ x, not x.T @ dout (that is the "
                  "(in, out) layout of another course)")
    mistakes = [
        Mistake(transposed, when=lambda out: d_in != d_out and _shape_is(d_in, d_out)(out)),
        Mistake(transposed, value=x.T @ dout),
        Mistake("sum over the batch, do not average: the 1/N of a mean loss is already inside dout",
                value=dout.T @ x / n),
        Mistake("sum the per-example outer products over the batch: dW = dout.T @ x is (out, in)",
                when=_shape_is(n, d_out, d_in)),
        Mistake("dW must collect every example of the batch (dout.T @ x sums over all N rows), "
                "not only the last one", value=torch.outer(dout[-1], x[-1])),
    ]
    check.close(dW, want["grads"][1], mistakes=mistakes,
                what=what("linear_forward", [x, W, b], bwd="linear_backward", dout=dout, part="dW"))


@pytest.mark.parametrize("n,d_in,d_out", LINEAR_SHAPES, ids=LINEAR_IDS)
def test_linear_backward_db(student, reference, check, gen, device, dtype, n, d_in, d_out):
    x, W, b, dout = _linear_case(gen, n, d_in, d_out, dtype, device)
    got = run_student(check, student, "linear_forward", "linear_backward", [x, W, b], dout=dout)
    want = run_reference(reference, "linear_forward", "linear_backward", [x, W, b], dout=dout)
    db = _triple(check, got["grads"])[2]
    mistakes = [
        Mistake("sum over the batch, do not average: db = dout.sum(dim=0)", value=dout.mean(dim=0)),
        Mistake("db has b's shape (out,): sum dout over the batch, db = dout.sum(dim=0)",
                when=_shape_is(n, d_out)),
        Mistake("db has b's shape (out,), not (out, 1) or (1, out): db = dout.sum(dim=0)",
                when=lambda out: _shape_is(d_out, 1)(out) or _shape_is(1, d_out)(out)),
        Mistake("sum over the batch dim only: db = dout.sum(dim=0) keeps one entry per output",
                when=lambda out: isinstance(out, torch.Tensor) and out.dim() == 0),
    ]
    check.close(db, want["grads"][2], mistakes=mistakes,
                what=what("linear_forward", [x, W, b], bwd="linear_backward", dout=dout, part="db"))


# ------------------------------------------------------------------------- activations


def _act_input(gen, shape, dtype, device, scale=3.0):
    return _randn(gen, *shape, dtype=dtype, device=device, scale=scale)


def _forward_mistakes(kind, kw, x):
    slope = kw.get("negative_slope", 0.01)
    if kind == "leaky_relu":
        return [
            Mistake("use the negative_slope argument (default 0.01): f(x) = negative_slope * x "
                    "for x <= 0", value=lambda: torch.where(x > 0, x, 0.01 * x)),
            Mistake("leaky ReLU keeps negative_slope * x for x <= 0 (that is not ReLU)",
                    value=lambda: x.clamp(min=0)),
        ] if slope != 0.01 else [
            Mistake("leaky ReLU keeps negative_slope * x for x <= 0 (that is not ReLU)",
                    value=lambda: x.clamp(min=0)),
        ]
    if kind == "gelu":
        return [
            Mistake("use the exact GELU x Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2, not the "
                    "tanh approximation", value=lambda: _gelu_tanh(x)),
            Mistake("use the exact GELU x Phi(x) with erf, not x sigmoid(1.702 x)",
                    value=lambda: x * _logistic(1.702 * x)),
            Mistake("GELU is x Phi(x): multiply the normal CDF by x", value=lambda: _cdf(x)),
        ]
    return []


def _local_grad(kind, slope, x):
    if kind == "sigmoid":
        s = _logistic(x)
        return s * (1 - s)
    if kind == "tanh":
        t = torch.tanh(x)
        return 1 - t * t
    if kind == "relu":
        return (x > 0).to(x.dtype)
    if kind == "leaky_relu":
        return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, slope))
    return _cdf(x) + x * _pdf(x)


def _backward_mistakes(kind, kw, x, dout):
    slope = kw.get("negative_slope", 0.01)
    local = _local_grad(kind, slope, x)
    chain = Mistake("multiply the local derivative by the upstream gradient: dx = dout * f'(x) "
                    "(chain rule; dout is not all ones)", value=lambda: local)
    if kind == "sigmoid":
        s = _logistic(x)
        out_not_x = ("sigmoid'(x) = s (1 - s) with s = sigmoid(x), the forward OUTPUT: keep s in "
                     "the cache and do not plug the pre-activation x into the formula")
        return [chain, Mistake(out_not_x, value=lambda: dout * s * (1 - x)),
                Mistake(out_not_x, value=lambda: dout * x * (1 - x)),
                Mistake("sigmoid'(x) = s (1 - s), not s", value=lambda: dout * s)]
    if kind == "tanh":
        t = torch.tanh(x)
        return [chain,
                Mistake("tanh'(x) = 1 - t^2 with t = tanh(x), the forward OUTPUT, not 1 - x^2",
                        value=lambda: dout * (1 - x * x)),
                Mistake("tanh'(x) = 1 - tanh(x)^2: square the output", value=lambda: dout * (1 - t))]
    if kind == "relu":
        return [chain, Mistake("pass dout only where x > 0 (and 0 elsewhere): the mask must come from "
                               "the pre-activation x (out >= 0 is true everywhere)", value=lambda: dout)]
    if kind == "leaky_relu":
        out = [chain,
               Mistake("on the negative side the derivative is negative_slope, not 0: "
                       "dx = dout where x > 0, negative_slope * dout elsewhere",
                       value=lambda: torch.where(x > 0, dout, torch.zeros_like(dout)))]
        if slope != 0.01:
            out.append(Mistake("use the negative_slope given to activation_forward (keep it in the "
                               "cache), not the default 0.01",
                               value=lambda: torch.where(x > 0, dout, 0.01 * dout)))
        return out
    return [chain,
            Mistake("GELU'(x) = Phi(x) + x phi(x): the x phi(x) term (product rule) is missing",
                    value=lambda: dout * _cdf(x)),
            Mistake("use the derivative of the exact GELU, Phi(x) + x phi(x) with "
                    "phi(x) = exp(-x^2/2) / sqrt(2 pi), not of the tanh approximation",
                    value=lambda: dout * _gelu_tanh_grad(x))]


@pytest.mark.parametrize("shape", ACT_SHAPES[1:], ids=ACT_SHAPE_IDS[1:])
@pytest.mark.parametrize("kind,kw", ACT_CASES, ids=ACT_IDS)
def test_activation_forward(student, reference, check, gen, device, dtype, kind, kw, shape):
    x = _act_input(gen, shape, dtype, device)
    got = run_student(check, student, "activation_forward", None, [x, kind], kw)
    want = run_reference(reference, "activation_forward", None, [x, kind], kw)
    check.close(got["out"], want["out"], what=what("activation_forward", [x, kind], kw, part="out"),
                mistakes=_forward_mistakes(kind, kw, x))


@pytest.mark.parametrize("shape", ACT_SHAPES, ids=ACT_SHAPE_IDS)
@pytest.mark.parametrize("kind,kw", ACT_CASES, ids=ACT_IDS)
def test_activation_backward(student, reference, check, gen, device, dtype, kind, kw, shape):
    x = _act_input(gen, shape, dtype, device)
    dout = _randn(gen, *shape, dtype=dtype, device=device)
    got = run_student(check, student, "activation_forward", "activation_backward", [x, kind], kw, dout)
    want = run_reference(reference, "activation_forward", "activation_backward", [x, kind], kw, dout)
    check.close(got["grads"], want["grads"], mistakes=_backward_mistakes(kind, kw, x, dout),
                what=what("activation_forward", [x, kind], kw, bwd="activation_backward", dout=dout,
                          part="dx"))


KINK_CASES = [("relu", {}), ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.2})]


@pytest.mark.parametrize("kind,kw", KINK_CASES, ids=["relu", "leaky_relu", "leaky_relu-slope0.2"])
def test_activation_kinks(student, reference, check, gen, device, dtype, kind, kw):
    x = torch.randn(4, 5, generator=gen, dtype=dtype)
    zero = torch.rand(4, 5, generator=gen) < 0.4
    zero[0, 0] = True
    x = torch.where(zero, torch.zeros_like(x), x)
    x[1, 1] = -0.0
    x = x.to(device)
    dout = _randn(gen, 4, 5, dtype=dtype, device=device)
    got = run_student(check, student, "activation_forward", "activation_backward", [x, kind], kw, dout)
    want = run_reference(reference, "activation_forward", "activation_backward", [x, kind], kw, dout)
    check.close(got["out"], want["out"], what=what("activation_forward", [x, kind], kw, part="out"))
    slope = kw.get("negative_slope", 0.01)
    at_zero = ("ReLU's derivative at exactly x == 0 is 0, as in torch: mask with x > 0, not x >= 0"
               if kind == "relu" else
               "the leaky ReLU derivative at exactly x == 0 is negative_slope, as in torch: "
               "use x > 0, not x >= 0")
    ge_zero = torch.where(x >= 0, dout, slope * dout if kind != "relu" else torch.zeros_like(dout))
    mistakes = [Mistake(at_zero, value=ge_zero), *_backward_mistakes(kind, kw, x, dout)]
    check.close(got["grads"], want["grads"], mistakes=mistakes,
                what=what("activation_forward", [x, kind], kw, bwd="activation_backward", dout=dout,
                          part="dx"))


@pytest.mark.parametrize("kind", ["sigmoid", "tanh", "relu", "leaky_relu", "gelu"])
def test_activation_large_inputs(student, reference, check, gen, device, dtype, kind):
    x = torch.randn(3, 8, generator=gen, dtype=dtype) * 1e3
    x[0, :4] = torch.tensor([1e4, -1e4, 800.0, -800.0], dtype=dtype)
    x = x.to(device)
    dout = _randn(gen, 3, 8, dtype=dtype, device=device)
    got = run_student(check, student, "activation_forward", "activation_backward", [x, kind], {}, dout)
    want = run_reference(reference, "activation_forward", "activation_backward", [x, kind], {}, dout)
    stable = {
        "sigmoid": "sigmoid overflowed (exp(x) / (1 + exp(x)) is inf / inf = nan for x near 1e3): "
                   "with e = exp(-|x|) use 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0",
        "tanh": "tanh overflowed for large |x|: use torch.tanh (or a form built on exp(-2|x|))",
        "gelu": "GELU overflowed for large |x|: x Phi(x) with torch.erf stays finite; keep "
                "exp(-x^2 / 2) as it is (it underflows harmlessly to 0)",
    }.get(kind, "the result is not finite for large inputs")
    fails = [Mistake(stable, problem="nan"), Mistake(stable, problem="inf")]
    check.close(got["out"], want["out"], mistakes=fails,
                what=what("activation_forward", [x, kind], part="out"))
    check.close(got["grads"], want["grads"], mistakes=fails,
                what=what("activation_forward", [x, kind], bwd="activation_backward", dout=dout, part="dx"))


# --------------------------------------------------------------- softmax cross-entropy


def _ce_case(gen, n, c, dtype, device, scale=1.0):
    z = _randn(gen, n, c, dtype=dtype, device=device, scale=scale)
    y = torch.randint(0, c, (n,), generator=gen).to(device)
    return z, y


def _ce_student(check, student, z, y):
    out = student.backprop.softmax_cross_entropy(z, y)
    if not isinstance(out, (list, tuple)) or len(out) != 2:
        check.fail("softmax_cross_entropy must return a pair (loss, dlogits), got "
                   f"{type(out).__name__}")
    return out


def _probs(z):
    e = torch.exp(z - z.amax(dim=1, keepdim=True))
    return e / e.sum(dim=1, keepdim=True)


def _onehot(y, like):
    return torch.zeros_like(like).scatter_(1, y.reshape(-1, 1), 1.0)


def _loss_mistakes(z, y):
    n = z.shape[0]
    logp = torch.log(_probs(z))
    picked = logp[torch.arange(n, device=z.device), y]
    return [
        Mistake("the loss is the MEAN over the batch: divide the summed cross-entropy by N",
                value=lambda: -picked.sum()),
        Mistake("cross-entropy is the NEGATIVE mean log-probability of the true class",
                value=lambda: picked.mean()),
        Mistake("take the log of the true class's probability, -log p[n, y_n], not the probability",
                value=lambda: -_probs(z)[torch.arange(n, device=z.device), y].mean()),
    ]


def _dlogits_mistakes(z, y, expected):
    n = z.shape[0]
    P, Y = _probs(z), _onehot(y, z)

    def rows_do_not_sum_to_zero(out):
        s = out.to(torch.float64).sum(dim=1).abs().max()
        return bool(s > 1e-3 * (1.0 + float(out.abs().max())))

    return [
        Mistake("the loss is a mean: dlogits = (softmax(z) - onehot(y)) / N, do not forget the 1/N",
                value=lambda: P - Y),
        Mistake("subtract the one-hot targets: dlogits = (softmax(z) - onehot(y)) / N",
                value=lambda: P / n),
        Mistake("the softmax Jacobian diag(p) - p p^T is not diagonal: every class gets gradient, "
                "dlogits = (p - onehot(y)) / N, not only the true class's p - 1",
                value=lambda: Y * (P - 1) / n),
        Mistake("wrong sign: dlogits = (softmax(z) - onehot(y)) / N (probabilities minus targets)",
                value=lambda: (Y - P) / n),
        Mistake("each row of dlogits must sum to 0 (softmax and one-hot rows both sum to 1): "
                "check the softmax normalisation and the -onehot(y) term",
                when=lambda out: isinstance(out, torch.Tensor) and out.shape == expected.shape
                and rows_do_not_sum_to_zero(out)),
    ]


@pytest.mark.parametrize("n,c", CE_SHAPES, ids=CE_IDS)
def test_softmax_cross_entropy_loss(student, reference, check, gen, device, dtype, n, c):
    z, y = _ce_case(gen, n, c, dtype, device, scale=2.0)
    loss, _ = _ce_student(check, student, z, y)
    expected, _ = reference.backprop.softmax_cross_entropy(z, y)
    check.close(loss, expected, mistakes=_loss_mistakes(z, y))


@pytest.mark.parametrize("n,c", CE_SHAPES, ids=CE_IDS)
def test_softmax_cross_entropy_dlogits(student, reference, check, gen, device, dtype, n, c):
    z, y = _ce_case(gen, n, c, dtype, device, scale=2.0)
    _, dz = _ce_student(check, student, z, y)
    _, expected = reference.backprop.softmax_cross_entropy(z, y)
    check.close(dz, expected, mistakes=_dlogits_mistakes(z, y, expected))


@pytest.mark.parametrize("part", ["loss", "dlogits"])
@pytest.mark.parametrize("scale", [1e2, 1e3], ids=["logits1e2", "logits1e3"])
def test_softmax_cross_entropy_large_logits(student, reference, check, gen, device, dtype, scale, part):
    z, y = _ce_case(gen, 6, 5, dtype, device, scale=scale)
    loss, dz = _ce_student(check, student, z, y)
    e_loss, e_dz = reference.backprop.softmax_cross_entropy(z, y)
    stable = ("exp overflowed for large logits: subtract each row's max before exp (softmax and "
              "log-softmax do not change), and take log-softmax as shifted - log(sum(exp(shifted)))")
    mistakes = [Mistake(stable, problem="nan"), Mistake(stable, problem="inf")]
    if part == "loss":
        mistakes.append(Mistake(
            "the loss is far too small for large logits: log(softmax + eps) or a clamped "
            "probability caps each term; use log-softmax = shifted - log(sum(exp(shifted)))",
            when=lambda out: isinstance(out, torch.Tensor) and float(out) < 0.5 * float(e_loss)))
        check.close(loss, e_loss, scale=scale * 1e-3, mistakes=mistakes)
    else:
        check.close(dz, e_dz, mistakes=mistakes + _dlogits_mistakes(z, y, e_dz))


# ------------------------------------------------------------------ rules for every call


def _unchanged_case(name, gen, device):
    dtype = torch.float64
    if name == "linear":
        x, W, b, dout = _linear_case(gen, 5, 4, 3, dtype, device)
        return "linear_forward", "linear_backward", [x, W, b], {}, dout, ("x", "W", "b")
    if name == "softmax_cross_entropy":
        z, y = _ce_case(gen, 6, 4, dtype, device, scale=5.0)
        return "softmax_cross_entropy", None, [z, y], {}, None, ("logits", "y")
    x = _randn(gen, 4, 6, dtype=dtype, device=device, scale=3.0)
    x[0, 0] = 0.0
    dout = _randn(gen, 4, 6, dtype=dtype, device=device)
    return "activation_forward", "activation_backward", [x, name], {}, dout, ("x", "kind")


@pytest.mark.parametrize("name", ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "gelu",
                                  "softmax_cross_entropy"])
def test_inputs_unchanged(student, check, gen, device, name):
    fwd, bwd, args, kwargs, dout, names = _unchanged_case(name, gen, device)
    if bwd is None:
        record = getattr(student.backprop, fwd).inspect_call(*args, **kwargs)
        for arg_name, before, after in zip(names, args, record.args):
            check.unchanged(before, after, arg_name, record.findings)
        return
    # scored from the source (both functions); what the worker reports only adds notes
    check.source(getattr(student.backprop, fwd).findings("modifies"))
    check.source(getattr(student.backprop, bwd).findings("modifies"),
                 hint="compute dx out of place (dx = dout * mask, not dout *= mask or dout[...] = 0): the "
                      "caller may still need dout")
    res = run_student(check, student, fwd, bwd, args, kwargs, dout)
    for arg_name, before, after in zip(names, args, res["args"]):
        if isinstance(before, torch.Tensor):
            check.unchanged(before, after, arg_name)
    check.unchanged(dout, res["dout"], "dout")


def _bad_calls():
    """(id, function, builder of (args, kwargs), regex for the message)."""

    def data():
        g = torch.Generator().manual_seed(11)
        x, W, b = torch.randn(4, 3, generator=g), torch.randn(2, 3, generator=g), torch.randn(2, generator=g)
        z, y = torch.randn(4, 3, generator=g), torch.tensor([0, 2, 1, 1])
        params = [W, b, torch.randn(3, 2, generator=g), torch.randn(3, generator=g)]
        return x, W, b, z, y, params

    x, W, b, z, y, params = data()
    return [
        ("linear-b(out,1)", "linear_forward", (x, W, b[:, None]), {}, r"\bb\b"),
        ("linear-W(in,out)", "linear_forward", (x, W.T.contiguous(), b), {}, r"\bW\b"),
        ("activation-unknown-kind", "activation_forward", (x, "softplus"), {}, r"\bkind\b"),
        ("ce-index>=C", "softmax_cross_entropy", (z, torch.tensor([0, 3, 1, 1])), {}, r"\by\b"),
        ("ce-float-y", "softmax_cross_entropy", (z, y.float()), {}, r"\by\b"),
        ("ce-y(N,1)", "softmax_cross_entropy", (z, y[:, None]), {}, r"\by\b"),
        ("mlp-unknown-activation", "mlp_loss_and_grads", (params, x, y % 3), {"activation": "swish"},
         r"\bactivation\b"),
        ("mlp-odd-params", "mlp_loss_and_grads", (params[:3], x, y % 2), {}, r"\bparams\b"),
        ("MLP-sizes[4]", "MLP", ([4],), {}, r"\bsizes\b"),
        ("MLP-unknown-activation", "MLP", ([4, 3],), {"activation": "swish"}, r"\bactivation\b"),
    ]


BAD_CALLS = _bad_calls()


@pytest.mark.parametrize("case", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_argument_checks(student, check, case):
    _, name, args, kwargs, match = case
    with check.raises(ValueError, match=match,
                      hint="check shapes, dtypes and names yourself and raise ValueError naming the "
                           "argument: a bias of shape (out, 1) or an unknown activation must not "
                           "pass silently"):
        getattr(student.backprop, name)(*args, **kwargs)


# ----------------------------------------------------------------------------- on the GPU

# a case's id names the functions it runs (grader validate reports the coverage)
DEVICE_CASES = ["linear_forward+linear_backward"] + [
    f"activation_forward+activation_backward-{kind}" for kind in ("relu", "leaky_relu", "sigmoid", "tanh", "gelu")
] + ["softmax_cross_entropy", "mlp_loss_and_grads"]


@pytest.mark.parametrize("case", DEVICE_CASES)
def test_on_device(student, reference, check, gen, case):
    """Forward and backward passes on the simulated GPU: outputs, caches and gradients
    stay there (no .cpu(), no mask, one-hot or buffer made without device=) and match the
    reference's. The MLP class is not run there: it has no device argument."""
    def randn(*shape, scale=1.0):  # float64: the case is about devices, not rounding
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale

    if case == "softmax_cross_entropy" or case == "mlp_loss_and_grads":
        y = torch.randint(0, 4, (6,), generator=gen)
        if case == "softmax_cross_entropy":
            args = [randn(6, 4, scale=2.0), y]
        else:
            params = [randn(5, 3), randn(5), randn(4, 5), randn(4)]
            args = [params, randn(6, 3), y]
        fn = getattr(student.backprop, case)
        actual = on_device(check, student, fn, *args, what=case)
        expected = getattr(reference.backprop, case)(*args)
        check.close(list(actual) if isinstance(actual, tuple) else actual, list(expected), what=case)
        return
    if case.startswith("linear"):
        fwd, bwd, args, kwargs, dout = "linear_forward", "linear_backward", [randn(6, 3), randn(4, 3), randn(4)], {}, \
            randn(6, 4)
    else:
        kind = case.split("-", 1)[1]
        kwargs = {"negative_slope": 0.1} if kind == "leaky_relu" else {}
        fwd, bwd, args, dout = "activation_forward", "activation_backward", [randn(5, 4, scale=3.0), kind], \
            randn(5, 4)
    actual = on_device(check, student, student.harness.run_layer, getattr(student.backprop, fwd),
                       getattr(student.backprop, bwd), args, kwargs, dout, what=f"{fwd} and {bwd}")
    expected = run_reference(reference, fwd, bwd, args, kwargs, dout)
    check.close(actual.get("out") if isinstance(actual, dict) else actual, expected["out"], what=fwd)
    check.close(actual.get("grads") if isinstance(actual, dict) else None, expected["grads"], what=bwd)
