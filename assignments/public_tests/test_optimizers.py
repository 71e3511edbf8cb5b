"""Public self-check for optimizers.py: a few basic cases per function.

Expected values come from PyTorch itself (torch.optim with foreach=False, torch.nn.utils
clipping, and the schedule formulas). The hidden suite tests many more cases: every
option of every optimizer, tiny and zero gradients, learning-rate changes between
steps, parameters without gradients, schedules past their horizon, and convergence.
"""

from __future__ import annotations

import math

import pytest
import torch

from grader import harness

pytestmark = pytest.mark.topic("optimizers")

F64 = torch.float64


class Feedback:
    """Gradients that depend on the parameters: g = c (x - a) + 0.5 sin(3x), per parameter."""

    def __init__(self, gen, shapes, none_every=None):
        self.target = [torch.randn(s, generator=gen, dtype=F64) for s in shapes]
        self.curv = [0.2 + 2 * torch.rand(s, generator=gen, dtype=F64) for s in shapes]
        self.start = [torch.randn(s, generator=gen, dtype=F64) for s in shapes]
        self.none_every = none_every

    def params0(self, dtype, device):
        return [s.to(dtype).to(device) for s in self.start]

    def __call__(self, params, t):
        out = []
        for i, p in enumerate(params):
            if self.none_every and i == 1 and t % self.none_every == 1:
                out.append(None)
                continue
            x = p.detach().to("cpu", F64)
            g = self.curv[i] * (x - self.target[i]) + 0.5 * torch.sin(3 * x)
            out.append(g.to(p.dtype).to(p.device))
        return out


def compare_with_torch(student, check, gen, device, dtype, name, hparams, steps=20, changes=(), none_every=None):
    problem = Feedback(gen, [(3, 4), (5,)], none_every)
    params0 = problem.params0(dtype, device)
    got = student.harness.run_optimizer(
        getattr(student.optimizers, name), params0, problem, steps, hparams=hparams, changes=list(changes)
    )
    want = harness.run_optimizer(
        getattr(torch.optim, name), params0, problem, steps, hparams=dict(hparams, foreach=False),
        changes=list(changes),
    )
    # float32: rounding differences feed back through the gradients, so allow 2e-5 absolute
    check.close(got["trajectory"], want["trajectory"], scale=20.0 if dtype == torch.float32 else 1.0,
                what=f"{name}({hparams}): the parameters after every step [step][parameter]")


@pytest.mark.parametrize("hparams", [
    dict(lr=0.05), dict(lr=0.05, momentum=0.9, dampening=0.5),
    dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
], ids=["plain", "momentum", "nesterov-wd"])
def test_sgd(student, check, gen, device, dtype, hparams):
    compare_with_torch(student, check, gen, device, dtype, "SGD", hparams)


@pytest.mark.parametrize("hparams", [dict(lr=0.1), dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.3)],
                         ids=["plain", "options"])
def test_adagrad(student, check, gen, device, dtype, hparams):
    compare_with_torch(student, check, gen, device, dtype, "Adagrad", hparams)


@pytest.mark.parametrize("hparams", [dict(lr=0.01), dict(lr=0.01, momentum=0.5, centered=True)],
                         ids=["plain", "centered-momentum"])
def test_rmsprop(student, check, gen, device, dtype, hparams):
    compare_with_torch(student, check, gen, device, dtype, "RMSprop", hparams)


@pytest.mark.parametrize("hparams", [dict(lr=0.01), dict(lr=0.02, weight_decay=0.1, amsgrad=True)],
                         ids=["plain", "wd-amsgrad"])
def test_adam(student, check, gen, device, dtype, hparams):
    compare_with_torch(student, check, gen, device, dtype, "Adam", hparams)


@pytest.mark.parametrize("hparams", [dict(lr=0.05), dict(lr=0.05, weight_decay=0.3)], ids=["default-wd", "wd"])
def test_adamw(student, check, gen, device, dtype, hparams):
    compare_with_torch(student, check, gen, device, dtype, "AdamW", hparams)


@pytest.mark.parametrize("name,lr", [("SGD", 0.05), ("Adam", 0.02)])
def test_lr_change(student, check, gen, device, dtype, name, lr):
    """Changing param_groups[0]['lr'] between steps takes effect at once."""
    hparams = dict(lr=lr, momentum=0.9) if name == "SGD" else dict(lr=lr)
    compare_with_torch(student, check, gen, device, dtype, name, hparams, changes=[(8, {"lr": lr * 0.3})])


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_none_grads(student, check, gen, device, dtype, name):
    """Parameter 1 has no gradient on every third step: it must be skipped."""
    hparams = dict(lr=0.05, momentum=0.9) if name == "SGD" else dict(lr=0.02)
    compare_with_torch(student, check, gen, device, dtype, name, hparams, none_every=3)


SCHEDULES = [
    ("step_decay", (0.1,), dict(step_size=3, gamma=0.5), lambda t: 0.1 * 0.5 ** (t // 3)),
    ("exponential_decay", (0.1,), dict(gamma=0.9), lambda t: 0.1 * 0.9**t),
    ("linear_decay", (0.1,), dict(lr_end=0.01, total_steps=5),
     lambda t: 0.01 if t >= 5 else (1 - t / 5) * 0.1 + t / 5 * 0.01),
    ("power_decay", (0.1,), dict(s=4.0, c=-0.5), lambda t: 0.1 * (1 + t / 4) ** -0.5),
    ("cosine_decay", (0.1,), dict(total_steps=6, lr_min=0.001),
     lambda t: 0.001 if t >= 6 else 0.001 + 0.099 * (1 + math.cos(math.pi * t / 6)) / 2),
    ("inverse_sqrt_warmup", (64,), dict(warmup_steps=4),
     lambda t: 64**-0.5 * min((t + 1) ** -0.5, (t + 1) * 4**-1.5)),
]


@pytest.mark.parametrize("fn,args,kwargs,formula", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_schedules(student, check, fn, args, kwargs, formula):
    for t in [0, 1, 2, 3, 4, 5, 6, 7, 12]:
        check.close(getattr(student.optimizers, fn)(t, *args, **kwargs), formula(t))


@pytest.mark.parametrize("max_norm,norm_type", [(0.5, 2.0), (100.0, 2.0), (0.3, math.inf)],
                         ids=["clipped", "below", "inf"])
def test_clip_grad_norm(student, check, gen, device, dtype, max_norm, norm_type):
    grads = [torch.randn(s, generator=gen, dtype=F64).to(dtype).to(device) for s in [(3, 4), (5,)]]
    kwargs = dict(max_norm=max_norm, norm_type=norm_type)
    got = student.harness.run_clipping(student.optimizers.clip_grad_norm_, grads, kwargs)
    want = harness.run_clipping(torch.nn.utils.clip_grad_norm_, grads, dict(kwargs, foreach=False))
    check.close(got["result"], want["result"], what="the total norm returned")
    check.close(got["grads"], want["grads"], what="the gradients after clipping")


def test_clip_grad_value(student, check, gen, device, dtype):
    grads = [torch.randn(s, generator=gen, dtype=F64).to(dtype).to(device) for s in [(3, 4), (5,)]]
    got = student.harness.run_clipping(student.optimizers.clip_grad_value_, grads, dict(clip_value=0.5))
    want = harness.run_clipping(torch.nn.utils.clip_grad_value_, grads, dict(clip_value=0.5, foreach=False))
    check.close(got["grads"], want["grads"], what="the gradients after clip_grad_value_")
