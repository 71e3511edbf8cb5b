"""The convergence capstone: data, the part protocol, the checks of a run's raw material,
scoring and culprit finding."""

from __future__ import annotations

import copy
import math
import random
import types

import pytest
import torch

from grader import capstone
from grader import capstone_grading as grading


# -- pure scoring ------------------------------------------------------------------------------
def test_accuracy_credit_full_within_slack():
    assert grading.accuracy_credit(0.95, 0.97, slack=0.03) == 1.0
    assert grading.accuracy_credit(0.94, 0.97, slack=0.03) == 1.0
    assert grading.accuracy_credit(0.99, 0.97, slack=0.03) == 1.0


def test_accuracy_credit_linear_above_chance():
    assert grading.accuracy_credit(0.1, 0.97, slack=0.03) == 0.0
    assert grading.accuracy_credit(0.05, 0.97, slack=0.03) == 0.0
    half = grading.accuracy_credit(0.52, 0.97, slack=0.03)
    assert half == pytest.approx(0.5)
    assert grading.accuracy_credit(math.nan, 0.97) == 0.0
    values = [grading.accuracy_credit(a / 100, 0.97) for a in range(0, 101)]
    assert values == sorted(values)


def test_culprit_names_the_single_recovering_module():
    hint = grading.culprit_hint(0.4, {"init": 0.41, "optimizers": 0.96, "dropout": 0.39}, 0.97)
    assert hint == "with the reference optimizers your pipeline reaches 0.960: look at your optimizers.py"


def test_culprit_lists_several_recovering_modules():
    hint = grading.culprit_hint(0.4, {"init": 0.95, "optimizers": 0.96}, 0.97)
    assert "optimizers, init" in hint and "0.960" in hint


def test_culprit_points_at_the_best_partial_recovery():
    hint = grading.culprit_hint(0.3, {"init": 0.35, "batchnorm": 0.8, "dropout": math.nan}, 0.97)
    assert "with the reference batchnorm it improves most (to 0.800)" in hint


def test_culprit_says_when_no_single_module_helps():
    hint = grading.culprit_hint(0.3, {"init": 0.3, "batchnorm": 0.31}, 0.97)
    assert hint.startswith("no single module explains it")
    assert grading.culprit_hint(0.3, {}, 0.97) is None


# -- data ----------------------------------------------------------------------------------------
def test_digits_split_is_standardised_and_seeded():
    data = capstone.digits(seed=3)
    assert data["x_train"].shape == (1438, 64) and data["x_test"].shape == (359, 64)  # 20% of 1797
    assert data["x_train"].dtype == torch.float32 and data["y_train"].dtype == torch.int64
    assert set(data["y_train"].tolist()) == set(range(10))
    assert data["x_train"].mean(0).abs().max() < 1e-5
    again = capstone.digits(seed=3)
    assert torch.equal(again["y_test"], data["y_test"])
    other = capstone.digits(seed=4)
    assert not torch.equal(other["y_test"], data["y_test"])


# -- parts ---------------------------------------------------------------------------------------
def _torch_modules():
    """Parts written with torch's own functions: an independent check of the pipeline."""
    import types

    import torch.nn.functional as F

    init = types.SimpleNamespace(
        kaiming_uniform_=lambda t, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None: torch.nn.init.kaiming_uniform_(
            t, a=a, mode=mode, nonlinearity=nonlinearity, generator=generator
        ),
        xavier_uniform_=lambda t, gain=1.0, generator=None: torch.nn.init.xavier_uniform_(t, gain=gain, generator=generator),
        fan_in_uniform_=lambda t, fan_in=None, generator=None: torch.nn.init.uniform_(
            t, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), generator=generator
        ),
    )

    def linear_forward(x, w, b):
        return x @ w.T + b, (x, w)

    def linear_backward(dout, cache):
        x, w = cache
        return dout @ w, dout.T @ x, dout.sum(0)

    def softmax_cross_entropy(logits, y):
        logp = F.log_softmax(logits, dim=1)
        d = logp.exp()
        d[torch.arange(len(y)), y] -= 1
        return F.nll_loss(logp, y), d / len(y)

    backprop = types.SimpleNamespace(
        linear_forward=linear_forward,
        linear_backward=linear_backward,
        activation_forward=lambda x, kind: (F.relu(x), x),
        activation_backward=lambda dout, x: dout * (x > 0),
        softmax_cross_entropy=softmax_cross_entropy,
    )

    def bn_forward(x, gamma, beta, rm, rv, training=True, momentum=0.1, eps=1e-5):
        xr = x.detach().clone().requires_grad_(True)
        g = gamma.detach().clone().requires_grad_(True)
        b = beta.detach().clone().requires_grad_(True)
        out = F.batch_norm(xr, rm, rv, g, b, training=training, momentum=momentum, eps=eps)
        return out.detach(), (xr, g, b, out)

    def bn_backward(dout, cache):
        xr, g, b, out = cache
        return torch.autograd.grad(out, (xr, g, b), dout)

    batchnorm = types.SimpleNamespace(batchnorm_forward=bn_forward, batchnorm_backward=bn_backward)

    def d_forward(x, p, training, generator=None):
        if not training:
            return x, None
        mask = (torch.rand(x.shape, generator=generator) >= p).to(x.dtype) / (1 - p)
        return x * mask, mask

    dropout = types.SimpleNamespace(
        dropout_forward=d_forward, dropout_backward=lambda dout, m: dout if m is None else dout * m
    )
    optimizers = types.SimpleNamespace(Adam=torch.optim.Adam)
    return {"init": init, "backprop": backprop, "batchnorm": batchnorm, "dropout": dropout, "optimizers": optimizers}


def _reference_like(modules: dict) -> types.SimpleNamespace:
    return types.SimpleNamespace(**modules)


@pytest.fixture(scope="module")
def torch_run():
    """The pipeline built from torch's own functions, trained in this process."""
    spec = capstone.PipelineSpec(seed=1)
    data = capstone.digits(seed=1)
    return spec, data, grading.run_reference(_reference_like(_torch_modules()), spec, data)


def test_pipeline_with_torch_parts_learns_digits(torch_run):
    spec, data, run = torch_run
    history = grading.history(run, spec, data)
    assert len(history) == spec.epochs and len(run.epochs) == spec.epochs
    assert history[-1]["train_loss"] < history[0]["train_loss"] / 3
    assert history[-1]["test_accuracy"] >= 0.95


def test_served_parts_keep_caches_in_the_grader():
    modules = _torch_modules()
    served = capstone.served_part(capstone.reference_part("backprop", modules["backprop"]))
    x, w, b = torch.randn(4, 3), torch.randn(2, 3), torch.randn(2)
    out, key = served.linear_forward(x, w, b)
    assert isinstance(key, int)
    dx, dw, db = served.linear_backward(torch.ones(4, 2), key)
    assert torch.allclose(dw, torch.ones(4, 2).T @ x)
    with pytest.raises(ValueError, match="unknown cache key"):
        served.linear_backward(torch.ones(4, 2), key)  # each cache is used once


def test_a_served_optimizer_takes_the_specs_learning_rate():
    spec = capstone.PipelineSpec(lr=0.5)
    served = capstone.served_part(capstone.reference_part("optimizers", _torch_modules()["optimizers"]), spec)
    served.start([torch.zeros(2)], {"lr": 1e9})  # what a worker asks for is ignored
    (after,) = served.step([torch.ones(2)])
    assert torch.allclose(after, torch.full((2,), -0.5), atol=1e-6)


def test_served_pipeline_matches_local_pipeline():
    """The same run with every part behind the served wrappers reports the same steps."""
    modules = _torch_modules()
    spec = capstone.PipelineSpec(epochs=2, seed=5)
    data = capstone.digits(seed=5)
    local = grading.run_reference(_reference_like(modules), spec, data)
    parts = {n: capstone.served_part(capstone.reference_part(n, modules[n]), spec) for n in capstone.WORKER_PARTS}
    trainer = capstone.Trainer(parts, spec.as_dict(), {"x_train": data["x_train"], "y_train": data["y_train"]},
                               local.initial)
    for epoch in local.epochs:
        served = trainer.epoch()["steps"]
        assert len(served) == len(epoch)
        for a, b in zip(served, epoch):
            assert torch.equal(a["params"], b["params"]) and torch.equal(a["grads"], b["grads"])


def test_pipeline_rejects_a_wrong_shape_with_the_function_named():
    modules = _torch_modules()
    modules["backprop"].linear_forward = lambda x, w, b: ((x @ w.T + b)[:, :-1], (x, w))
    with pytest.raises(capstone.PipelineFailure, match=r"linear_forward returned shape"):
        grading.run_reference(_reference_like(modules), capstone.PipelineSpec(epochs=1), capstone.digits())


def test_init_that_is_not_in_place_leaves_zeros():
    modules = _torch_modules()
    modules["init"].kaiming_uniform_ = lambda t, **kw: torch.ones_like(t)
    w1, b1, w2, b2 = grading.initial_weights(modules["init"], capstone.PipelineSpec(), (4, 5, 3), in_place=False)
    assert torch.count_nonzero(w1) == 0 and torch.count_nonzero(b1) > 0


# -- the checks of a run's raw material --------------------------------------------------------
def test_the_checks_accept_an_honest_run(torch_run):
    spec, data, run = torch_run
    assert grading.verify(run, spec, data, list(range(0, len(run.steps), 40))) is None


def test_the_checks_accept_honest_slips_of_a_convergent_pipeline():
    """Adam without bias correction, and a gradient without its 1/N: the run still learns,
    and still counts as the student's own."""
    modules = _torch_modules()

    class NoBiasCorrection(torch.optim.Optimizer):
        def __init__(self, params, lr):
            super().__init__(params, {"lr": lr})

        @torch.no_grad()
        def step(self):
            for p in self.param_groups[0]["params"]:
                state = self.state[p]
                m = state.setdefault("m", torch.zeros_like(p))
                v = state.setdefault("v", torch.zeros_like(p))
                m.mul_(0.9).add_(p.grad, alpha=0.1)
                v.mul_(0.999).addcmul_(p.grad, p.grad, value=0.001)
                p.sub_(self.param_groups[0]["lr"] * m / (v.sqrt() + 1e-8))

    modules["optimizers"] = types.SimpleNamespace(Adam=NoBiasCorrection)
    sce = modules["backprop"].softmax_cross_entropy
    modules["backprop"].softmax_cross_entropy = lambda z, y: (lambda r: (r[0], r[1] * len(y)))(sce(z, y))
    spec, data = capstone.PipelineSpec(epochs=3, seed=2), capstone.digits(seed=2)
    run = grading.run_reference(_reference_like(modules), spec, data)
    assert grading.verify(run, spec, data, [0, 17, 50]) is None


def _tampered(run, change):
    run = copy.deepcopy(run)
    change(run)
    return run


@pytest.mark.parametrize("attack,needle", [
    ("jump", "moved by"),
    ("frozen", "does not follow Adam's rule"),
    ("ascending", "does not follow Adam's rule"),
    ("invented_gradients", "do not agree with the gradient"),
    ("trained_init", "beyond 3 times"),
])
def test_the_checks_refuse_what_no_training_run_reports(torch_run, attack, needle):
    spec, data, run = torch_run
    steps = run.steps

    sizes = grading.sizes_of(data, spec)
    start = capstone.flatten(capstone.full_params(run.initial, spec.hidden))

    def jump(r):
        r.epochs[-1][-1]["params"][:100] += 0.3

    def frozen(r):  # weights that never move, whatever the gradients
        for s in r.steps:
            s["params"] = start.clone()

    def ascending(r):  # every update reversed: uphill
        before, climbed = start, start
        for s in r.steps:
            after = s["params"]
            climbed = climbed - (after - before)
            before, s["params"] = after, climbed

    def invented_gradients(r):  # any gradients, with weights Adam would make of them
        torch.manual_seed(0)
        prev, m, v = start.clone(), torch.zeros_like(start), torch.zeros_like(start)
        for t, s in enumerate(r.steps, start=1):
            g = torch.randn_like(s["grads"])
            m.mul_(0.9).add_(g, alpha=0.1)
            v.mul_(0.999).addcmul_(g, g, value=0.001)
            prev = prev - spec.lr * (m / (1 - 0.9**t)) / ((v / (1 - 0.999**t)).sqrt() + 1e-8)
            s["grads"], s["params"] = g, prev.clone()

    def trained_init(r):
        r.initial[0] = r.initial[0] * 20

    tampered = _tampered(run, locals()[attack])
    problem = grading.verify(tampered, spec, data, list(range(0, len(steps), 25)))
    assert problem is not None and needle in problem, problem


def test_hints_come_only_from_swapped_runs_that_pass_the_checks(torch_run, monkeypatch):
    """The runs with one module swapped for the reference choose the hint; one whose steps
    no training run makes (here: with the reference init, a jump at the end) is not
    believed, so the hint names only the module whose swapped run is honest."""
    spec, data, run = torch_run
    start = capstone.flatten(capstone.full_params(run.initial, spec.hidden))

    def frozen(r):
        for step in r.steps:
            step["params"] = start.clone()

    def jump(r):
        r.epochs[-1][-1]["params"][:100] += 0.3

    runs = {None: _tampered(run, frozen), "optimizers": run, "init": _tampered(run, jump)}
    monkeypatch.setattr(grading, "run_student",
                        lambda student, reference, spec, data, swap=None: runs.get(swap, runs[None]))
    student = types.SimpleNamespace(has=lambda name: True)
    report = grading.evaluate(student, _reference_like(_torch_modules()), spec, data_seed=1)
    assert report.credit == 0.0 and "does not follow Adam's rule" in report.message
    assert report.hint is not None and report.hint.startswith("with the reference optimizers"), report.hint
    assert math.isnan(report.metrics["accuracy_with_reference_init"])


def test_metrics_are_computed_from_the_weights(torch_run):
    """Running statistics recomputed from the batches; accuracy from the grader's own
    forward pass: nothing the worker says about predictions is used."""
    spec, data, run = torch_run
    stats = grading.running_statistics(run, spec, data)
    assert len(stats) == len(run.epochs)
    final = capstone.unflatten(run.steps[-1]["params"], grading.sizes_of(data, spec))
    loss, accuracy = grading.evaluate_weights(final, stats[-1], data["x_test"], data["y_test"], spec)
    assert grading.history(run, spec, data)[-1]["test_accuracy"] == accuracy


def test_picked_steps_are_drawn_after_the_run(torch_run):
    _, _, run = torch_run
    picks = grading.pick_steps(run, random.Random(3))
    assert len(picks) == grading.SPOT_CHECKS and picks == sorted(picks)
    assert all(0 <= k < len(run.steps) for k in picks)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_pipeline_reaches_095(seed):
    """The course's claim: the reference pipeline reaches at least 0.95 test accuracy on
    digits within the rubric's budget, whatever the term's seed."""
    from pathlib import Path

    import yaml

    from grader.reference import ReferenceModules

    root = Path(__file__).resolve().parent.parent
    options = yaml.safe_load((root / "reference" / "rubric.yaml").read_text())["settings"]["capstone"]
    spec = capstone.PipelineSpec(seed=seed, **{k: v for k, v in options.items() if k != "slack"})
    reference = ReferenceModules(root / "reference")
    history = grading.reference_history(reference, spec, data_seed=seed)
    assert history[-1]["test_accuracy"] >= 0.95
    assert history[-1]["train_loss"] < 0.2


@pytest.mark.slow
def test_capstone_needs_the_other_modules_and_says_which(tmp_path):
    """Grading only training still prepares the modules the capstone trains with; a
    missing one costs the capstone its points with a message naming the file."""
    from pathlib import Path

    from grader.course import Course
    from grader.engine import grade
    from grader.stubgen import strip_markers
    from grader.submission import Submission

    root = Path(__file__).resolve().parent.parent
    for topic in ("training", "init", "backprop", "batchnorm", "optimizers"):  # no dropout.py
        source = (root / "reference" / f"{topic}.py").read_text(encoding="utf-8")
        (tmp_path / f"{topic}.py").write_text(strip_markers(source), encoding="utf-8")
    (result,) = grade(Course(root).hidden(topics=("training",), device="cpu"), [Submission("s", tmp_path)])
    assert list(result.topics) == ["training"]
    tests = {t.id: t for t in result.topics["training"].tests}
    capstone_test = tests["training::capstone_digits"]
    assert capstone_test.score == 0 and "dropout.py missing" in capstone_test.message
    assert all(t.score == t.max_score for i, t in tests.items() if i != "training::capstone_digits")
