"""Proof tests for reference/optimizers.py: torch.optim / torch.nn.utils are the oracle."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from reference import optimizers as ref

DTYPES = [torch.float64, torch.float32]
# float64: the reference replays torch's single-tensor op sequence, so 120-step
# trajectories agree to rounding. float32: rounding differences (if any) are ~1e-7
# per step and are fed back through the gradient function for 120 steps.
TOL = {
    torch.float64: dict(rtol=1e-10, atol=1e-12),
    torch.float32: dict(rtol=1e-5, atol=1e-6),
}

N_STEPS = 120
LR_CHANGE_AT = 40
HYPER_CHANGE_AT = 80


# ----------------------------------------------------------------------------- helpers


class Problem:
    """Deterministic problem: 4 parameters, grads a function of the parameter values.

    p0 (3, 4) and p1 (5,) get a grad at every step, with some coordinates scaled by
    1e-6 and some by exactly 0; p2 (2,) has grad None on every third step; p3 (4,)
    never gets a grad.
    """

    SHAPES = [(3, 4), (5,), (2,), (4,)]

    def __init__(self, dtype: torch.dtype, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.dtype = dtype
        self.init = [torch.randn(s, generator=g, dtype=torch.float64) for s in self.SHAPES]
        self.target = [torch.randn(s, generator=g, dtype=torch.float64) for s in self.SHAPES]
        self.curv = [
            0.2 + 2.0 * torch.rand(s, generator=g, dtype=torch.float64) for s in self.SHAPES
        ]
        self.scale = [torch.ones(s, dtype=torch.float64) for s in self.SHAPES]
        self.scale[0][0, 0] = 1e-6
        self.scale[0][1, 2] = 0.0
        self.scale[0][2, 3] = 1e-6
        self.scale[1][0] = 0.0
        self.scale[1][3] = 1e-6
        self.init = [x.to(dtype) for x in self.init]
        self.target = [x.to(dtype) for x in self.target]
        self.curv = [x.to(dtype) for x in self.curv]
        self.scale = [x.to(dtype) for x in self.scale]

    def make_params(self) -> list[torch.Tensor]:
        return [x.clone().requires_grad_(True) for x in self.init]

    def set_grads(self, params: list[torch.Tensor], step: int) -> None:
        with torch.no_grad():
            for i, p in enumerate(params):
                if i == 3 or (i == 2 and step % 3 == 1):
                    p.grad = None
                    continue
                x = p.detach()
                g = self.curv[i] * (x - self.target[i]) + 0.5 * torch.sin(3.0 * x + i)
                p.grad = (g * self.scale[i]).clone()


def run_trajectory(ref_cls, torch_cls, kwargs, dtype, hyper_change=None, seed=0):
    """Run reference and torch side by side; compare params along the way."""
    prob = Problem(dtype, seed)
    ref_params = prob.make_params()
    tch_params = prob.make_params()
    ref_opt = ref_cls(ref_params, **kwargs)
    tch_opt = torch_cls(tch_params, foreach=False, **kwargs)
    for k in range(N_STEPS):
        if k == LR_CHANGE_AT:
            for o in (ref_opt, tch_opt):
                o.param_groups[0]["lr"] *= 0.5
        if k == HYPER_CHANGE_AT and hyper_change is not None:
            for o in (ref_opt, tch_opt):
                hyper_change(o.param_groups[0])
        prob.set_grads(ref_params, k)
        prob.set_grads(tch_params, k)
        grads_before = [p.grad for p in ref_params]
        grad_copies = [None if g is None else g.clone() for g in grads_before]
        ref_opt.step()
        tch_opt.step()
        # step() must not touch p.grad (neither rebind nor modify in place)
        for p, g, c in zip(ref_params, grads_before, grad_copies):
            assert p.grad is g
            if c is not None:
                assert torch.equal(g, c)
        if k % 10 == 0 or k == N_STEPS - 1:
            for i, (a, b) in enumerate(zip(ref_params, tch_params)):
                torch.testing.assert_close(
                    a.detach(), b.detach(), **TOL[dtype], msg=lambda m: f"step {k}, param {i}: {m}"
                )
    # no graph, dtype preserved, params still leaves
    for p in ref_params:
        assert p.is_leaf and p.grad_fn is None and p.requires_grad
        assert p.dtype == dtype
    for p in ref_params:
        for v in (ref_opt.state[p] if p in ref_opt.state else {}).values():
            if isinstance(v, torch.Tensor):
                assert not v.requires_grad and v.grad_fn is None
                assert v.dtype == dtype and v.shape == p.shape
    # the never-graded parameter is untouched and has no state
    assert torch.equal(ref_params[3].detach(), prob.init[3])
    assert ref_params[3] not in ref_opt.state or len(ref_opt.state[ref_params[3]]) == 0
    # the sometimes-None parameter moved (it was updated on its graded steps)
    assert not torch.equal(ref_params[2].detach(), prob.init[2])
    return ref_opt, tch_opt


def _set_momentum(value):
    def change(group):
        group["momentum"] = value

    return change


def _set_betas(group):
    group["betas"] = (0.8, 0.99)


# ----------------------------------------------------------------------------- trajectories

SGD_CASES = [
    dict(momentum=m, dampening=d, weight_decay=wd, nesterov=n)
    for m, d, wd, n in itertools.product([0.0, 0.9], [0.0, 0.5], [0.0, 0.1], [False, True])
    if not (n and (m == 0 or d != 0))
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", SGD_CASES, ids=str)
def test_sgd_trajectory(case, dtype):
    change = _set_momentum(0.5) if case["momentum"] else None
    run_trajectory(ref.SGD, torch.optim.SGD, dict(lr=0.05, **case), dtype, change)


ADAGRAD_CASES = [
    dict(lr_decay=ld, weight_decay=wd, initial_accumulator_value=iav)
    for ld, wd, iav in itertools.product([0.0, 0.05], [0.0, 0.1], [0.0, 0.3])
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", ADAGRAD_CASES, ids=str)
def test_adagrad_trajectory(case, dtype):
    run_trajectory(ref.Adagrad, torch.optim.Adagrad, dict(lr=0.1, **case), dtype)


RMSPROP_CASES = [
    dict(momentum=m, centered=c, weight_decay=wd)
    for m, c, wd in itertools.product([0.0, 0.8], [False, True], [0.0, 0.1])
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", RMSPROP_CASES, ids=str)
def test_rmsprop_trajectory(case, dtype):
    change = _set_momentum(0.5) if case["momentum"] else None
    run_trajectory(
        ref.RMSprop, torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, **case), dtype, change
    )


ADAM_CASES = [
    dict(weight_decay=wd, amsgrad=a) for wd, a in itertools.product([0.0, 0.1], [False, True])
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", ADAM_CASES, ids=str)
def test_adam_trajectory(case, dtype):
    run_trajectory(ref.Adam, torch.optim.Adam, dict(lr=0.05, **case), dtype, _set_betas)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", ADAM_CASES, ids=str)
def test_adamw_trajectory(case, dtype):
    run_trajectory(ref.AdamW, torch.optim.AdamW, dict(lr=0.05, **case), dtype, _set_betas)


@pytest.mark.parametrize(
    "ref_cls, torch_cls, kwargs",
    [
        (ref.SGD, torch.optim.SGD, dict(lr=0.05)),
        (ref.Adagrad, torch.optim.Adagrad, {}),
        (ref.RMSprop, torch.optim.RMSprop, {}),
        (ref.Adam, torch.optim.Adam, {}),
        (ref.AdamW, torch.optim.AdamW, {}),
    ],
    ids=lambda x: getattr(x, "__module__", "") + "." + getattr(x, "__name__", str(x)),
)
def test_default_hyperparameters_match_torch(ref_cls, torch_cls, kwargs):
    """Constructors' defaults agree with torch's (only lr passed for SGD)."""
    run_trajectory(ref_cls, torch_cls, kwargs, torch.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_sgd_momentum_buffer_is_first_grad(dtype):
    """First momentum step: buf = g (not (1 - dampening) g); p = p - lr g."""
    p = torch.tensor([1.0, -2.0], dtype=dtype, requires_grad=True)
    o = ref.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    p.grad = torch.tensor([0.5, 1.0], dtype=dtype)
    o.step()
    torch.testing.assert_close(o.state[p]["momentum_buffer"], p.grad)
    torch.testing.assert_close(p.detach(), torch.tensor([0.95, -2.1], dtype=dtype))


def test_lr_zero_leaves_params_unchanged_and_lr_change_applies():
    p = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    o = ref.Adam([p], lr=0.0)
    p.grad = torch.tensor([1.0, -1.0], dtype=torch.float64)
    o.step()
    assert torch.equal(p.detach(), torch.tensor([1.0, 2.0], dtype=torch.float64))
    o.param_groups[0]["lr"] = 0.1
    o.step()
    assert not torch.equal(p.detach(), torch.tensor([1.0, 2.0], dtype=torch.float64))


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (ref.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
        (ref.Adagrad, dict(weight_decay=0.1)),
        (ref.RMSprop, dict(momentum=0.5, centered=True, weight_decay=0.1)),
        (ref.Adam, dict(weight_decay=0.1, amsgrad=True)),
        (ref.AdamW, dict(amsgrad=True)),
    ],
)
def test_step_builds_no_graph_and_keeps_grad(cls, kwargs):
    torch.manual_seed(0)
    w = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    x = torch.randn(5, 3, dtype=torch.float64)
    o = cls([w, b], **kwargs)
    for _ in range(3):
        o.zero_grad()
        assert w.grad is None and b.grad is None
        loss = ((x @ w + b) ** 2).sum()
        loss.backward()
        gw, gb = w.grad.clone(), b.grad.clone()
        o.step()
        assert w.is_leaf and b.is_leaf and w.grad_fn is None and b.grad_fn is None
        assert torch.equal(w.grad, gw) and torch.equal(b.grad, gb)
        for st in o.state.values():
            for v in st.values():
                if isinstance(v, torch.Tensor):
                    assert not v.requires_grad
    # the loss of the updated params can still be differentiated normally
    loss = ((x @ w + b) ** 2).sum()
    loss.backward()
    assert w.grad is not None


# ----------------------------------------------------------------------------- base class


def test_base_class_structure_and_zero_grad():
    a = torch.zeros(2, 3, requires_grad=True)
    b = torch.ones(4, requires_grad=True)
    o = ref.Optimizer((t for t in [a, b]), dict(lr=0.5, foo=1))  # any iterable
    assert isinstance(o.params, list) and len(o.params) == 2
    assert o.params[0] is a and o.params[1] is b
    assert len(o.param_groups) == 1
    g = o.param_groups[0]
    assert g["lr"] == 0.5 and g["foo"] == 1
    assert [id(t) for t in g["params"]] == [id(a), id(b)]
    assert len(o.state) == 0
    o.state[a]["x"] = 1
    assert o.state[a] == {"x": 1} and o.state[b] == {}
    a.grad = torch.ones(2, 3)
    b.grad = torch.ones(4)
    o.zero_grad()
    assert a.grad is None and b.grad is None
    with pytest.raises(NotImplementedError):
        o.step()


def test_subclass_param_groups_hold_hyperparameters():
    p = torch.zeros(2, requires_grad=True)
    o = ref.SGD([p], lr=0.3, momentum=0.2, dampening=0.1, weight_decay=0.05)
    g = o.param_groups[0]
    assert (g["lr"], g["momentum"], g["dampening"], g["weight_decay"], g["nesterov"]) == (
        0.3, 0.2, 0.1, 0.05, False
    )
    o = ref.AdamW([p], betas=(0.5, 0.6))
    g = o.param_groups[0]
    assert tuple(g["betas"]) == (0.5, 0.6) and g["weight_decay"] == 1e-2 and g["amsgrad"] is False


@pytest.mark.parametrize(
    "params",
    [
        [],
        [1.0, 2.0],
        [torch.zeros(2, requires_grad=True), "x"],
        torch.zeros(3, requires_grad=True),
        {torch.zeros(3, requires_grad=True)},
        42,
    ],
    ids=["empty", "floats", "mixed", "single_tensor", "set", "int"],
)
def test_base_class_rejects_bad_params(params):
    with pytest.raises(ValueError, match="params"):
        ref.Optimizer(params, dict(lr=0.1))
    with pytest.raises(ValueError, match="params"):
        ref.SGD(params, lr=0.1)


def test_base_class_rejects_nonleaf_and_duplicates():
    a = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="params"):
        ref.Adam([a * 2])
    with pytest.raises(ValueError, match="params"):
        ref.Adam([a, a])


BAD_ARGS = [
    (ref.SGD, dict(lr=-0.1), "lr"),
    (ref.SGD, dict(lr=float("nan")), "lr"),
    (ref.SGD, dict(lr=0.1, momentum=-0.5), "momentum"),
    (ref.SGD, dict(lr=0.1, weight_decay=-1e-3), "weight_decay"),
    (ref.SGD, dict(lr=0.1, nesterov=True), "nesterov"),
    (ref.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (ref.Adagrad, dict(lr=-1.0), "lr"),
    (ref.Adagrad, dict(lr_decay=-1.0), "lr_decay"),
    (ref.Adagrad, dict(weight_decay=-1.0), "weight_decay"),
    (ref.Adagrad, dict(initial_accumulator_value=-1.0), "initial_accumulator_value"),
    (ref.Adagrad, dict(eps=-1e-10), "eps"),
    (ref.RMSprop, dict(lr=-1.0), "lr"),
    (ref.RMSprop, dict(alpha=-0.1), "alpha"),
    (ref.RMSprop, dict(eps=-1.0), "eps"),
    (ref.RMSprop, dict(weight_decay=-1.0), "weight_decay"),
    (ref.RMSprop, dict(momentum=-1.0), "momentum"),
    (ref.Adam, dict(lr=-1.0), "lr"),
    (ref.Adam, dict(eps=-1.0), "eps"),
    (ref.Adam, dict(weight_decay=-1.0), "weight_decay"),
    (ref.Adam, dict(betas=(1.0, 0.999)), r"betas\[0\]"),
    (ref.Adam, dict(betas=(-0.1, 0.999)), r"betas\[0\]"),
    (ref.Adam, dict(betas=(0.9, 1.0)), r"betas\[1\]"),
    (ref.Adam, dict(betas=(0.9,)), "betas"),
    (ref.AdamW, dict(lr=-1.0), "lr"),
    (ref.AdamW, dict(eps=-1.0), "eps"),
    (ref.AdamW, dict(weight_decay=-1.0), "weight_decay"),
    (ref.AdamW, dict(betas=(0.9, 1.5)), r"betas\[1\]"),
    (ref.AdamW, dict(betas=(1.0, 0.5)), r"betas\[0\]"),
]


@pytest.mark.parametrize("cls, kwargs, name", BAD_ARGS, ids=lambda x: str(x))
def test_constructor_value_errors(cls, kwargs, name):
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=name):
        cls([p], **kwargs)
    # torch rejects the same arguments (torch raises ValueError for all of these)
    torch_cls = getattr(torch.optim, cls.__name__)
    if name == "betas":  # a 1-tuple: torch fails with IndexError
        return
    torch_kwargs = dict(kwargs)
    if cls is ref.SGD:
        torch_kwargs.setdefault("lr", 0.1)
    if name == "lr" and math.isnan(kwargs["lr"]) and cls is ref.SGD:
        return  # torch.optim.SGD accepts lr=nan; the reference is stricter
    with pytest.raises(ValueError):
        torch_cls([p], **torch_kwargs)


def test_none_grad_params_are_skipped_without_state():
    a = torch.ones(3, dtype=torch.float64, requires_grad=True)
    b = torch.ones(2, dtype=torch.float64, requires_grad=True)
    for cls, kw in [
        (ref.SGD, dict(lr=0.1, momentum=0.9)),
        (ref.Adagrad, {}),
        (ref.RMSprop, dict(momentum=0.9, centered=True)),
        (ref.Adam, dict(amsgrad=True)),
        (ref.AdamW, {}),
    ]:
        o = cls([a, b], **kw)
        a.grad = torch.full((3,), 0.5, dtype=torch.float64)
        b.grad = None
        before = b.detach().clone()
        o.step()
        o.step()
        assert torch.equal(b.detach(), before)
        assert b not in o.state or len(o.state[b]) == 0
        if "step" in o.state[a]:
            assert int(o.state[a]["step"]) == 2


# ----------------------------------------------------------------------------- schedules

TS = list(range(0, 60)) + [99, 100, 101, 250, 1000]


def _record_torch_lrs(make_sched, lr0, n):
    p = torch.zeros(1, requires_grad=True)
    o = torch.optim.SGD([p], lr=lr0)
    s = make_sched(o)
    lrs = []
    for _ in range(n):
        lrs.append(o.param_groups[0]["lr"])
        o.step()
        s.step()
    return lrs


@pytest.mark.parametrize("lr0, step_size, gamma", [(0.1, 1, 0.5), (0.3, 7, 0.1), (2.0, 10, 0.9)])
def test_step_decay(lr0, step_size, gamma):
    for t in TS:
        out = ref.step_decay(t, lr0, step_size=step_size, gamma=gamma)
        assert isinstance(out, float)
        assert math.isclose(out, lr0 * gamma ** math.floor(t / step_size), rel_tol=1e-13)
    lrs = _record_torch_lrs(
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=step_size, gamma=gamma), lr0, 60
    )
    for t, lr in enumerate(lrs):
        out = ref.step_decay(t, lr0, step_size=step_size, gamma=gamma)
        assert math.isclose(out, lr, rel_tol=1e-12)
    assert ref.step_decay(25, 1.0, step_size=10) == pytest.approx(0.01, rel=1e-14)  # default gamma


@pytest.mark.parametrize("lr0, gamma", [(0.1, 0.95), (1.0, 0.5), (0.01, 1.0)])
def test_exponential_decay(lr0, gamma):
    for t in TS:
        out = ref.exponential_decay(t, lr0, gamma=gamma)
        assert isinstance(out, float)
        assert math.isclose(out, lr0 * math.exp(t * math.log(gamma)), rel_tol=1e-11)
    lrs = _record_torch_lrs(
        lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=gamma), lr0, 60
    )
    for t, lr in enumerate(lrs):
        assert math.isclose(ref.exponential_decay(t, lr0, gamma=gamma), lr, rel_tol=1e-12)


@pytest.mark.parametrize("lr0, lr_end, K", [(0.1, 0.001, 50), (1.0, 0.0, 1), (0.01, 0.1, 13)])
def test_linear_decay(lr0, lr_end, K):
    for t in TS:
        out = ref.linear_decay(t, lr0, lr_end=lr_end, total_steps=K)
        assert isinstance(out, float)
        expected = lr_end if t >= K else lr0 + (lr_end - lr0) * t / K
        assert math.isclose(out, expected, rel_tol=1e-12, abs_tol=1e-15)
    out = ref.linear_decay(K, lr0, lr_end=lr_end, total_steps=K)
    assert out == pytest.approx(lr_end, abs=1e-15)
    if lr_end > lr0:
        return  # torch's LinearLR only decays (end_factor must be in [0, 1])
    # torch's LinearLR from factor 1 to lr_end/lr0 over K steps, then constant
    lrs = _record_torch_lrs(
        lambda o: torch.optim.lr_scheduler.LinearLR(
            o, start_factor=1.0, end_factor=lr_end / lr0, total_iters=K
        ),
        lr0,
        K + 20,
    )
    for t, lr in enumerate(lrs):
        assert math.isclose(
            ref.linear_decay(t, lr0, lr_end=lr_end, total_steps=K), lr, rel_tol=1e-10, abs_tol=1e-14
        )


@pytest.mark.parametrize("lr0, s, c", [(0.1, 10.0, -0.5), (1.0, 1.0, -1.0), (0.5, 3.5, 0.7)])
def test_power_decay(lr0, s, c):
    for t in TS:
        out = ref.power_decay(t, lr0, s=s, c=c)
        assert isinstance(out, float)
        assert math.isclose(out, lr0 * math.exp(c * math.log1p(t / s)), rel_tol=1e-12)
    lrs = _record_torch_lrs(
        lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: (1 + t / s) ** c), lr0, 40
    )
    for t, lr in enumerate(lrs):
        assert math.isclose(ref.power_decay(t, lr0, s=s, c=c), lr, rel_tol=1e-12)


@pytest.mark.parametrize("lr0, K, lr_min", [(0.1, 50, 0.0), (1.0, 1, 0.1), (0.3, 17, 0.01)])
def test_cosine_decay(lr0, K, lr_min):
    for t in TS:
        out = ref.cosine_decay(t, lr0, total_steps=K, lr_min=lr_min)
        assert isinstance(out, float)
        if t >= K:
            expected = lr_min
        else:
            expected = lr_min + (lr0 - lr_min) * math.cos(math.pi * t / (2 * K)) ** 2
        assert math.isclose(out, expected, rel_tol=1e-12, abs_tol=1e-15)
    lrs = _record_torch_lrs(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=K, eta_min=lr_min),
        lr0,
        K + 1,
    )
    for t, lr in enumerate(lrs):  # within [0, K]; torch's recursion rounds differently
        assert math.isclose(
            ref.cosine_decay(t, lr0, total_steps=K, lr_min=lr_min), lr, rel_tol=1e-9, abs_tol=1e-12
        )
    # default lr_min = 0
    assert ref.cosine_decay(5, 0.2, total_steps=10) == pytest.approx(0.1, rel=1e-14)


@pytest.mark.parametrize("d_model, warmup", [(512, 4000), (1, 1), (64, 10)])
def test_inverse_sqrt_warmup(d_model, warmup):
    for t in TS + [3998, 3999, 4000, 10_000]:
        out = ref.inverse_sqrt_warmup(t, d_model=d_model, warmup_steps=warmup)
        assert isinstance(out, float)
        n = t + 1
        if n <= warmup:
            expected = n / (math.sqrt(d_model) * warmup * math.sqrt(warmup))
        else:
            expected = 1.0 / math.sqrt(d_model * n)
        assert math.isclose(out, expected, rel_tol=1e-12)
    # peak at n = warmup
    assert math.isclose(
        ref.inverse_sqrt_warmup(warmup - 1, d_model=d_model, warmup_steps=warmup),
        1.0 / math.sqrt(d_model * warmup),
        rel_tol=1e-12,
    )


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: ref.step_decay(-1, 0.1, step_size=2), "t must"),
        (lambda: ref.step_decay(3, 0.1, step_size=0), "step_size"),
        (lambda: ref.exponential_decay(-1, 0.1, gamma=0.9), "t must"),
        (lambda: ref.linear_decay(-2, 0.1, lr_end=0.0, total_steps=5), "t must"),
        (lambda: ref.linear_decay(1, 0.1, lr_end=0.0, total_steps=0), "total_steps"),
        (lambda: ref.power_decay(-1, 0.1, s=1.0, c=-0.5), "t must"),
        (lambda: ref.power_decay(1, 0.1, s=0.0, c=-0.5), "s must"),
        (lambda: ref.power_decay(1, 0.1, s=-2.0, c=-0.5), "s must"),
        (lambda: ref.cosine_decay(-1, 0.1, total_steps=5), "t must"),
        (lambda: ref.cosine_decay(1, 0.1, total_steps=0), "total_steps"),
        (lambda: ref.inverse_sqrt_warmup(-1, d_model=8, warmup_steps=4), "t must"),
        (lambda: ref.inverse_sqrt_warmup(1, d_model=0, warmup_steps=4), "d_model"),
        (lambda: ref.inverse_sqrt_warmup(1, d_model=8, warmup_steps=0), "warmup_steps"),
    ],
)
def test_schedule_value_errors(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ----------------------------------------------------------------------------- clipping


def _clip_setup(dtype, seed, factor, norm_type):
    g = torch.Generator().manual_seed(seed)
    shapes = [(3, 4), (7,), (2, 3, 2), (5,)]
    params = [torch.randn(s, generator=g, dtype=dtype, requires_grad=True) for s in shapes]
    grads = [torch.randn(s, generator=g, dtype=dtype) * (i + 1) for i, s in enumerate(shapes)]
    grads[2] = None  # skipped
    total = torch.linalg.vector_norm(
        torch.cat([x.flatten() for x in grads if x is not None]), norm_type
    ).item()
    return params, grads, factor * total


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("norm_type", [1, 2.0, math.inf, 3.0, 0.5])
@pytest.mark.parametrize("factor", [0.3, 3.0])  # max_norm below / above the total norm
@pytest.mark.parametrize("seed", [0, 1])
def test_clip_grad_norm(dtype, norm_type, factor, seed):
    params, grads, max_norm = _clip_setup(dtype, seed, factor, norm_type)
    ref_params = [p.detach().clone().requires_grad_(True) for p in params]
    for p, q, gr in zip(params, ref_params, grads):
        p.grad = None if gr is None else gr.clone()
        q.grad = None if gr is None else gr.clone()
    ref_grad_objs = [q.grad for q in ref_params]
    expected = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    out = ref.clip_grad_norm_(ref_params, max_norm, norm_type=norm_type)
    assert isinstance(out, torch.Tensor) and out.dim() == 0 and out.dtype == dtype
    torch.testing.assert_close(out, expected, **TOL[dtype])
    for p, q, obj in zip(params, ref_params, ref_grad_objs):
        assert q.grad is obj  # in place
        if p.grad is None:
            assert q.grad is None
        else:
            torch.testing.assert_close(q.grad, p.grad, **TOL[dtype])
    if factor > 1:  # below the threshold: grads unchanged
        for q, gr in zip(ref_params, grads):
            if gr is not None:
                torch.testing.assert_close(q.grad, gr, **TOL[dtype])
    else:  # clipped: new norm == max_norm (up to the 1e-6 in the denominator)
        new = torch.linalg.vector_norm(
            torch.cat([q.grad.flatten() for q in ref_params if q.grad is not None]), norm_type
        )
        assert math.isclose(new.item(), max_norm, rel_tol=1e-4)
    # parameters themselves are untouched
    for p, q in zip(params, ref_params):
        assert torch.equal(p.detach(), q.detach())


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_clip_grad_norm_single_tensor_generator_and_no_grads(dtype):
    g = torch.Generator().manual_seed(3)
    p = torch.randn(4, 5, generator=g, dtype=dtype, requires_grad=True)
    q = p.detach().clone().requires_grad_(True)
    p.grad = torch.randn(4, 5, generator=g, dtype=dtype) * 10
    q.grad = p.grad.clone()
    out = ref.clip_grad_norm_(q, 1.0)  # single tensor
    expected = torch.nn.utils.clip_grad_norm_(p, 1.0)
    torch.testing.assert_close(out, expected, **TOL[dtype])
    torch.testing.assert_close(q.grad, p.grad, **TOL[dtype])
    # generator input
    q.grad = torch.full((4, 5), 2.0, dtype=dtype)
    out = ref.clip_grad_norm_((t for t in [q]), 1.0, norm_type=math.inf)
    assert out.item() == pytest.approx(2.0)
    torch.testing.assert_close(q.grad, torch.full((4, 5), 2.0 / (2.0 + 1e-6), dtype=dtype))
    # no grads at all: torch returns tensor(0.) and touches nothing
    r = torch.zeros(3, dtype=dtype, requires_grad=True)
    out = ref.clip_grad_norm_([r], 1.0)
    r_t = torch.zeros(3, dtype=dtype, requires_grad=True)
    expected = torch.nn.utils.clip_grad_norm_([r_t], 1.0)
    torch.testing.assert_close(out, expected)
    assert r.grad is None


def test_clip_grad_norm_zero_grads_and_value_error():
    p = torch.zeros(3, requires_grad=True)
    p.grad = torch.zeros(3)
    out = ref.clip_grad_norm_([p], 1.0)
    assert out.item() == 0.0 and torch.equal(p.grad, torch.zeros(3))
    with pytest.raises(ValueError, match="max_norm"):
        ref.clip_grad_norm_([p], -1.0)


def test_clip_grad_norm_no_graph_when_grad_requires_grad():
    w = torch.randn(3, dtype=torch.float64, requires_grad=True)
    (gw,) = torch.autograd.grad((w**3).sum(), w, create_graph=True)
    w.grad = gw
    out = ref.clip_grad_norm_([w], 0.1)
    assert not out.requires_grad


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("clip_value", [0.0, 0.1, 1.0, 10.0])
def test_clip_grad_value(dtype, clip_value):
    g = torch.Generator().manual_seed(5)
    shapes = [(3, 4), (6,), (2,)]
    params = [torch.randn(s, generator=g, dtype=dtype, requires_grad=True) for s in shapes]
    ref_params = [p.detach().clone().requires_grad_(True) for p in params]
    for i, (p, q) in enumerate(zip(params, ref_params)):
        if i == 2:
            continue  # None grad
        gr = torch.randn(p.shape, generator=g, dtype=dtype) * 3
        p.grad, q.grad = gr.clone(), gr.clone()
    objs = [q.grad for q in ref_params]
    assert torch.nn.utils.clip_grad_value_(params, clip_value) is None
    assert ref.clip_grad_value_(ref_params, clip_value=clip_value) is None
    for p, q, obj in zip(params, ref_params, objs):
        assert q.grad is obj
        if p.grad is None:
            assert q.grad is None
        else:
            assert q.grad.dtype == dtype
            torch.testing.assert_close(q.grad, p.grad, rtol=0, atol=0)
    # single tensor
    t = torch.zeros(3, dtype=dtype, requires_grad=True)
    t.grad = torch.tensor([-5.0, 0.2, 5.0], dtype=dtype)
    ref.clip_grad_value_(t, clip_value=1.0)
    assert torch.equal(t.grad, torch.tensor([-1.0, 0.2, 1.0], dtype=dtype))
    with pytest.raises(ValueError, match="clip_value"):
        ref.clip_grad_value_(t, clip_value=-1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_cuda_adam_and_clipping(dtype):
    torch.manual_seed(0)
    w = torch.randn(4, 3, device="cuda", dtype=dtype, requires_grad=True)
    v = w.detach().clone().requires_grad_(True)
    o_ref = ref.Adam([w], lr=0.05, weight_decay=0.1, amsgrad=True)
    o_t = torch.optim.Adam([v], lr=0.05, weight_decay=0.1, amsgrad=True, foreach=False)
    for _ in range(30):
        w.grad = (torch.sin(w.detach()) + w.detach()).clone()
        v.grad = (torch.sin(v.detach()) + v.detach()).clone()
        ref.clip_grad_norm_([w], 0.5)
        torch.nn.utils.clip_grad_norm_([v], 0.5)
        o_ref.step()
        o_t.step()
    assert w.device.type == "cuda" and w.dtype == dtype
    torch.testing.assert_close(w.detach(), v.detach(), **TOL[dtype])
