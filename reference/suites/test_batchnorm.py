"""Hidden suite for batchnorm.py: batch normalisation (training steps with running
statistics, evaluation) and layer normalisation, forward and backward.

Batch normalisation keeps state between calls, so every case runs a short sequence of
calls beside the student's functions in one trip (``harness.run_batchnorm``): the
running buffers are updated in place by the student's own function and come back after
every step. The reference runs through the same driver here. Known slips are
re-implemented below (``_bn_slip``, ``_ln_slip``) and run through the same driver when a
check fails, so the feedback can name the mistake.
"""

from __future__ import annotations

import pytest
import torch

from grader import harness_batchnorm as hb
from grader.compare import shape_str
from grader.device_check import on_device
from grader.diagnosis import Mistake, specific_error_hint
from grader.errors import StudentError

pytestmark = pytest.mark.topic("batchnorm")

F64 = torch.float64
# float32: absolute tolerance 1e-6 * scale (sums over the batch round differently)
F32_SCALE = {"out": 10.0, "stats": 10.0, "grad": 50.0}


def _scale(dtype: torch.dtype, kind: str) -> float:
    return F32_SCALE[kind] if dtype == torch.float32 else 1.0


def _dims(x: torch.Tensor) -> tuple[int, ...]:
    return (0,) + tuple(range(2, x.dim()))


# --------------------------------------------------------------------- known slips

def _bn_slip(bug: str):
    """batchnorm_forward / batchnorm_backward with one deliberate mistake."""

    def forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
        c = x.shape[1]
        bshape = (1, c) + (1,) * (x.dim() - 2)
        dims = (0,) if bug == "batch_dim_only" else _dims(x)
        count = x.numel() // c if bug != "batch_dim_only" else x.shape[0]
        if bug == "eps_fixed":
            eps = 1e-5
        if bug == "eps_1e-8":
            eps = 1e-8
        mean = x.mean(dim=dims, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
        unbiased = var * count / max(count - 1, 1)
        use_batch = training or bug == "eval_batch_stats"
        if use_batch:
            mu, v = mean, (unbiased if bug == "unbiased_norm" else var)
        else:
            mu, v = running_mean.reshape(bshape), running_var.reshape(bshape)
        update = (training and bug != "not_in_place") or (not training and bug == "eval_updates")
        if update and bug != "batch_dim_only":
            new_mean = mean.reshape(c)
            new_var = (var if bug == "biased_running" else unbiased).reshape(c)
            keep, take = (momentum, 1 - momentum) if bug == "momentum_reversed" else (1 - momentum, momentum)
            running_mean.mul_(keep).add_(take * new_mean)
            running_var.mul_(keep).add_(take * new_var)
        if bug == "eps_outside":
            inv_std = 1 / (torch.sqrt(v) + eps)
        else:
            inv_std = 1 / torch.sqrt(v + eps)
        xhat = (x - mu) * inv_std
        out = gamma.reshape(bshape) * xhat + beta.reshape(bshape)
        return out, {"xhat": xhat, "inv_std": inv_std, "gamma": gamma.reshape(bshape), "x": x,
                     "dims": dims, "count": count, "training": use_batch}

    def backward(dout, cache):
        xhat, inv_std, g, dims, m = cache["xhat"], cache["inv_std"], cache["gamma"], cache["dims"], cache["count"]
        dbeta = dout.sum(dim=dims)
        if bug == "dgamma_x":
            dgamma = (dout * cache["x"]).sum(dim=dims)
        elif bug == "dgamma_batch_only":
            dgamma, dbeta = (dout * xhat).sum(dim=0), dout.sum(dim=0)
        else:
            dgamma = (dout * xhat).sum(dim=dims)
        dxhat = dout if bug == "dx_no_gamma" else dout * g
        if not cache["training"] or bug == "constant_stats":
            dx = dxhat * inv_std
        else:
            mean_term = 0 if bug == "no_mean_term" else dxhat.sum(dim=dims, keepdim=True)
            var_term = 0 if bug == "no_var_term" else xhat * (dxhat * xhat).sum(dim=dims, keepdim=True)
            dx = inv_std / m * (m * dxhat - mean_term - var_term)
        return dx, dgamma, dbeta

    return forward, backward


def _ln_slip(bug: str):
    """layernorm_forward / layernorm_backward with one deliberate mistake."""

    def forward(x, gamma, beta, eps=1e-5):
        if bug == "batch_dim":
            dims = (0,)
        elif bug == "all_dims":
            dims = tuple(range(x.dim()))
        else:
            dims = (-1,)
        n = 1
        for d in dims:
            n *= x.shape[d]
        mean = x.mean(dim=dims, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
        if bug == "unbiased":
            var = var * n / max(n - 1, 1)
        if bug == "eps_1e-8":
            eps = 1e-8
        inv_std = 1 / (torch.sqrt(var) + eps) if bug == "eps_outside" else 1 / torch.sqrt(var + eps)
        xhat = (x - mean) * inv_std
        return gamma * xhat + beta, {"xhat": xhat, "inv_std": inv_std, "gamma": gamma, "x": x}

    def backward(dout, cache):
        xhat, inv_std, gamma = cache["xhat"], cache["inv_std"], cache["gamma"]
        rows = tuple(range(dout.dim() - 1))
        d = xhat.shape[-1]
        if bug == "dgamma_first_dim":
            dgamma, dbeta = (dout * xhat).sum(dim=0), dout.sum(dim=0)
        else:
            dgamma, dbeta = (dout * xhat).sum(dim=rows), dout.sum(dim=rows)
        dxhat = dout * gamma
        if bug == "constant_stats":
            dx = dxhat * inv_std
        else:
            mean_term = 0 if bug == "no_mean_term" else dxhat.sum(-1, keepdim=True)
            var_term = 0 if bug == "no_var_term" else xhat * (dxhat * xhat).sum(-1, keepdim=True)
            dx = inv_std / d * (d * dxhat - mean_term - var_term)
        return dx, dgamma, dbeta

    return forward, backward


class _Slips:
    """Runs of the slips on one case's spec, computed on demand and kept."""

    def __init__(self, spec: dict, layer: bool = False):
        self.spec = spec
        self.layer = layer
        self.runs: dict[str, list] = {}

    def value(self, bug: str, step: int, key: str):
        if bug not in self.runs:
            try:
                if self.layer:
                    self.runs[bug] = [hb.run_layernorm(*_ln_slip(bug), self.spec)]
                else:
                    self.runs[bug] = hb.run_batchnorm(*_bn_slip(bug), self.spec)["steps"]
            except Exception:  # a slip that cannot run on this input matches nothing
                self.runs[bug] = []
        steps = self.runs[bug]
        return steps[step].get(key) if step < len(steps) else None

    def mistake(self, bug: str, step: int, key: str, hint: str) -> Mistake:
        return Mistake(hint, value=lambda: self.value(bug, step, key))


HINTS = {
    "unbiased_norm": "the output is normalised with the unbiased variance (divide by M - 1): normalise with "
                     "the biased variance (divide by M); only running_var gets the unbiased one",
    "biased_running": "running_var got the biased batch variance: torch stores the UNBIASED variance "
                      "var * M / (M - 1) in running_var (the output still uses the biased one)",
    "momentum_reversed": "momentum weighs the new batch statistic: running = (1 - momentum) * running + "
                         "momentum * batch_stat (momentum and 1 - momentum are swapped)",
    "not_in_place": "the running statistics did not change: update the caller's tensors in place "
                    "(running_mean.mul_(1 - momentum).add_(momentum * mean) or running_mean.copy_(...)); "
                    "running_mean = ... only rebinds a local name",
    "eps_outside": "eps belongs inside the square root: (x - mean) / sqrt(var + eps), not / (sqrt(var) + eps) "
                   "(it shows on channels whose variance is close to eps)",
    "eps_fixed": "the eps argument is ignored (the result matches eps = 1e-5): use the eps passed in",
    "eps_1e-8": "the eps argument is ignored (the result matches eps = 1e-8): use the eps passed in",
    "batch_dim_only": "the statistics are taken over the batch dim only: for (N, C, L) and (N, C, H, W) "
                      "inputs each channel's mean and variance run over N AND every position, dims (0, 2, ...)",
    "eval_batch_stats": "evaluation (training=False) must normalise with running_mean and running_var, "
                        "not with the statistics of the batch",
    "eval_updates": "evaluation (training=False) must leave running_mean and running_var unchanged",
    "constant_stats": "dx treats the batch mean and variance as constants (dx = dout * gamma / std): both "
                      "depend on x, so dx = (M dxhat - sum dxhat - xhat sum(dxhat xhat)) / (M std)",
    "no_var_term": "dx misses the path through the variance: add - xhat * sum(dxhat * xhat) "
                   "(dx = (M dxhat - sum dxhat - xhat sum(dxhat xhat)) / (M std))",
    "no_mean_term": "dx misses the path through the mean: subtract sum(dxhat) "
                    "(dx = (M dxhat - sum dxhat - xhat sum(dxhat xhat)) / (M std))",
    "dgamma_x": "dgamma = sum(dout * xhat) uses the NORMALISED input xhat, not x",
    "dx_no_gamma": "dx misses the factor gamma: the gradient reaching xhat is dxhat = dout * gamma",
    "dgamma_batch_only": "dgamma and dbeta must have shape (C,): sum over N AND every position "
                         "(dims (0, 2, ...)), not over N only",
}

LN_HINTS = {
    "batch_dim": "layer norm normalises each sample over its features (the last dim), not over the batch dim",
    "all_dims": "layer norm normalises each row over the last dim only, not over the whole tensor",
    "unbiased": "layer norm uses the biased variance (divide by D, the number of features), not D - 1",
    "eps_outside": "eps belongs inside the square root: (x - mean) / sqrt(var + eps), not / (sqrt(var) + eps)",
    "eps_1e-8": "the eps argument is ignored (the result matches eps = 1e-8): use the eps passed in",
    "constant_stats": "dx treats each row's mean and variance as constants: both depend on x, so "
                      "dx = (D dxhat - sum_j dxhat - xhat sum_j(dxhat xhat)) / (D std) per row",
    "dgamma_first_dim": "dgamma and dbeta must have shape (D,): sum over every dim but the last",
    "no_var_term": "dx misses the path through each row's variance: add - xhat * sum_j(dxhat * xhat) "
                   "(dx = (D dxhat - sum_j dxhat - xhat sum_j(dxhat xhat)) / (D std))",
    "no_mean_term": "dx misses the path through each row's mean: subtract sum_j dxhat "
                    "(dx = (D dxhat - sum_j dxhat - xhat sum_j(dxhat xhat)) / (D std))",
}

SHAPE_ERRORS = ("doesn't match the broadcast shape", "must match the size of tensor", "is invalid for input of size")
DIMS_HINT = ("for (N, C, L) and (N, C, H, W) inputs the statistics of channel c run over every dim but 1 "
             "(dims (0, 2) or (0, 2, 3)), so mean, var and the running statistics have one value per "
             "channel; reshape them and gamma, beta to (1, C, 1, ...) to broadcast over x")
SHAPE_HINT = "the shapes do not line up: mean, var, gamma and beta have one value per channel, shape (C,)"


# --------------------------------------------------------------------- runners

def _crash_hint(err: StudentError, spec: dict) -> str | None:
    message = err.exc_message.lower()
    specific = specific_error_hint(err.type_name, err.exc_message)
    if specific is not None:  # e.g. math.sqrt of a negative variance: not a ValueError of its own
        return specific
    if err.is_a("ValueError"):
        return ("a ValueError for a valid input: raise only in training with a single value per channel "
                "(M = N * L or N * H * W equal to 1)")
    if any(needle.lower() in message for needle in SHAPE_ERRORS):
        return DIMS_HINT if any(s["x"].dim() > 2 for s in spec["steps"]) else SHAPE_HINT
    if "a leaf variable that requires grad" in message:
        return "update the running statistics under torch.no_grad()"
    return None


def _student_bn(check, student, spec, backward=False):
    try:
        run = student.harness.run_batchnorm(
            student.batchnorm.batchnorm_forward,
            student.batchnorm.batchnorm_backward if backward else None, spec)
    except StudentError as err:
        hint = _crash_hint(err, spec)
        if hint:
            check.fail(err.message, hint)
        raise
    if not isinstance(run, dict) or not isinstance(run.get("steps"), list):
        check.fail("batchnorm_forward: the run returned no results")
    for record in run["steps"]:
        if not isinstance(record, dict):
            check.fail("batchnorm_forward: the run returned no results")
        if record.get("error"):
            check.fail(record["error"], "return (out, cache) from the forward pass and (dx, dgamma, dbeta) "
                                        "from the backward pass")
    return run["steps"]


def _reference_bn(reference, spec):
    return hb.run_batchnorm(reference.batchnorm.batchnorm_forward, reference.batchnorm.batchnorm_backward,
                            spec)["steps"]


def _student_ln(check, student, spec):
    try:
        record = student.harness.run_layernorm(student.batchnorm.layernorm_forward,
                                               student.batchnorm.layernorm_backward, spec)
    except StudentError as err:
        if any(needle.lower() in err.exc_message.lower() for needle in SHAPE_ERRORS):
            check.fail(err.message, "layer norm: statistics over the last dim with keepdim=True; gamma "
                                    "and beta of shape (D,) broadcast over the leading dims")
        raise
    if not isinstance(record, dict):
        check.fail("layernorm_forward: the run returned no results")
    if record.get("error"):
        check.fail(record["error"], "return (out, cache) from the forward pass and (dx, dgamma, dbeta) "
                                    "from the backward pass")
    return record


def _what(fn: str, x: torch.Tensor, step: int | None, steps: list[dict], key: str) -> str:
    mode = ""
    if step is not None:
        training = steps[step]["training"]
        n_train = sum(1 for s in steps if s["training"])
        if training:
            mode = f", training step {step + 1} of {n_train}"
        elif n_train:
            mode = f", evaluation step {step + 1 - n_train} after {n_train} training steps"
        else:
            mode = f", evaluation step {step + 1}"
    return f"{fn} on x of shape {shape_str(x.shape)} ({str(x.dtype).replace('torch.', '')}{mode}): {key}"


def _bn_spec(gen, shape, dtype, device, n_train, n_eval=0, momentum=None, eps=None, backward=False,
             tiny=False, buffers="default"):
    """Batches (N, C, ...) with channel-specific offsets and scales; gamma away from 1."""
    c = shape[1]
    pshape = (1, c) + (1,) * (len(shape) - 2)
    offset = torch.randn(pshape, generator=gen, dtype=F64) * 2
    spread = 0.5 + 2 * torch.rand(pshape, generator=gen, dtype=F64)
    gamma = 1 + 0.8 * torch.randn(c, generator=gen, dtype=F64)
    beta = torch.randn(c, generator=gen, dtype=F64)
    if buffers == "default":
        rm, rv = torch.zeros(c, dtype=F64), torch.ones(c, dtype=F64)
    else:
        rm, rv = torch.randn(c, generator=gen, dtype=F64), 0.3 + torch.rand(c, generator=gen, dtype=F64) * 2
    steps = []
    for t in range(n_train + n_eval):
        x = offset + spread * torch.randn(shape, generator=gen, dtype=F64) + 0.3 * t
        if tiny:
            x[:, 0] = 0.01 + 1e-3 * torch.randn(x[:, 0].shape, generator=gen, dtype=F64)  # var ~ 1e-6 < eps
            if c > 1:
                x[:, 1] = -1.5  # an exactly constant channel
        step = {"x": x.to(dtype).to(device), "training": t < n_train}
        if momentum is not None:
            step["momentum"] = momentum
        if eps is not None:
            step["eps"] = eps
        if backward:
            step["dout"] = torch.randn(shape, generator=gen, dtype=F64).to(dtype).to(device)
        steps.append(step)
    return {"gamma": gamma.to(dtype).to(device), "beta": beta.to(dtype).to(device),
            "running_mean": rm.to(dtype).to(device), "running_var": rv.to(dtype).to(device), "steps": steps}


def _check_steps(check, actual, expected, spec, slips, keys, bugs, dtype):
    """Compare ``keys`` of every step with the reference's, naming the slips ``bugs``."""
    for i, exp in enumerate(expected):
        if i >= len(actual):
            check.fail(f"batchnorm_forward: step {i + 1} did not run")
        for key in keys:
            kind = "grad" if key in ("dx", "dgamma", "dbeta") else "stats" if key.startswith("running") else "out"
            fn = "batchnorm_backward" if kind == "grad" else "batchnorm_forward"
            check.close(
                actual[i].get(key), exp[key], scale=_scale(dtype, kind),
                what=_what(fn, spec["steps"][i]["x"], i, spec["steps"], key),
                mistakes=[slips.mistake(b, i, key, HINTS[b]) for b in bugs],
            )


# ----------------------------------------------------------------- batchnorm: training

TRAIN_SHAPES = [(8, 5), (4, 3, 6), (3, 4, 3, 2), (1, 3, 2, 2), (6, 2, 1)]
FORWARD_BUGS = ["unbiased_norm", "eps_outside", "batch_dim_only", "eps_fixed", "eps_1e-8"]


@pytest.mark.parametrize("shape", TRAIN_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_batchnorm_train_forward(student, reference, check, gen, device, dtype, shape):
    """One training step: the output, normalised with the batch statistics."""
    eps = 1e-3 if len(shape) == 3 else None  # a non-default eps for the 3-D cases
    spec = _bn_spec(gen, shape, dtype, device, n_train=1, eps=eps)
    actual = _student_bn(check, student, spec)
    expected = _reference_bn(reference, spec)
    _check_steps(check, actual, expected, spec, _Slips(spec), ["out"], FORWARD_BUGS, dtype)


RUNNING_CASES = [
    pytest.param((6, 3), None, "default", id="6x3"),
    pytest.param((4, 3, 5), 0.25, "random", id="4x3x5-m0.25"),
    pytest.param((3, 2, 2, 3), None, "random", id="3x2x2x3"),
    pytest.param((5, 4, 2, 2), 0.6, "default", id="5x4x2x2-m0.6"),
]
RUNNING_BUGS = ["biased_running", "momentum_reversed", "not_in_place", "eps_outside", "batch_dim_only"]


@pytest.mark.parametrize("shape,momentum,buffers", RUNNING_CASES)
def test_batchnorm_running_stats(student, reference, check, gen, device, dtype, shape, momentum, buffers):
    """Four training steps: running_mean and running_var after every step (in place)."""
    spec = _bn_spec(gen, shape, dtype, device, n_train=4, momentum=momentum, buffers=buffers)
    actual = _student_bn(check, student, spec)
    expected = _reference_bn(reference, spec)
    _check_steps(check, actual, expected, spec, _Slips(spec), ["running_mean", "running_var"],
                 RUNNING_BUGS, dtype)


SMALL_SHAPES = [(2, 4), (3, 4), (2, 3, 1)]


@pytest.mark.parametrize("shape", SMALL_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_batchnorm_small_batch(student, reference, check, gen, device, dtype, shape):
    """Two or three values per channel, where biased and unbiased variances differ most."""
    spec = _bn_spec(gen, shape, dtype, device, n_train=2, buffers="random")
    actual = _student_bn(check, student, spec)
    expected = _reference_bn(reference, spec)
    _check_steps(check, actual, expected, spec, _Slips(spec), ["out", "running_var", "running_mean"],
                 ["unbiased_norm", "biased_running", "momentum_reversed", "not_in_place", "eps_outside",
                  "eps_1e-8"], dtype)


TINY_SHAPES = [(8, 4), (6, 3, 4), (4, 3, 2, 2)]


@pytest.mark.parametrize("shape", TINY_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_batchnorm_tiny_variance(student, reference, check, gen, device, dtype, shape):
    """A channel with variance ~1e-6 (below eps) and an exactly constant one: two training
    steps, then one evaluation step with running variances near 1e-4."""
    spec = _bn_spec(gen, shape, dtype, device, n_train=2, n_eval=1, tiny=True, momentum=0.99)
    actual = _student_bn(check, student, spec)
    expected = _reference_bn(reference, spec)
    slips = _Slips(spec)
    nan_hints = [Mistake("nan or inf on a constant channel: add eps to the variance inside the square root, "
                         "sqrt(var + eps)", problem=p) for p in ("nan", "inf")]
    bugs = ["eps_outside", "eps_1e-8", "unbiased_norm", "batch_dim_only"]
    for i in range(2):
        if i >= len(actual):
            check.fail(f"batchnorm_forward: step {i + 1} did not run")
        check.close(actual[i].get("out"), expected[i]["out"], scale=_scale(dtype, "out"),
                    what=_what("batchnorm_forward", spec["steps"][i]["x"], i, spec["steps"], "out"),
                    mistakes=nan_hints + [slips.mistake(b, i, "out", HINTS[b]) for b in bugs])
    # the evaluation step, from the student's own running statistics (with momentum 0.99
    # the two small channels' running_var is about 1e-4, ten times eps)
    _check_eval_step(check, reference, spec, actual, 2, slips, dtype, extra=nan_hints)


# ----------------------------------------------------------------- batchnorm: evaluation

EVAL_CASES = [
    pytest.param((5, 3), 0, id="5x3-eval-only"),
    pytest.param((1, 4, 3), 0, id="1x4x3-single-sample"),
    pytest.param((4, 3, 2, 2), 3, id="4x3x2x2-after-training"),
]


@pytest.mark.parametrize("shape,n_train", EVAL_CASES)
def test_batchnorm_eval(student, reference, check, gen, device, dtype, shape, n_train):
    """Evaluation uses the running statistics as they are and leaves them unchanged. The
    expected eval output is computed from the student's own buffers before each eval step,
    so this group does not depend on the running-statistics update."""
    n_eval = 2
    spec = _bn_spec(gen, shape, dtype, device, n_train=n_train, n_eval=n_eval, buffers="random")
    actual = _student_bn(check, student, spec)
    slips = _Slips(spec)
    for i in range(n_train, n_train + n_eval):
        _check_eval_step(check, reference, spec, actual, i, slips, dtype)


def _check_eval_step(check, reference, spec, actual, i, slips, dtype, extra=()):
    """Step i is an evaluation step: its output must be the reference's evaluation output
    for the running statistics the student's run had before it, and it must leave them
    unchanged."""
    if i >= len(actual):
        check.fail(f"batchnorm_forward: step {i + 1} did not run")
    before_mean = spec["running_mean"] if i == 0 else actual[i - 1].get("running_mean")
    before_var = spec["running_var"] if i == 0 else actual[i - 1].get("running_var")
    if not (isinstance(before_mean, torch.Tensor) and isinstance(before_var, torch.Tensor)):
        check.fail("batchnorm_forward: the running statistics are no longer tensors")
    step = spec["steps"][i]
    out, _ = reference.batchnorm.batchnorm_forward(
        step["x"], spec["gamma"], beta=spec["beta"], running_mean=before_mean.clone(),
        running_var=before_var.clone(), training=False, **({"eps": step["eps"]} if "eps" in step else {}))
    check.close(actual[i].get("out"), out, scale=_scale(dtype, "out"),
                what=_what("batchnorm_forward", step["x"], i, spec["steps"], "out"),
                mistakes=[*extra,
                          slips.mistake("eval_batch_stats", i, "out", HINTS["eval_batch_stats"]),
                          slips.mistake("eps_outside", i, "out", HINTS["eps_outside"])])
    for key, before in (("running_mean", before_mean), ("running_var", before_var)):
        check.equal(actual[i].get(key), before,
                    what=_what("batchnorm_forward", step["x"], i, spec["steps"], key) + " (must not change)",
                    hint=HINTS["eval_updates"])


SINGLE_SHAPES = [(1, 3), (1, 4, 1), (1, 2, 1, 1)]


@pytest.mark.parametrize("shape", SINGLE_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_batchnorm_single_value_raises(student, check, gen, device, shape):
    """Training with one value per channel: the variance is undefined, so ValueError."""
    c = shape[1]
    x = torch.randn(shape, generator=gen).to(device)
    gamma, beta = torch.ones(c).to(device), torch.zeros(c).to(device)
    with check.raises(ValueError,
                      hint="with one value per channel in training (M = N * L or N * H * W equal to 1) "
                           "raise ValueError, as torch does, instead of returning nan or zeros"):
        student.batchnorm.batchnorm_forward(x, gamma, beta=beta, running_mean=torch.zeros(c).to(device),
                                            running_var=torch.ones(c).to(device), training=True)


# ----------------------------------------------------------------- batchnorm: backward

BACKWARD_SHAPES = [(6, 4), (3, 2), (4, 3, 5), (3, 4, 2, 3)]
BACKWARD_BUGS = ["constant_stats", "no_var_term", "no_mean_term", "dgamma_x", "dx_no_gamma",
                 "dgamma_batch_only", "unbiased_norm", "eps_outside", "eps_1e-8"]


@pytest.mark.parametrize("shape", BACKWARD_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_batchnorm_backward(student, reference, check, gen, device, dtype, shape):
    """dx, dgamma, dbeta after a training forward, for a random upstream gradient."""
    spec = _bn_spec(gen, shape, dtype, device, n_train=1, backward=True)
    actual = _student_bn(check, student, spec, backward=True)
    expected = _reference_bn(reference, spec)
    _check_steps(check, actual, expected, spec, _Slips(spec), ["dbeta", "dgamma", "dx"], BACKWARD_BUGS, dtype)


# ----------------------------------------------------------------- layer norm

def _ln_spec(gen, shape, dtype, device, eps=None, backward=False, tiny=False):
    d = shape[-1]
    x = torch.randn(shape, generator=gen, dtype=F64) * 1.5 + torch.randn(shape[:-1] + (1,), generator=gen,
                                                                          dtype=F64) * 2
    if tiny:
        x.view(-1, d)[0] = 0.02 + 1e-3 * torch.randn(d, generator=gen, dtype=F64)
    spec = {"x": x.to(dtype).to(device),
            "gamma": (1 + 0.8 * torch.randn(d, generator=gen, dtype=F64)).to(dtype).to(device),
            "beta": torch.randn(d, generator=gen, dtype=F64).to(dtype).to(device)}
    if eps is not None:
        spec["eps"] = eps
    if backward:
        spec["dout"] = torch.randn(shape, generator=gen, dtype=F64).to(dtype).to(device)
    return spec


def _check_ln(check, actual, expected, spec, keys, bugs, dtype):
    slips = _Slips(spec, layer=True)
    for key in keys:
        kind = "out" if key == "out" else "grad"
        fn = "layernorm_forward" if key == "out" else "layernorm_backward"
        check.close(actual.get(key), expected[key], scale=_scale(dtype, kind),
                    what=_what(fn, spec["x"], None, [], key),
                    mistakes=[slips.mistake(b, 0, key, LN_HINTS[b]) for b in bugs])


LN_CASES = [
    pytest.param((5, 8), None, False, id="5x8"),
    pytest.param((2, 3, 6), None, True, id="2x3x6-tiny-row"),
    pytest.param((6, 6), 1e-2, True, id="6x6-eps1e-2"),
    pytest.param((4, 1), None, False, id="4x1"),
]


@pytest.mark.parametrize("shape,eps,tiny", LN_CASES)
def test_layernorm_forward(student, reference, check, gen, device, dtype, shape, eps, tiny):
    spec = _ln_spec(gen, shape, dtype, device, eps=eps, tiny=tiny)
    actual = _student_ln(check, student, spec)
    expected = hb.run_layernorm(reference.batchnorm.layernorm_forward, None, spec)
    _check_ln(check, actual, expected, spec, ["out"],
              ["batch_dim", "all_dims", "unbiased", "eps_outside", "eps_1e-8"], dtype)


LN_BACKWARD_SHAPES = [(5, 7), (2, 4, 3), (3, 2)]


@pytest.mark.parametrize("shape", LN_BACKWARD_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_layernorm_backward(student, reference, check, gen, device, dtype, shape):
    spec = _ln_spec(gen, shape, dtype, device, backward=True)
    actual = _student_ln(check, student, spec)
    expected = hb.run_layernorm(reference.batchnorm.layernorm_forward, reference.batchnorm.layernorm_backward,
                                spec)
    _check_ln(check, actual, expected, spec, ["dbeta", "dgamma", "dx"],
              ["dgamma_first_dim", "constant_stats", "no_var_term", "no_mean_term", "batch_dim", "unbiased",
               "eps_outside", "eps_1e-8"], dtype)


# ----------------------------------------------------------------- hygiene

UNCHANGED = ["batchnorm_train", "batchnorm_eval", "batchnorm_backward", "layernorm_forward",
             "layernorm_backward"]


@pytest.mark.parametrize("case", UNCHANGED)
def test_inputs_unchanged(student, check, gen, device, case):
    """x, gamma, beta (forward) and dout (backward) are never modified: scored from the
    grader's reading of the source (grader.mutation_check); the worker's own before/after
    comparison only adds a note."""
    if case.startswith("batchnorm"):
        training = case != "batchnorm_eval"
        spec = _bn_spec(gen, (4, 3, 2), torch.float32, device, n_train=1 if training else 0,
                        n_eval=0 if training else 1, backward=case == "batchnorm_backward", buffers="random")
        record = _student_bn(check, student, spec, backward=case == "batchnorm_backward")[0]
        fn = "batchnorm_backward" if case == "batchnorm_backward" else "batchnorm_forward"
    else:
        spec = _ln_spec(gen, (4, 5), torch.float32, device, backward=case == "layernorm_backward")
        record = _student_ln(check, student, spec)
        fn = case
    modified = record.get("modified") if isinstance(record, dict) else None
    if not isinstance(modified, list):
        check.fail(f"{fn}: the run returned no results")
    check.source(getattr(student.batchnorm, fn).findings("modifies"),
                 hint="work on new tensors (x - mean, not x -= mean; dout * gamma, not dout *= gamma): only the "
                      "running statistics may change")
    if modified:  # what the worker says it saw: feedback, not points
        check.note(f"{fn}: the worker reports that a call changed its argument {modified[0]} in place (not "
                   "scored); work on new tensors, only the running statistics may change")


BAD_ARGS = [
    pytest.param("batchnorm_forward", "gamma", id="bn-gamma-shape"),
    pytest.param("batchnorm_forward", "running_mean", id="bn-running_mean-shape"),
    pytest.param("batchnorm_forward", "x", id="bn-x-1d"),
    pytest.param("layernorm_forward", "gamma", id="ln-gamma-shape"),
    pytest.param("layernorm_forward", "beta", id="ln-beta-shape"),
]


@pytest.mark.parametrize("fn,arg", BAD_ARGS)
def test_argument_checks(student, check, gen, device, fn, arg):
    """Shapes that do not line up raise ValueError naming the argument (no silent broadcasting)."""
    if fn == "batchnorm_forward":
        c = 3
        x = torch.randn(4, c, 2, generator=gen)
        kwargs = dict(beta=torch.zeros(c), running_mean=torch.zeros(c), running_var=torch.ones(c))
        gamma = torch.ones(c)
        if arg == "gamma":
            gamma = torch.ones(c + 1)
        elif arg == "running_mean":
            kwargs["running_mean"] = torch.zeros(1)
        else:
            x = torch.randn(6, generator=gen)
    else:
        d = 4
        x = torch.randn(3, d, generator=gen)
        gamma, kwargs = torch.ones(d), dict(beta=torch.zeros(d))
        if arg == "gamma":
            gamma = torch.ones(d - 1)
        else:
            kwargs["beta"] = torch.zeros(d, 1)
    kwargs = {k: v.to(device) for k, v in kwargs.items()}
    match = r"\bx\b|dim|shape" if arg == "x" else rf"\b{arg}\b"
    with check.raises(ValueError, match=match,
                      hint=f"check the shape of {arg} and raise ValueError naming {arg}: "
                           f"{'gamma, beta and the running statistics are (C,)' if fn.startswith('batch') else 'gamma and beta are (D,)'}"
                           f"{', x is (N, C, ...)' if arg == 'x' else ''}"):
        getattr(student.batchnorm, fn)(x.to(device), gamma.to(device), **kwargs)


# --------------------------------------------------------------------------- on the GPU

DEVICE_KEYS = {"batchnorm": ("out", "running_mean", "running_var", "dx", "dgamma", "dbeta"),
               "layernorm": ("out", "dx", "dgamma", "dbeta")}


@pytest.mark.parametrize("case", ["batchnorm_forward+batchnorm_backward-NC", "batchnorm_forward+batchnorm_backward-NCHW",
                                  "layernorm_forward+layernorm_backward"])
def test_on_device(student, reference, check, gen, case):
    """Training, evaluation and backward steps on the simulated GPU: outputs, running
    statistics and gradients stay there (no .cpu(), no statistics or buffers made
    without device=) and match the reference's (in float64: the case is about devices,
    not rounding)."""
    if case.startswith("batchnorm"):
        shape = (6, 3) if case.endswith("-NC") else (4, 3, 2, 2)
        spec = _bn_spec(gen, shape, F64, "cpu", n_train=2, n_eval=1, backward=True, buffers="random")
        run = on_device(check, student, student.harness.run_batchnorm, student.batchnorm.batchnorm_forward,
                        student.batchnorm.batchnorm_backward, spec, what="batchnorm_forward and batchnorm_backward")
        expected = _reference_bn(reference, spec)
        name = "batchnorm"
    else:
        x = torch.randn(5, 6, generator=gen, dtype=F64)
        spec = {"x": x, "gamma": 1 + 0.5 * torch.randn(6, generator=gen, dtype=F64),
                "beta": torch.randn(6, generator=gen, dtype=F64), "dout": torch.randn(5, 6, generator=gen, dtype=F64)}
        record = on_device(check, student, student.harness.run_layernorm, student.batchnorm.layernorm_forward,
                           student.batchnorm.layernorm_backward, spec, what="layernorm_forward and layernorm_backward")
        run = {"steps": [record]}
        expected = [hb.run_layernorm(reference.batchnorm.layernorm_forward, reference.batchnorm.layernorm_backward,
                                     spec)]
        name = "layernorm"
    steps = run.get("steps") if isinstance(run, dict) else None
    if not isinstance(steps, list) or len(steps) != len(expected):
        check.fail(f"{name}: the run on the simulated GPU returned {len(steps or [])} of {len(expected)} steps")
    for i, (got, want) in enumerate(zip(steps, expected)):
        if not isinstance(got, dict) or got.get("error"):
            check.fail(f"{name} step {i + 1} on the simulated GPU: {got.get('error') if isinstance(got, dict) else got}")
        for key in DEVICE_KEYS[name]:
            if key in want:
                check.close(got.get(key), want[key], what=f"{name} step {i + 1} on the simulated GPU: {key}")
