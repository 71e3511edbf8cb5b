"""Hidden suite for optimizers.py: the optimizers' step() methods.

Every test drives the student's optimizer and the reference's with the same
grader-side gradient function through ``harness.run_optimizer`` and compares the
parameters after every step. The gradients depend on the parameters (a feedback
problem), so a wrong step changes every later gradient and the error cannot cancel.
Known slips are re-implemented below (``_Slip``) so a failure can name its cause.
"""

from __future__ import annotations

import collections

import pytest
import torch

from grader import harness
from grader.compare import compare, tolerance_for
from grader.device_check import on_device
from grader.diagnosis import Mistake
from grader.errors import StudentError

pytestmark = pytest.mark.topic("optimizers")

F64 = torch.float64
STEPS = 30
F32_SCALE = 20.0  # float32 trajectories: atol 1e-6 * 20 (see check_trajectory)

DEFAULTS = {
    "SGD": dict(momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False),
    "Adagrad": dict(lr=0.01, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10),
    "RMSprop": dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False),
    "Adam": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False),
    "AdamW": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False),
}


# ----------------------------------------------------------------------------- problem


class Feedback:
    """Gradients that depend on the parameters.

    g_i = mask_i * (c_i * (x_i - a_i) + 0.5 * sin(3 x_i + i)), computed in float64 on the
    CPU from the parameters it is given and returned in their dtype and on their device,
    so the student's and the reference's runs get bit-identical gradients for identical
    parameters. ``tiny`` scales some entries by 1e-6 and some by exactly 0; ``none``
    maps a parameter index to the steps t (0-based) on which its gradient is None.
    """

    def __init__(self, gen, shapes, tiny=False, none=None):
        self.shapes = [tuple(s) for s in shapes]
        self.start = [torch.randn(s, generator=gen, dtype=F64) for s in self.shapes]
        self.target = [torch.randn(s, generator=gen, dtype=F64) for s in self.shapes]
        self.curv = [0.2 + 2.0 * torch.rand(s, generator=gen, dtype=F64) for s in self.shapes]
        self.mask = [torch.ones(s, dtype=F64) for s in self.shapes]
        if tiny:
            for m in self.mask:
                flat = m.view(-1)
                perm = torch.randperm(flat.numel(), generator=gen)
                flat[perm[0]] = 1e-6
                flat[perm[1]] = 0.0
                if flat.numel() > 3:
                    flat[perm[2]] = -1e-6
        self.none = none or (lambda i, t: False)

    def params0(self, dtype, device):
        return [s.to(dtype).to(device) for s in self.start]

    def spec(self, steps):
        """The same gradients as a grader.harness.gradient_field spec, which the worker
        evaluates itself (no round trip to the grader per step)."""
        return {
            "field": "feedback", "target": self.target, "curv": self.curv, "mask": self.mask,
            "amp": 0.5, "freq": 3.0,
            "none": [[i, t] for t in range(steps) for i in range(len(self.shapes)) if self.none(i, t)],
        }

    def __call__(self, params, t):
        out = []
        for i, p in enumerate(params):
            if self.none(i, t):
                out.append(None)
                continue
            x = p.detach().to("cpu", F64)
            g = self.mask[i] * (self.curv[i] * (x - self.target[i]) + 0.5 * torch.sin(3.0 * x + i))
            out.append(g.to(p.dtype).to(p.device))
        return out


def random_shapes(gen, same=False):
    """Two small parameter shapes drawn from gen: a non-square matrix and a vector (or two
    matrices of the same shape)."""
    r, c, n = (int(v) for v in torch.randint(2, 6, (3,), generator=gen))
    if same:
        return [(r, r + c - 1), (r, r + c - 1)]
    return [(r, r + c - 1), (n + 3,)]


# ----------------------------------------------------------------------------- known slips


class _Slip:
    """A grader-side optimizer with one known slip (``bug``), used only to name mistakes.

    It follows the reference formulas except where ``bug`` says otherwise, and is driven
    by the same harness and gradients as the student's code.
    """

    def __init__(self, params, kind, bug, **hp):
        self.params = list(params)
        self.kind = kind
        self.bug = bug
        self.param_groups = [dict(DEFAULTS[kind], **hp, params=self.params)]
        self.frozen = dict(self.param_groups[0])
        self.state = collections.defaultdict(dict)
        self.global_step = 0

    def step(self):
        group = self.frozen if self.bug == "frozen" else self.param_groups[0]
        self.global_step += 1
        with torch.no_grad():
            for p in self.params:
                g = p.grad
                if g is None:
                    if self.bug != "none_as_zero":
                        continue
                    g = torch.zeros_like(p)
                getattr(self, "_" + self.kind.lower())(p, g.clone(), group, self.state[p])

    # -- SGD
    def _sgd(self, p, g, h, st):
        lr, mu, tau, wd = h["lr"], h["momentum"], h["dampening"], h["weight_decay"]
        bug = self.bug
        if wd and bug == "wd_decoupled":
            p.mul_(1 - lr * wd)
        elif wd and bug != "wd_after_momentum":
            g = g + wd * p
        if mu != 0:
            if bug == "velocity":  # CS231n: v = mu v - lr g ; p += v (nesterov: look-ahead form)
                v_prev = st.get("v", torch.zeros_like(p))
                v = mu * v_prev - lr * g
                st["v"] = v
                p.add_(-mu * v_prev + (1 + mu) * v if h["nesterov"] else v)
                return
            buf = st.get("buf")
            if buf is None and bug == "zero_buffer":
                buf = (1 - tau) * g
            elif buf is None:
                buf = g.clone()
            elif bug == "ema":
                buf = mu * buf + (1 - mu) * g
            else:
                buf = mu * buf + (1 - tau) * g
            st["buf"] = buf
            if h["nesterov"] and bug == "nesterov_ignored":
                g = buf
            elif h["nesterov"]:
                g = g + mu * buf
            else:
                g = buf
        if wd and bug == "wd_after_momentum":
            g = g + wd * p
        p.add_(-lr * g)

    # -- Adagrad
    def _adagrad(self, p, g, h, st):
        lr, decay, wd, eps = h["lr"], h["lr_decay"], h["weight_decay"], h["eps"]
        bug = self.bug
        if not st:
            st["t"] = 0
            init = 0.0 if bug == "no_initial_accumulator" else h["initial_accumulator_value"]
            st["sum"] = torch.full_like(p, init)
        st["t"] += 1
        t = self.global_step if bug == "global_step" else st["t"]
        if wd:
            g = g + wd * p
        if bug == "no_lr_decay":
            clr = lr
        elif bug == "lr_decay_t":
            clr = lr / (1 + t * decay)
        else:
            clr = lr / (1 + (t - 1) * decay)
        st["sum"] = st["sum"] + g * g
        if bug == "eps_inside":
            denom = (st["sum"] + eps).sqrt()
        elif bug == "eps_1e-8":
            denom = st["sum"].sqrt() + 1e-8
        else:
            denom = st["sum"].sqrt() + eps
        p.add_(-clr * g / denom)

    # -- RMSprop
    def _rmsprop(self, p, g, h, st):
        lr, alpha, eps, wd, mu = h["lr"], h["alpha"], h["eps"], h["weight_decay"], h["momentum"]
        bug = self.bug
        if not st:
            st["v"] = torch.zeros_like(p)
            st["m"] = torch.zeros_like(p)
            st["buf"] = torch.zeros_like(p)
        if wd:
            g = g + wd * p
        st["v"] = alpha * st["v"] + (1 - alpha) * g * g
        centered = h["centered"] and bug != "not_centered"
        if centered:
            st["m"] = alpha * st["m"] + (1 - alpha) * g
            var = st["v"] - st["m"] * st["m"]
        else:
            var = st["v"]
        avg = (var + eps).sqrt() if bug == "eps_inside" else var.sqrt() + eps
        if mu > 0 and bug == "lr_in_buffer":
            st["buf"] = mu * st["buf"] + lr * g / avg
            p.add_(-st["buf"])
        elif mu > 0:
            st["buf"] = mu * st["buf"] + g / avg
            p.add_(-lr * st["buf"])
        else:
            p.add_(-lr * g / avg)

    # -- Adam / AdamW
    def _adam(self, p, g, h, st, decoupled=False):
        lr, (b1, b2), eps, wd = h["lr"], h["betas"], h["eps"], h["weight_decay"]
        bug = self.bug
        if bug == "betas_hardcoded":
            b1, b2 = DEFAULTS["Adam"]["betas"]
        if bug == "adam_eps_hardcoded":
            eps = DEFAULTS["Adam"]["eps"]
        if not st:
            st["t"] = 0
            st["m"] = torch.zeros_like(p)
            st["v"] = torch.zeros_like(p)
            st["vmax"] = torch.zeros_like(p)
        st["t"] += 1
        t = self.global_step if bug == "global_step" else 1 if bug == "t_frozen" else st["t"]
        if bug == "bc_t_plus_1":
            t += 1
        if wd:
            swap = bug in ("coupled", "decoupled_in_adam")
            if decoupled != swap:
                if bug == "decay_no_lr":
                    p.mul_(1 - wd)
                elif bug != "decay_after":
                    p.mul_(1 - lr * wd)
            else:
                g = g + wd * p
        st["m"] = b1 * st["m"] + (1 - b1) * g
        st["v"] = b2 * st["v"] + (1 - b2) * g * g
        bc1 = 1 - b1**t if bug not in ("no_bias_correction", "only_bc2") else 1.0
        bc2 = 1 - b2**t if bug not in ("no_bias_correction", "only_bc1") else 1.0
        if h["amsgrad"] and bug == "amsgrad_vhat":
            st["vmax"] = torch.maximum(st["vmax"], st["v"] / bc2)
            vhat = st["vmax"]
        elif h["amsgrad"]:
            st["vmax"] = torch.maximum(st["vmax"], st["v"])
            vhat = st["vmax"] / bc2
        else:
            vhat = st["v"] / bc2
        denom = (vhat + eps).sqrt() if bug == "eps_inside" else vhat.sqrt() + eps
        p.add_(-(lr / bc1) * st["m"] / denom)
        if wd and decoupled and bug == "decay_after":
            p.mul_(1 - lr * wd)

    def _adamw(self, p, g, h, st):
        self._adam(p, g, h, st, decoupled=True)


def slip(kind, bug):
    def make(params, **hp):
        return _Slip(params, kind, bug, **hp)

    return make


SLIP_HINTS = {
    "zero_buffer": "the momentum buffer starts as a copy of the first gradient (buf = g at step 1), "
    "not as zeros followed by buf = momentum*buf + (1 - dampening)*g",
    "ema": "torch's momentum is buf = momentum*buf + (1 - dampening)*g, not an average with (1 - momentum)*g",
    "nesterov_ignored": "with nesterov=True the result equals plain momentum: after buf = momentum*buf + g, "
    "the step direction is g + momentum*buf with the UPDATED buffer (using the previous buffer, or "
    "just buf, gives plain momentum)",
    "velocity": "the CS231n velocity form v = mu*v - lr*g keeps the old lr inside v; torch keeps "
    "buf = mu*buf + g and multiplies by the CURRENT lr at each step",
    "wd_after_momentum": "weight decay must be added to the gradient BEFORE the momentum buffer: g = g + wd*p",
    "wd_decoupled": "SGD's weight_decay is an L2 term added to the gradient (g = g + wd*p), not a "
    "decoupled p *= 1 - lr*wd",
    "eps_inside": "eps belongs OUTSIDE the square root: divide by sqrt(v) + eps, not sqrt(v + eps), with v "
    "Adagrad's sum of squares, RMSprop's square_avg (minus grad_avg^2 when centered) or Adam's bias-corrected "
    "v (it shows where v is small, as for tiny gradients, or where eps is large)",
    "eps_1e-8": "use the eps hyperparameter from param_groups[0] (Adagrad's default is 1e-10), not a hard-coded 1e-8",
    "no_lr_decay": "lr_decay was ignored: clr = lr / (1 + (t - 1) * lr_decay)",
    "lr_decay_t": "off by one in Adagrad's lr_decay: clr = lr / (1 + (t - 1) * lr_decay), so the first step uses lr",
    "no_initial_accumulator": "initial_accumulator_value was ignored: the sum of squares starts at that value",
    "not_centered": "centered=True was ignored: keep grad_avg = alpha*grad_avg + (1 - alpha)*g and use "
    "sqrt(square_avg - grad_avg^2) + eps",
    "lr_in_buffer": "with momentum, RMSprop's buffer is buf = momentum*buf + g/avg and the step is "
    "p -= lr*buf with the CURRENT lr (putting lr inside buf is wrong after an lr change)",
    "no_bias_correction": "Adam without bias correction: divide the step by 1 - beta1^t and v by 1 - beta2^t",
    "only_bc1": "only the first moment is bias-corrected: v needs dividing by 1 - beta2^t too "
    "(the first step should move each coordinate by about lr)",
    "only_bc2": "only the second moment is bias-corrected: m needs dividing by 1 - beta1^t too "
    "(the first step should move each coordinate by about lr)",
    "betas_hardcoded": "use the betas passed to the constructor, read from self.param_groups[0]['betas'] at "
    "every step, not hard-coded (0.9, 0.999): this case passed other betas and your steps match the default ones",
    "adam_eps_hardcoded": "use the eps passed to the constructor, read from self.param_groups[0]['eps'] at every "
    "step, not a hard-coded 1e-8: this case passed another eps and your steps match eps = 1e-8",
    "bc_t_plus_1": "the bias correction is off by one step: on the first step t = 1, so divide by 1 - beta1^1 and "
    "1 - beta2^1 (not beta^2, as with t + 1 or a step count that starts at 1 before it is incremented); start "
    "the count at 0 and increment it once before computing 1 - beta^t",
    "t_frozen": "the step count t never grows: increment self.state[p]['step'] at every step, so the bias "
    "corrections 1 - beta^t approach 1",
    "coupled": "AdamW decays the weights directly (p *= 1 - lr*wd) and keeps the decay out of m and v; "
    "adding wd*p to the gradient is Adam's L2 penalty",
    "decoupled_in_adam": "Adam's weight_decay is an L2 penalty added to the GRADIENT (g = g + wd*p), "
    "not AdamW's decoupled decay",
    "decay_no_lr": "AdamW's decay is p *= 1 - lr*wd: multiply weight_decay by the learning rate",
    "decay_after": "AdamW applies the decay p *= 1 - lr*wd BEFORE the Adam update, not after it",
    "amsgrad_vhat": "AMSGrad keeps the running max of the RAW v (exp_avg_sq) and bias-corrects the max, "
    "not the max of the bias-corrected v",
    "global_step": "keep the step count per parameter (self.state[p]['step']): a parameter whose grad "
    "is None on a step must not advance its t",
    "none_as_zero": "a parameter whose grad is None must be skipped entirely (no update, no state change), "
    "not treated as a zero gradient",
    "frozen": "a hyperparameter changed in param_groups[0] between steps but step() kept the old value: "
    "read lr (and the other hyperparameters) from self.param_groups[0] at every step",
    "shared_state": "keep separate state for every parameter (self.state[p]); the parameters must not "
    "share buffers",
}


# ----------------------------------------------------------------------------- helpers


def describe_hparams(name, hparams, changes=()):
    inner = ", ".join(f"{k}={v!r}" for k, v in hparams.items())
    text = f"{name}({inner})"
    for t, upd in changes:
        text += "; before step " + str(t + 1) + " " + ", ".join(f"{k} set to {v!r}" for k, v in upd.items())
    return text


_ERROR_HINTS = [
    ("leaf Variable", "update the parameters in place inside `with torch.no_grad():` "
     "(p.add_(...) on a leaf that requires grad is not allowed outside it)"),
    ("must match the size", "keep separate state for every parameter in self.state[p]: "
     "the parameters have different shapes"),
    ("broadcast shape", "keep separate state for every parameter in self.state[p]: "
     "the parameters have different shapes"),
    ("same device", "create state tensors with torch.zeros_like(p) so they live on p's device"),
    ("expected scalar type", "create state tensors with torch.zeros_like(p) so they have p's dtype"),
]


_NONE_HINT = ("NoneType", "skip every parameter whose .grad is None (continue to the next one)")
_ZERO_T_HINT = ("division by zero", "increment the step count t BEFORE computing the bias corrections "
                "1 - beta^t (t is 1 on the first step)")


def run_student(check, student, name, problem, params0, steps, hparams, changes=(), check_grads=False,
                none_grads=False):
    """Run the student's optimizer beside its object; known crashes get a hint."""
    try:
        out = student.harness.run_optimizer(
            getattr(student.optimizers, name), params0, problem, steps,
            hparams=dict(hparams), changes=list(changes), check_grads=check_grads,
        )
    except StudentError as err:
        hints = ([_NONE_HINT] if none_grads else []) + ([_ZERO_T_HINT] if name.startswith("Adam") else [])
        for needle, hint in hints + _ERROR_HINTS:
            if needle.lower() in err.exc_message.lower():
                check.fail(err.message, hint)
        raise
    if not isinstance(out, dict) or not isinstance(out.get("trajectory"), list):
        check.fail(f"{name}: the optimizer run returned no trajectory")
    return out


def run_reference(reference, name, problem, params0, steps, hparams, changes=(), check_grads=False):
    return harness.run_optimizer(
        getattr(reference.optimizers, name), params0, problem, steps,
        hparams=dict(hparams), changes=list(changes), check_grads=check_grads,
    )


def _same_layout(traj, ref):
    """Every step holds tensors of the reference's shape, dtype and device."""
    if not isinstance(traj, list) or len(traj) != len(ref):
        return False
    for a_step, e_step in zip(traj, ref):
        if not isinstance(a_step, list) or len(a_step) != len(e_step):
            return False
        for a, e in zip(a_step, e_step):
            if not isinstance(a, torch.Tensor) or a.shape != e.shape or a.dtype != e.dtype or a.device != e.device:
                return False
    return True


def _stacked(traj):
    return torch.cat([torch.cat([p.detach().reshape(-1) for p in step]) for step in traj])


def _flat(traj):
    """The whole trajectory as one float64 CPU vector (None if it is malformed)."""
    try:
        return torch.cat([torch.cat([p.detach().to("cpu", F64).reshape(-1) for p in step]) for step in traj])
    except Exception:
        return None


def check_trajectory(check, got, want, label, slips=(), mistakes=(), hint=None, rerun=None, later_hint=None):
    """Compare two trajectories step by step; report the first step that is off.

    ``slips`` names known slips (``_Slip`` bugs) whose trajectory, from ``rerun(bug)``,
    the student's may match; extra ``mistakes`` are checked first.
    """
    traj, ref = got["trajectory"], want["trajectory"]
    if len(traj) != len(ref):
        check.fail(f"{label}: the run has {len(traj)} steps instead of {len(ref)}")
    # float32: a 1-ulp difference in a parameter changes the next gradient, and 30 steps of
    # feedback (Adam near a minimum is almost sign-based) can grow it to a few 1e-6; the
    # absolute tolerance is widened to 2e-5 (rtol stays 1e-5). The slips named below move
    # parameters by 1e-4 or more. float64 keeps its default tolerance.
    scale = F32_SCALE if ref[0][0].dtype == torch.float32 else 1.0
    tol = tolerance_for(ref[0][0].dtype).scaled(scale)
    if _same_layout(traj, ref) and compare(_stacked(traj), _stacked(ref), tol).ok:
        check.close(_stacked(traj), _stacked(ref), what=label, scale=scale)  # records the metrics
        return

    flat_traj, flat_ref = _flat(traj), _flat(ref)

    def matches(bug):
        """The student's path follows this slip's, which really differs from the reference's."""
        def when(_out):
            other = _flat(rerun(bug)["trajectory"])
            if flat_traj is None or other is None:
                return False
            slip_vs_ref = float((other - flat_ref).abs().max())
            student_vs_slip = float((flat_traj - other).abs().max())
            student_vs_ref = float((flat_traj - flat_ref).abs().max())
            return (not compare(other, flat_ref, tol).ok and student_vs_slip < 0.1 * student_vs_ref
                    and compare(flat_traj, other, type(tol)(1e-4, tol.atol)).ok and slip_vs_ref > 0)

        return Mistake(SLIP_HINTS[bug], when=when)

    def whole(m):
        """A trajectory-level ``value=`` mistake, checked against the whole trajectory."""
        if m.value is None:
            return m
        loose = type(tol)(m.rtol or tol.rtol, tol.atol)
        return Mistake(m.hint, when=lambda _out: not compare(m.value, ref, tol).ok and compare(traj, m.value, loose).ok)

    named = [whole(m) for m in mistakes] + [matches(bug) for bug in slips]
    for k, (a_step, e_step) in enumerate(zip(traj, ref)):
        if not isinstance(a_step, list) or len(a_step) != len(e_step):
            check.fail(f"{label}: step {k + 1} returned a wrong number of parameters")
        for i, (a, e) in enumerate(zip(a_step, e_step)):
            if not compare(a, e, tol).ok:
                if later_hint and i > 0:  # an earlier parameter of this step was right: cross-talk
                    named = [Mistake(later_hint, when=lambda _out: True)] + named
                shape = "(" + ", ".join(map(str, e.shape)) + ("," if e.dim() == 1 else "") + ")"
                check.close(
                    a, e, scale=scale,
                    what=f"{label}: parameter {i} {shape} after step {k + 1} of {len(ref)}",
                    mistakes=named, hint=hint,
                )


_REFERENCE_RUNS: dict = {}
_SLIP_RUNS: dict = {}

# Slips worth naming for each optimizer, tried after a test's own list (most likely first).
COMMON_SLIPS = ("frozen", "global_step", "none_as_zero")
DEFAULT_SLIPS = {
    "SGD": ("zero_buffer", "ema", "nesterov_ignored", "wd_after_momentum", "wd_decoupled", "velocity"),
    "Adagrad": ("no_lr_decay", "lr_decay_t", "no_initial_accumulator", "eps_inside", "eps_1e-8"),
    "RMSprop": ("eps_inside", "not_centered", "lr_in_buffer"),
    "Adam": ("no_bias_correction", "only_bc1", "only_bc2", "t_frozen", "eps_inside", "decoupled_in_adam",
             "amsgrad_vhat", "bc_t_plus_1", "betas_hardcoded", "adam_eps_hardcoded"),
    "AdamW": ("no_bias_correction", "only_bc1", "only_bc2", "t_frozen", "eps_inside", "coupled", "decay_no_lr",
              "decay_after", "amsgrad_vhat", "bc_t_plus_1", "betas_hardcoded", "adam_eps_hardcoded"),
}


def optimizer_case(check, student, reference, gen, device, dtype, name, hparams, *, steps=STEPS,
                   changes=(), slips=(), tiny=False, none=None, same_shapes=False, shapes=None,
                   mistakes=(), label_extra="", hint=None, later_hint=None):
    key = (gen.initial_seed(), name, repr(hparams), repr(changes), steps, str(device), str(dtype))
    problem = Feedback(gen, shapes or random_shapes(gen, same_shapes), tiny=tiny, none=none)
    params0 = problem.params0(dtype, device)
    field = problem.spec(steps)
    got = run_student(check, student, name, field, params0, steps, hparams, changes, none_grads=none is not None)
    want = _REFERENCE_RUNS.get(key)
    if want is None:  # the same for every submission in a run: computed once
        want = _REFERENCE_RUNS[key] = run_reference(reference, name, field, params0, steps, hparams, changes)

    def rerun(bug):  # only when the student's run is off; cached across submissions
        if (key, bug) not in _SLIP_RUNS:
            _SLIP_RUNS[key, bug] = harness.run_optimizer(slip(name, bug), params0, field, steps,
                                                         hparams=dict(hparams), changes=list(changes))
        return _SLIP_RUNS[key, bug]

    if callable(mistakes):
        mistakes = mistakes(problem, params0)
    label = describe_hparams(name, hparams, changes) + label_extra
    slips = tuple(dict.fromkeys(tuple(slips) + DEFAULT_SLIPS[name] + COMMON_SLIPS))
    check_trajectory(check, got, want, label, slips, mistakes, hint, rerun, later_hint)


def cases(*configs):
    """Parametrize over (optimizer, hyperparameters), alternating float32 and float64.

    Each group sees both dtypes without running every configuration twice (every run
    costs one round trip to the sandbox per step).
    """
    dtypes = [torch.float32, torch.float64]
    rows = [(n, h, dtypes[k % 2]) for k, (n, h) in enumerate(configs)]
    if len(configs) == 1:
        rows.append((configs[0][0], configs[0][1], torch.float64))
    ids = [describe_hparams(n, h).replace(" ", "") + "-" + str(d).replace("torch.", "") for n, h, d in rows]
    return pytest.mark.parametrize("name,hparams,dtype", rows, ids=ids)


# ----------------------------------------------------------------------------- SGD


@cases(("SGD", dict(lr=0.05)), ("SGD", dict(lr=0.2)))
def test_sgd_plain(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams)


@cases(
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.03, momentum=0.8, dampening=0.5)),
)
def test_sgd_momentum(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams,
                   slips=("zero_buffer", "ema"))


@cases(("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)), ("SGD", dict(lr=0.02, momentum=0.5, nesterov=True)))
def test_sgd_nesterov(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams,
                   slips=("nesterov_ignored", "ema"))


@cases(
    ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.03, momentum=0.9, nesterov=True, weight_decay=0.2)),
)
def test_sgd_weight_decay(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams,
                   slips=("wd_after_momentum", "wd_decoupled", "zero_buffer", "nesterov_ignored"))


# ----------------------------------------------------------------------------- Adagrad


@cases(("Adagrad", dict(lr=0.1)), ("Adagrad", dict()))
def test_adagrad_basic(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams, slips=("eps_inside",))


@cases(("Adagrad", dict(lr=0.1, lr_decay=0.05)), ("Adagrad", dict(lr=0.2, lr_decay=0.3, eps=1e-3)))
def test_adagrad_lr_decay(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams,
                   slips=("no_lr_decay", "lr_decay_t", "eps_1e-8"))


@cases(
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.3)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=2.0, eps=0.1)),
)
def test_adagrad_initial_accumulator(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams,
                   slips=("no_initial_accumulator", "eps_inside", "eps_1e-8"))


@cases(("Adagrad", dict(lr=0.1, weight_decay=0.1)), ("Adagrad", dict(lr=0.1, weight_decay=0.5, lr_decay=0.1)))
def test_adagrad_weight_decay(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams,
                   slips=("no_lr_decay", "lr_decay_t"))


# ----------------------------------------------------------------------------- RMSprop


@cases(("RMSprop", dict(lr=0.01)), ("RMSprop", dict(lr=0.02, alpha=0.9)), ("RMSprop", dict()))
def test_rmsprop_basic(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams, slips=("eps_inside",))


@cases(("RMSprop", dict(lr=0.01, momentum=0.9)), ("RMSprop", dict(lr=0.005, alpha=0.9, momentum=0.5)))
def test_rmsprop_momentum(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams)


@cases(
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.005, alpha=0.9, centered=True, momentum=0.5)),
)
def test_rmsprop_centered(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams, slips=("not_centered",))


@cases(("RMSprop", dict(lr=0.01, weight_decay=0.1)), ("RMSprop", dict(lr=0.01, weight_decay=0.3, momentum=0.5)))
def test_rmsprop_weight_decay(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams)


# ----------------------------------------------------------------------------- Adam / AdamW

ADAM_SLIPS = ("no_bias_correction", "only_bc1", "only_bc2", "eps_inside")


@cases(
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99))),
    ("Adam", dict()),
    ("Adam", dict(lr=0.03, eps=1e-3)),
)
def test_adam_basic(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams, slips=ADAM_SLIPS)


def _first_step_formulas(name, p0, g, hp):
    """What one step from zero state gives without (part of) the bias correction."""
    lr, (b1, b2), eps, wd = hp["lr"], hp.get("betas", (0.9, 0.999)), hp.get("eps", 1e-8), hp.get(
        "weight_decay", DEFAULTS[name]["weight_decay"])
    out = {}
    for bug, (c1, c2) in {"no_bias_correction": (1 - b1, 1 - b2), "only_bc1": (1.0, 1 - b2),
                          "only_bc2": (1 - b1, 1.0)}.items():
        step = []
        for p, gi in zip(p0, g):
            p64, g64 = p.to("cpu", F64), gi.to("cpu", F64)
            if name == "AdamW":
                base = p64 * (1 - lr * wd)
            else:
                g64 = g64 + wd * p64
                base = p64
            step.append((base - lr * c1 * g64 / ((c2 * g64 * g64).sqrt() + eps)).to(p.dtype).to(p.device))
        out[bug] = [step]
    return out


@cases(
    ("Adam", dict(lr=0.1)),
    ("Adam", dict(lr=0.01, betas=(0.5, 0.9))),
    ("AdamW", dict(lr=0.1)),
    ("AdamW", dict(lr=0.05, weight_decay=0.5)),
)
def test_adam_first_step(student, reference, check, gen, device, dtype, name, hparams):
    """One step from zero state moves every coordinate by about lr (times sign(g))."""
    def mistakes(problem, params0):
        formulas = _first_step_formulas(name, params0, problem(params0, 0), hparams)
        found = [Mistake(SLIP_HINTS[bug], value=val, rtol=1e-4) for bug, val in formulas.items()]
        zero_t = ("the first step divided by zero: t must be 1 on the first step, so increment the "
                  "step count BEFORE computing the bias corrections 1 - beta^t")
        return found + [Mistake(zero_t, problem="nan"), Mistake(zero_t, problem="inf")]

    optimizer_case(check, student, reference, gen, device, dtype, name, hparams, steps=1,
                   mistakes=mistakes, label_extra=": a single step from zero state",
                   slips=("coupled", "decoupled_in_adam", "decay_no_lr", "decay_after"))


@cases(("Adam", dict(lr=0.01, weight_decay=0.1)), ("Adam", dict(lr=0.05, weight_decay=0.5, betas=(0.8, 0.99))))
def test_adam_weight_decay(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams,
                   slips=("decoupled_in_adam",) + ADAM_SLIPS,
                   hint="Adam's weight_decay is an L2 penalty added to the gradient: g = g + wd*p before m and v")


@cases(("Adam", dict(lr=0.02, amsgrad=True)), ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)))
def test_adam_amsgrad(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams,
                   slips=("amsgrad_vhat",) + ADAM_SLIPS)


@cases(("AdamW", dict(lr=0.05)), ("AdamW", dict(lr=0.1, betas=(0.8, 0.99))))
def test_adamw_default_decay(student, reference, check, gen, device, dtype, name, hparams):
    """AdamW's default weight_decay is 1e-2 (Adam's is 0)."""
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams,
                   slips=("coupled", "decay_no_lr", "decay_after") + ADAM_SLIPS)


@cases(
    ("AdamW", dict(lr=0.02, weight_decay=0.1)),
    ("AdamW", dict(lr=0.1, weight_decay=0.5)),
    ("AdamW", dict(lr=0.03, weight_decay=0.2, betas=(0.85, 0.995), eps=1e-3)),
)
def test_adamw_weight_decay(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams,
                   slips=("coupled", "decay_no_lr", "decay_after") + ADAM_SLIPS)


@cases(("AdamW", dict(lr=0.05, weight_decay=0.2, amsgrad=True)), ("AdamW", dict(lr=0.02, amsgrad=True)))
def test_adamw_amsgrad(student, reference, check, gen, device, dtype, name, hparams):
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams,
                   slips=("amsgrad_vhat", "coupled", "decay_after") + ADAM_SLIPS)


# ----------------------------------------------------------------------------- cross-cutting rules


@cases(
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("AdamW", dict(lr=0.02)),
)
def test_tiny_gradients(student, reference, check, gen, device, dtype, name, hparams):
    """Coordinates with gradients of 1e-6 and exactly 0 expose where eps goes."""
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams, tiny=True,
                   slips=("eps_inside", "eps_1e-8"),
                   label_extra=" (some gradient entries are scaled to 1e-6 or exactly 0)")


def _lr_changes(lr):
    return [(10, {"lr": lr * 0.3}), (20, {"lr": lr * 2.0})]


@cases(
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("Adam", dict(lr=0.02)),
    ("AdamW", dict(lr=0.05, weight_decay=0.2)),
)
def test_lr_change(student, reference, check, gen, device, dtype, name, hparams):
    """A learning rate changed in param_groups[0] between steps takes effect at once."""
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams,
                   changes=_lr_changes(hparams["lr"]), slips=("frozen", "velocity", "lr_in_buffer"))


@pytest.mark.parametrize(
    "name,hparams,change,dtype",
    [
        ("SGD", dict(lr=0.05, momentum=0.9), {"momentum": 0.3}, torch.float32),
        ("RMSprop", dict(lr=0.01), {"alpha": 0.5}, torch.float64),
        ("Adam", dict(lr=0.02), {"betas": (0.5, 0.9)}, torch.float32),
        ("AdamW", dict(lr=0.05, weight_decay=0.1), {"weight_decay": 0.8}, torch.float64),
    ],
    ids=["SGD-momentum-float32", "RMSprop-alpha-float64", "Adam-betas-float32", "AdamW-weight_decay-float64"],
)
def test_hyperparameter_change(student, reference, check, gen, device, dtype, name, hparams, change):
    """Other hyperparameters changed between steps take effect at once too."""
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams,
                   changes=[(12, change)], slips=("frozen",))


def _none_pattern(i, t):
    """Parameter 1 has no gradient on every third step; parameter 2 never has one."""
    return i == 2 or (i == 1 and t % 3 == 1)


@cases(
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adam", dict(lr=0.02)),
    ("AdamW", dict(lr=0.05, weight_decay=0.2)),
)
def test_none_grads(student, reference, check, gen, device, dtype, name, hparams):
    """A parameter whose .grad is None is skipped: no update, no state, no step count."""
    shapes = random_shapes(gen) + [(2,)]
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams, shapes=shapes, steps=20,
                   none=_none_pattern, slips=("none_as_zero", "global_step"),
                   label_extra=" (parameter 1 has grad None on every third step, parameter 2 always)")


@cases(
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("Adagrad", dict(lr=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adam", dict(lr=0.02, amsgrad=True)),
    ("AdamW", dict(lr=0.05)),
)
def test_state_per_parameter(student, reference, check, gen, device, dtype, name, hparams):
    """Two parameters of the same shape: state shared between them shows up as cross-talk."""
    optimizer_case(check, student, reference, gen, device, dtype, name, hparams, same_shapes=True, steps=10,
                   later_hint=SLIP_HINTS["shared_state"],
                   label_extra=" (two parameters of the same shape)")


@cases(
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, weight_decay=0.1, momentum=0.5, centered=True)),
    ("Adam", dict(lr=0.02, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.02, weight_decay=0.1)),
)
def test_step_side_effects(student, reference, check, gen, device, dtype, name, hparams):
    """step() moves every parameter, must leave p.grad alone and must not record an
    autograd graph. The moves are seen in the returned values; p.grad is judged from the
    grader's reading of the source (grader.mutation_check), and what the worker reports
    about p.grad and grad_fn only becomes a note."""
    problem = Feedback(gen, random_shapes(gen))
    params0 = problem.params0(dtype, device)
    got = run_student(check, student, name, problem.spec(5), params0, 5, hparams, check_grads=True)
    label = describe_hparams(name, hparams)
    last = got["trajectory"][-1] if got["trajectory"] else []
    moved = isinstance(last, list) and len(last) == len(params0) and all(
        isinstance(a, torch.Tensor) and a.shape == b.shape and not torch.equal(a.detach().cpu(), b.cpu())
        for a, b in zip(last, params0))
    check.that(moved, f"{label}: after 5 steps the parameters have not all changed",
               "step() must update every parameter that has a gradient, in place (p.add_(...) under no_grad)")
    # scored from the grader's reading of the source; the worker's own report only adds notes
    check.source(getattr(student.optimizers, name).findings("modifies_grad"))
    if got.get("grads_modified") is not False:
        check.note(f"{label}: the worker reports that step() changed p.grad (not scored): never modify p.grad; "
                   "write g = p.grad + wd * p (a new tensor)")
    if got.get("graph_built") is not False:
        check.note(f"{label}: the worker reports a parameter with autograd history after step() (not scored): "
                   "update the parameters in place inside `with torch.no_grad():`")


ZERO_GRAD_HINT = ("zero_grad must set .grad to None (not zeros) for every parameter: p.grad = None, as torch's "
                  "default set_to_none=True; a zero tensor still counts as a gradient, so the next step() updates "
                  "the parameter (momentum, Adam's moments) instead of skipping it")


def _zero_grad_pattern(i, t):
    """Parameter 1 has no gradient on the last of the three steps, so it is None before zero_grad()."""
    return i == 1 and t == 2


@cases(("SGD", dict(lr=0.05, momentum=0.9)), ("Adam", dict(lr=0.02)))
def test_zero_grad(student, reference, check, gen, device, dtype, name, hparams):
    """zero_grad() sets every .grad to None, so a step() right after it changes nothing.

    Three steps first (the parameters must move, so the stub's step() cannot earn this),
    then zero_grad() and one more step() with no new gradients. The grader reads each
    parameter's .grad as the run returns it (None or a tensor) and the parameters after the
    extra step, and compares both with the reference's run."""
    problem = Feedback(gen, random_shapes(gen), none=_zero_grad_pattern)
    params0 = problem.params0(dtype, device)
    label = describe_hparams(name, hparams) + ": three steps, then zero_grad() and one more step()"
    try:
        got = student.harness.run_zero_grad(getattr(student.optimizers, name), params0, problem.spec(3), 3,
                                            hparams=dict(hparams))
    except StudentError as err:
        if "nonetype" in err.exc_message.lower():  # p.grad.zero_() on a parameter whose .grad is None
            check.fail(err.message, ZERO_GRAD_HINT)
        raise
    want = harness.run_zero_grad(getattr(reference.optimizers, name), params0, problem.spec(3), 3,
                                 hparams=dict(hparams))
    n = len(params0)
    if not isinstance(got, dict) or not all(isinstance(got.get(k), list) and len(got[k]) == n
                                            for k in ("before", "grads", "after")):
        check.fail(f"{label}: the run did not return one entry per parameter")
    before = got["before"]
    moved = all(isinstance(a, torch.Tensor) and a.shape == b.shape and not torch.equal(a.detach().cpu(), b.cpu())
                for a, b in zip(before, params0))
    check.that(moved, f"{label}: the three steps before zero_grad() did not change every parameter",
               "step() must update every parameter that has a gradient, in place (p.add_(...) under no_grad)")
    for i, g in enumerate(got["grads"]):
        if g is None:
            continue
        kind = ("a tensor of zeros" if isinstance(g, torch.Tensor) and not bool(g.detach().ne(0).any())
                else "a tensor" if isinstance(g, torch.Tensor) else f"a {type(g).__name__}")
        check.fail(f"{label}: after zero_grad(), parameter {i}'s .grad is {kind} instead of None", ZERO_GRAD_HINT)
    for i, (a, b, e) in enumerate(zip(got["after"], before, want["after"])):
        if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or not torch.equal(a, b):
            check.close(a, e, what=f"{label}: parameter {i} after the step() that follows zero_grad() "
                                   f"(every .grad is None: nothing may change)", hint=ZERO_GRAD_HINT)


# ----------------------------------------------------------------------------- on the GPU

DEVICE_CASES = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.01)),
    ("AdamW", dict(lr=0.05)),
    ("clip_grad_norm_", dict(max_norm=0.5)),
    ("clip_grad_norm_", dict(max_norm=0.5, norm_type=float("inf"))),
    ("clip_grad_value_", dict(clip_value=0.3)),
]


@pytest.mark.parametrize("name,hparams", DEVICE_CASES,
                         ids=[n + ("-inf" if h.get("norm_type") else "") for n, h in DEVICE_CASES])
def test_on_device(student, reference, check, gen, name, hparams):
    """Four steps of each optimizer, and each clipping function, on parameters and
    gradients on the simulated GPU: state made with torch.zeros_like(p) (not
    torch.zeros(p.shape)), nothing moved to the CPU, and the same trajectory (or clipped
    gradients and total norm) as the reference's."""
    if name.startswith("clip"):
        grads = [torch.randn(3, 4, generator=gen, dtype=torch.float64), None,
                 torch.randn(5, generator=gen, dtype=torch.float64)]
        got = on_device(check, student, student.harness.run_clipping, getattr(student.optimizers, name), grads,
                        dict(hparams), what=name)
        want = harness.run_clipping(getattr(reference.optimizers, name), grads, dict(hparams))
        for key in ("result", "grads"):
            check.close(got.get(key) if isinstance(got, dict) else None, want[key],
                        what=f"{name} on the simulated GPU: {'the value returned' if key == 'result' else key}")
        return
    steps = 4
    problem = Feedback(gen, random_shapes(gen))
    params0 = problem.params0(torch.float64, "cpu")  # float64: the case is about devices, not rounding
    field = problem.spec(steps)
    got = on_device(check, student, student.harness.run_optimizer, getattr(student.optimizers, name), params0, field,
                    steps, dict(hparams), what=name)
    want = run_reference(reference, name, field, params0, steps, hparams)
    check.close(got.get("trajectory") if isinstance(got, dict) else None, want["trajectory"],
                what=f"{describe_hparams(name, hparams)} on the simulated GPU: the parameters after each step")
