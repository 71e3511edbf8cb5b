"""The convergence capstone: data, the part protocol, scoring and culprit finding."""

from __future__ import annotations

import math

import pytest
import torch

from grader import capstone


# -- pure scoring ------------------------------------------------------------------------------
def test_accuracy_credit_full_within_slack():
    assert capstone.accuracy_credit(0.95, 0.97, slack=0.03) == 1.0
    assert capstone.accuracy_credit(0.94, 0.97, slack=0.03) == 1.0
    assert capstone.accuracy_credit(0.99, 0.97, slack=0.03) == 1.0


def test_accuracy_credit_linear_above_chance():
    assert capstone.accuracy_credit(0.1, 0.97, slack=0.03) == 0.0
    assert capstone.accuracy_credit(0.05, 0.97, slack=0.03) == 0.0
    half = capstone.accuracy_credit(0.52, 0.97, slack=0.03)
    assert half == pytest.approx(0.5)
    assert capstone.accuracy_credit(math.nan, 0.97) == 0.0
    values = [capstone.accuracy_credit(a / 100, 0.97) for a in range(0, 101)]
    assert values == sorted(values)


def test_culprit_names_the_single_recovering_module():
    hint = capstone.culprit_hint(0.4, {"init": 0.41, "optimizers": 0.96, "dropout": 0.39}, 0.97)
    assert hint == "with the reference optimizers your pipeline reaches 0.960: look at your optimizers.py"


def test_culprit_lists_several_recovering_modules():
    hint = capstone.culprit_hint(0.4, {"init": 0.95, "optimizers": 0.96}, 0.97)
    assert "optimizers, init" in hint and "0.960" in hint


def test_culprit_points_at_the_best_partial_recovery():
    hint = capstone.culprit_hint(0.3, {"init": 0.35, "batchnorm": 0.8, "dropout": math.nan}, 0.97)
    assert "with the reference batchnorm it improves most (to 0.800)" in hint


def test_culprit_says_when_no_single_module_helps():
    hint = capstone.culprit_hint(0.3, {"init": 0.3, "batchnorm": 0.31}, 0.97)
    assert hint.startswith("no single module explains it")
    assert capstone.culprit_hint(0.3, {}, 0.97) is None


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


def test_pipeline_with_torch_parts_learns_digits():
    spec = capstone.PipelineSpec(seed=1)
    history = capstone.run_local(_torch_modules(), spec, capstone.digits(seed=1))
    assert len(history) == spec.epochs
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


def test_served_pipeline_matches_local_pipeline():
    """The same run with every part behind the served wrappers gives the same history."""
    modules = _torch_modules()
    spec = capstone.PipelineSpec(epochs=2, seed=5)
    data = capstone.digits(seed=5)
    local = capstone.run_local(modules, spec, data)
    parts = {n: capstone.served_part(capstone.reference_part(n, modules[n])) for n in capstone.PARTS}
    trainer = capstone.Trainer(parts, spec.as_dict(), data)
    served = [trainer.epoch() for _ in range(spec.epochs)]
    assert served == local


def test_pipeline_rejects_a_wrong_shape_with_the_function_named():
    modules = _torch_modules()
    modules["backprop"].linear_forward = lambda x, w, b: ((x @ w.T + b)[:, :-1], (x, w))
    with pytest.raises(capstone.PipelineFailure, match=r"linear_forward returned shape"):
        capstone.run_local(modules, capstone.PipelineSpec(epochs=1), capstone.digits())


def test_init_that_is_not_in_place_leaves_zeros():
    modules = _torch_modules()
    modules["init"].kaiming_uniform_ = lambda t, **kw: torch.ones_like(t)
    part = capstone.reference_part("init", modules["init"])
    w, b = part.layer(5, 4, "relu", 0)
    assert torch.count_nonzero(w) == 0 and torch.count_nonzero(b) > 0


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
    history = capstone.reference_history(reference, spec, data_seed=seed)
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
