"""Independent checks of the course quizzes' answer keys, with PyTorch as the oracle.

Each test loads a quiz from ``quizzes/``, draws the parameters of a few students with the
quiz engine, and compares the engine's expected answer with what torch computes for the
same parameters (autograd, ``torch.nn.functional``, ``torch.optim``, ``torch.nn.init``,
``torch.linalg``). Every key is also graded with the question's own tolerance and must
earn full marks. Symbolic keys are evaluated at random points and compared with autograd.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader.quiz.expr import parse
from grader.quiz.grading import grade_answer
from grader.quiz.schema import load_quiz
from grader.quiz.variant import make_variant

QUIZZES = Path(__file__).resolve().parent.parent / "quizzes"
STUDENTS = ("ada", "bo", "cy", "dee", "eli", "fay")
D = torch.float64
TOPICS = ("activations", "losses", "gradients", "backprop", "autodiff", "optimizers", "init",
          "dropout", "batchnorm", "training")

_cache: dict[str, object] = {}


def quiz(topic: str):
    if topic not in _cache:
        _cache[topic] = load_quiz(QUIZZES / f"{topic}.yaml")
    return _cache[topic]


def variants(topic: str, qid: str, students=STUDENTS):
    """(params, expected, question, variant) for each student."""
    q = quiz(topic)
    question = q.question(qid)
    for student in students:
        v = make_variant(q, question, student, q.salt())
        yield v.params, v.expected, question, v


def check(question, variant, oracle, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """The key agrees with the oracle, and the oracle's value earns full marks as an answer."""
    got = np.asarray(oracle, dtype=float)
    want = np.asarray(variant.expected, dtype=float)
    assert got.shape == want.shape, (question.id, got.shape, want.shape)
    assert np.allclose(got, want, rtol=rtol, atol=atol), (question.id, variant.params, got, want)
    raw = got.tolist() if got.ndim else float(got)
    assert grade_answer(question, variant, raw).score == 1.0, (question.id, variant.params, raw)


def t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=D)


def symbolic_points(question, n: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {name: lo + (hi - lo) * torch.rand(n, generator=gen, dtype=D) for name, lo, hi in question.variables}


def symbolic_value(question, params: dict, points: dict[str, torch.Tensor]) -> np.ndarray:
    expr = parse(question.answer, question.param_names | question.variable_names, question.functions)
    env = {**params, **{k: v.numpy() for k, v in points.items()}}
    return np.asarray(expr(env), dtype=float)


# ---------------------------------------------------------------- every quiz file

@pytest.mark.parametrize("topic", TOPICS)
def test_quiz_loads_and_has_six_to_eight_questions(topic):
    q = quiz(topic)
    assert 6 <= len(q.questions) <= 8
    for question in q.questions:
        assert question.solution.strip(), question.id
        assert question.wrong_answers, question.id


def test_the_set_uses_every_question_type():
    types = {question.type for topic in TOPICS for question in quiz(topic).questions}
    assert types == {"numeric", "multiple_choice", "multi_select", "symbolic", "matrix", "code_output"}
    assert sum(len(quiz(topic).questions) for topic in TOPICS) >= 65


# ---------------------------------------------------------------- activations

def test_sigmoid_grad_value():
    for params, _, question, v in variants("activations", "sigmoid-grad-value"):
        z = t(params["z"]).requires_grad_()
        torch.sigmoid(z).backward()
        check(question, v, z.grad.item())


def test_tanh_chain_symbolic():
    for params, _, question, _ in variants("activations", "tanh-chain"):
        x = symbolic_points(question)["x"].requires_grad_()
        torch.tanh(params["a"] * x).sum().backward()
        assert np.allclose(symbolic_value(question, params, {"x": x.detach()}), x.grad.numpy(), rtol=1e-9)


def test_softmax_vector():
    for params, _, question, v in variants("activations", "softmax-vector"):
        a = params["a"]
        check(question, v, torch.softmax(t([0.0, a, 2 * a]), dim=0).numpy())


def test_leaky_relu_backward():
    for params, _, question, v in variants("activations", "leaky-relu-backward"):
        x = t(params["x"]).requires_grad_()
        (F.leaky_relu(x, params["alpha"]) * params["g"]).backward()
        check(question, v, x.grad.item())


# ---------------------------------------------------------------- losses

def test_ce_of_uniform_logits_is_ln_c():
    for params, _, question, v in variants("losses", "ce-uniform"):
        C = params["C"]
        loss = F.cross_entropy(torch.zeros(1, C, dtype=D), torch.tensor([C - 1]))
        check(question, v, loss.item())


def test_binary_entropy():
    for params, _, question, v in variants("losses", "binary-entropy"):
        check(question, v, torch.distributions.Bernoulli(probs=t(params["p"])).entropy().item())


def test_kl_is_cross_entropy_minus_entropy():
    # The identity itself, on random distributions, then the key of the numeric question.
    gen = torch.Generator().manual_seed(1)
    p = torch.softmax(torch.randn(5, generator=gen, dtype=D), 0)
    q = torch.softmax(torch.randn(5, generator=gen, dtype=D), 0)
    kl = torch.distributions.kl_divergence(torch.distributions.Categorical(probs=p),
                                           torch.distributions.Categorical(probs=q))
    h = torch.distributions.Categorical(probs=p).entropy()
    ce = -(p * q.log()).sum()
    assert torch.allclose(kl, ce - h)
    assert quiz("losses").question("kl-identity").correct_keys == ("a",)
    for params, _, question, v in variants("losses", "kl-from-ce"):
        check(question, v, params["Hpq"] - params["Hp"])


def test_bernoulli_kl():
    for params, _, question, v in variants("losses", "bernoulli-kl"):
        P = torch.distributions.Bernoulli(probs=t(params["p"]))
        Q = torch.distributions.Bernoulli(probs=t(params["q"]))
        check(question, v, torch.distributions.kl_divergence(P, Q).item())


def test_bce_with_logits_grad_symbolic():
    question = quiz("losses").question("bce-logits-grad")
    pts = symbolic_points(question)
    z = pts["z"].clone().requires_grad_()
    F.binary_cross_entropy_with_logits(z, pts["y"], reduction="sum").backward()
    assert np.allclose(symbolic_value(question, {}, pts), z.grad.numpy(), rtol=1e-9)


# ---------------------------------------------------------------- gradients

def test_linreg_grad_symbolic():
    question = quiz("gradients").question("linreg-grad")
    pts = symbolic_points(question)
    w = pts["w"].clone().requires_grad_()
    ((w * pts["x"] - pts["y"]) ** 2).sum().backward()
    assert np.allclose(symbolic_value(question, {}, pts), w.grad.numpy(), rtol=1e-9)


def test_logreg_grad_symbolic():
    question = quiz("gradients").question("logreg-grad")
    pts = symbolic_points(question)
    w = pts["w"].clone().requires_grad_()
    F.binary_cross_entropy_with_logits(w * pts["x"], pts["y"], reduction="sum").backward()
    assert np.allclose(symbolic_value(question, {}, pts), w.grad.numpy(), rtol=1e-9)


def test_least_squares_line_against_lstsq():
    X = t([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]])
    for params, _, question, v in variants("gradients", "lstsq-line"):
        y = t([[params["y1"]], [params["y2"]], [params["y3"]]])
        check(question, v, torch.linalg.lstsq(X, y).solution.flatten().numpy())


def test_gd_step():
    for params, _, question, v in variants("gradients", "gd-step"):
        w = t(params["w0"]).requires_grad_()
        opt = torch.optim.SGD([w], lr=params["lr"])
        ((w - params["a"]) ** 2).backward()
        opt.step()
        check(question, v, w.item())


def test_central_difference():
    for params, _, question, v in variants("gradients", "central-difference"):
        x0, h = t(params["x0"]), t(params["h"])
        check(question, v, (((x0 + h) ** 3 - (x0 - h) ** 3) / (2 * h)).item())


# ---------------------------------------------------------------- backprop

def worked(x: torch.Tensor) -> torch.Tensor:
    return (x[0] + x[1]) ** 2 + 7 * x[0] + torch.cos(x[0] + x[2])


def test_worked_example_value_and_gradient():
    x = t([2.0, 3.0, -2.0]).requires_grad_()
    f = worked(x)
    f.backward()
    assert f.item() == 40.0 and x.grad.tolist() == [17.0, 10.0, 0.0]
    for _, _, question, v in variants("backprop", "worked-example-value", STUDENTS[:1]):
        check(question, v, f.item())
    for _, _, question, v in variants("backprop", "worked-example-grad", STUDENTS[:1]):
        check(question, v, x.grad.numpy())


def test_worked_example_at_other_points():
    for params, _, question, v in variants("backprop", "worked-example-general"):
        x = t([params["a"], params["b"], params["c"]]).requires_grad_()
        worked(x).backward()
        check(question, v, x.grad.numpy())


def test_linear_layer_bias_and_weight_grads():
    for params, _, question, v in variants("backprop", "bias-grad-batch"):
        dout = t([[params["d11"], params["d12"]], [params["d21"], params["d22"]], [params["d31"], params["d32"]]])
        x = torch.randn(3, 4, dtype=D)
        W = torch.randn(2, 4, dtype=D)
        b = torch.zeros(2, dtype=D, requires_grad=True)
        (F.linear(x, W, b) * dout).sum().backward()
        check(question, v, b.grad.numpy())
    for params, _, question, v in variants("backprop", "weight-grad-outer"):
        W = torch.zeros(2, 2, dtype=D, requires_grad=True)
        out = F.linear(t([[params["x1"], params["x2"]]]), W, torch.zeros(2, dtype=D))
        (out * t([[params["g1"], params["g2"]]])).sum().backward()
        check(question, v, W.grad.numpy())


def test_softmax_ce_dlogit():
    for params, _, question, v in variants("backprop", "softmax-ce-dlogit"):
        z = t([[0.0, params["a"]]]).requires_grad_()
        F.cross_entropy(z, torch.tensor([0])).backward()
        check(question, v, z.grad[0, 0].item())


def test_sigmoid_backward_from_output():
    for params, _, question, v in variants("backprop", "sigmoid-backward-from-output"):
        s = params["s"]
        x = t(math.log(s / (1 - s))).requires_grad_()
        (torch.sigmoid(x) * params["g"]).backward()
        check(question, v, x.grad.item())


# ---------------------------------------------------------------- autodiff

def test_dual_product_rule_against_jvp():
    for params, _, question, v in variants("autodiff", "dual-product-rule"):
        _, tangent = torch.func.jvp(lambda x: x ** 2 * torch.sin(x), (t(params["a"]),), (t(1.0),))
        check(question, v, tangent.item())


def test_reused_node_accumulates():
    for params, _, question, v in variants("autodiff", "reused-node"):
        a = t(params["x"]).requires_grad_()
        (a * a + a).backward()
        check(question, v, a.grad.item())


def test_seeding_all_ones_gives_directional_derivative():
    for params, _, question, v in variants("autodiff", "seeding-all-ones"):
        _, tangent = torch.func.jvp(lambda x1, x2: x1 * x2 + x1 ** 2, (t(params["a"]), t(params["b"])),
                                    (t(1.0), t(1.0)))
        check(question, v, tangent.item())


def test_two_path_partial_symbolic():
    question = quiz("autodiff").question("two-path-partial")
    pts = symbolic_points(question)
    x1 = pts["x1"].clone().requires_grad_()
    x2 = pts["x2"]
    (x1 * x2 + torch.exp(x1 * x2) - torch.sin(x2)).sum().backward()
    assert np.allclose(symbolic_value(question, {}, pts), x1.grad.numpy(), rtol=1e-9)


# ---------------------------------------------------------------- optimizers

def test_momentum_effective_learning_rate():
    # One optimizer, one param group per student; 1000 steps with a constant gradient 1 let
    # the momentum buffer converge (0.99**1000 ~ 4e-5), then one step moves p by lr_eff.
    drawn = list(variants("optimizers", "momentum-effective-lr"))
    ps = [t(0.0).requires_grad_() for _ in drawn]
    opt = torch.optim.SGD([{"params": [p], "lr": d[0]["lr"], "momentum": d[0]["mu"]} for p, d in zip(ps, drawn)],
                          lr=0.1, foreach=True)
    for p in ps:
        p.grad = t(1.0)
    for _ in range(999):
        opt.step()
    before = [p.item() for p in ps]
    opt.step()
    for p, old, (_, _, question, v) in zip(ps, before, drawn):
        check(question, v, old - p.item(), rtol=1e-4)


def test_momentum_two_steps_against_torch_sgd():
    for params, _, question, v in variants("optimizers", "momentum-two-steps"):
        p = t(params["p0"]).requires_grad_()
        opt = torch.optim.SGD([p], lr=params["lr"], momentum=params["mu"])
        for g in (params["g1"], params["g2"]):
            p.grad = t(g)
            opt.step()
        check(question, v, p.item())


def test_adam_moments_and_bias_correction_against_torch_adam():
    for params, _, question, v in variants("optimizers", "adam-raw-first-moment"):
        p = t(0.0).requires_grad_()
        opt = torch.optim.Adam([p], lr=1e-3, betas=(params["b1"], 0.999))
        for _ in range(params["t"]):
            p.grad = t(params["g"])
            opt.step()
        check(question, v, opt.state[p]["exp_avg"].item())
    for params, _, question, v in variants("optimizers", "adam-bias-correction"):
        p = t(0.0).requires_grad_()
        opt = torch.optim.Adam([p], lr=1e-3, betas=(0.9, params["b2"]))
        for _ in range(params["t"]):
            p.grad = t(2.0)
            opt.step()
        # With a constant gradient g, v_t = (1 - beta2^t) g^2: the divisor is v_t / g^2.
        check(question, v, opt.state[p]["exp_avg_sq"].item() / 4.0)


def test_adam_first_step_against_torch_adam():
    for params, _, question, v in variants("optimizers", "adam-first-step"):
        p = t(0.0).requires_grad_()
        opt = torch.optim.Adam([p], lr=params["lr"])
        p.grad = t(params["g"])
        opt.step()
        check(question, v, -p.item())


def test_adamw_and_zero_grad_keys():
    # AdamW decays the weight directly: with zero gradient Adam(weight_decay) and AdamW differ.
    a, b = t(1.0).requires_grad_(), t(1.0).requires_grad_()
    adam = torch.optim.Adam([a], lr=0.1, weight_decay=0.1)
    adamw = torch.optim.AdamW([b], lr=0.1, weight_decay=0.1)
    a.grad, b.grad = t(0.0), t(0.0)
    adam.step()
    adamw.step()
    assert math.isclose(b.item(), 1.0 - 0.1 * 0.1)           # p <- p (1 - lr wd), no adaptive scaling
    assert math.isclose(a.item(), 1.0 - 0.1, rel_tol=1e-6)   # the L2 gradient is normalised by sqrt(v)
    assert quiz("optimizers").question("adamw-vs-l2").correct_keys == ("b",)
    # backward() accumulates into .grad until it is cleared.
    w = t(2.0).requires_grad_()
    (w * w).backward()
    (w * w).backward()
    assert w.grad.item() == 8.0
    assert quiz("optimizers").question("zero-grad-why").correct_keys == ("a",)


# ---------------------------------------------------------------- init

def test_xavier_bound_against_torch_init():
    gen = torch.Generator().manual_seed(0)
    for params, _, question, v in variants("init", "xavier-bound"):
        w = torch.empty(params["fan_out"], params["fan_in"], dtype=D)
        torch.nn.init.xavier_uniform_(w, generator=gen)
        bound = v.expected
        assert w.abs().max().item() <= bound and w.abs().max().item() > 0.97 * bound
        # the documented formula: gain * sqrt(6 / (fan_in + fan_out)), gain 1
        check(question, v, math.sqrt(6.0 / (params["fan_in"] + params["fan_out"])))


def test_kaiming_std_and_fans_and_gain():
    gen = torch.Generator().manual_seed(0)
    for params, _, question, v in variants("init", "kaiming-normal-std"):
        w = torch.empty(1000, params["fan_in"], dtype=D)
        torch.nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu", generator=gen)
        assert abs(w.std().item() / v.expected - 1) < 0.02
    for params, _, question, v in variants("init", "conv-fans"):
        fans = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(params["cout"], params["cin"],
                                                                       params["k"], params["k"]))
        check(question, v, list(fans))
    assert math.isclose(torch.nn.init.calculate_gain("tanh"), 5 / 3)
    assert quiz("init").question("tanh-gain").correct_keys == ("c",)


def test_preactivation_variance():
    gen = torch.Generator().manual_seed(0)
    for params, _, question, v in variants("init", "preactivation-variance"):
        w = params["s"] * torch.randn(2000, params["n"], generator=gen, dtype=D)
        x = math.sqrt(params["q"]) * torch.randn(2000, params["n"], generator=gen, dtype=D)
        assert abs((w * x).sum(1).var().item() / v.expected - 1) < 0.1


def test_linear_default_bound():
    torch.manual_seed(0)
    for params, _, question, v in variants("init", "linear-default-bound"):
        layer = torch.nn.Linear(params["fan_in"], 2000)
        top = layer.weight.abs().max().item()
        assert top <= v.expected + 1e-7 and top > 0.99 * v.expected


# ---------------------------------------------------------------- dropout

def test_dropout_scale_and_statistics():
    gen = torch.Generator().manual_seed(0)
    for params, _, question, v in variants("dropout", "inverted-scale"):
        torch.manual_seed(0)
        out = F.dropout(torch.ones(1000, dtype=D), p=params["p"], training=True)
        check(question, v, out.max().item())
    for params, _, question, v in variants("dropout", "kept-value"):
        torch.manual_seed(0)
        out = F.dropout(torch.full((1000,), params["x"], dtype=D), p=params["p"], training=True)
        check(question, v, out.max().item())
    for params, _, question, v in variants("dropout", "output-variance"):
        torch.manual_seed(0)
        out = F.dropout(torch.full((200_000,), float(params["x"]), dtype=D), p=params["p"], training=True)
        assert abs(out.var().item() / v.expected - 1) < 0.03
        assert abs(out.mean().item() / params["x"] - 1) < 0.01
    for params, _, question, v in variants("dropout", "expected-zeros"):
        m = torch.rand(200, params["n"], generator=gen) >= params["p"]
        assert abs((~m).sum(1).double().mean().item() / v.expected - 1) < 0.03
    drop = torch.nn.Dropout(0.5).eval()
    assert torch.equal(drop(torch.ones(10)), torch.ones(10))
    assert quiz("dropout").question("test-time").correct_keys == ("a",)


# ---------------------------------------------------------------- batchnorm

def test_batchnorm_forward_value():
    for params, _, question, v in variants("batchnorm", "bn-forward-value"):
        x = t([[params["x1"]], [params["x2"]], [params["x3"]]])
        out = F.batch_norm(x, None, None, weight=t([params["gamma"]]), bias=t([params["beta"]]),
                           training=True, eps=1e-12)
        check(question, v, out[0, 0].item())


def test_running_statistics_against_batchnorm1d():
    for params, _, question, v in variants("batchnorm", "running-mean"):
        bn = torch.nn.BatchNorm1d(1, momentum=params["mom"]).double()
        bn.running_mean.fill_(params["rm"])
        bn(t([[params["mu"] - 1.0], [params["mu"] + 1.0]]))
        check(question, v, bn.running_mean.item())
    for params, _, question, v in variants("batchnorm", "running-var-unbiased"):
        M = params["M"]
        z = torch.arange(M, dtype=D)
        z = (z - z.mean()) / z.std(unbiased=False)              # biased variance 1
        bn = torch.nn.BatchNorm1d(1).double()
        bn.running_var.fill_(params["rv"])
        bn((z * math.sqrt(params["vb"])).reshape(M, 1))
        check(question, v, bn.running_var.item())


def test_layernorm_vector():
    for params, _, question, v in variants("batchnorm", "layernorm-vector"):
        a, d = params["a"], params["d"]
        x = t([a, a + d, a + 2 * d, a + 3 * d])
        check(question, v, F.layer_norm(x, (4,), eps=0.0).numpy())


def test_batchnorm_dgamma():
    for params, _, question, v in variants("batchnorm", "bn-dgamma"):
        gamma = t([1.0]).requires_grad_()
        out = F.batch_norm(t([[params["a"]], [params["b"]]]), None, None, weight=gamma, bias=t([0.0]),
                           training=True, eps=1e-12)
        (out * t([[params["d1"]], [params["d2"]]])).sum().backward()
        check(question, v, gamma.grad.item())


# ---------------------------------------------------------------- training

def _lr_after(scheduler_factory, steps: int, lr0: float) -> float:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr0)
    sched = scheduler_factory(opt)
    for _ in range(steps):
        opt.step()
        sched.step()
    return opt.param_groups[0]["lr"]


def test_step_decay_against_steplr():
    for params, _, question, v in variants("training", "step-decay"):
        lr = _lr_after(lambda o: torch.optim.lr_scheduler.StepLR(o, params["step_size"], params["gamma"]),
                       params["t"], params["lr0"])
        check(question, v, lr, rtol=1e-9)


def test_cosine_against_cosineannealinglr():
    for params, _, question, v in variants("training", "cosine-annealing"):
        lr = _lr_after(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=params["K"],
                                                                            eta_min=params["lr_min"]),
                       params["t"], params["lr0"])
        check(question, v, lr, rtol=1e-9)


def test_noam_against_lambdalr():
    for params, _, question, v in variants("training", "noam-schedule"):
        d, W = params["d"], params["W"]

        def noam(step, d=d, W=W):
            return d ** -0.5 * min((step + 1) ** -0.5, (step + 1) * W ** -1.5)

        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=1.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, noam)
        opt.step()
        sched.last_epoch = params["t"] - 1      # jump to step t without stepping t times
        sched.step()
        check(question, v, opt.param_groups[0]["lr"], rtol=1e-9)


def test_batches_per_epoch_against_dataloader():
    for params, _, question, v in variants("training", "batches-per-epoch"):
        data = torch.utils.data.TensorDataset(torch.zeros(params["N"]))
        loader = torch.utils.data.DataLoader(data, batch_size=params["B"], shuffle=True, drop_last=False)
        check(question, v, len(loader))


def test_clip_grad_norm_against_torch():
    for params, _, question, v in variants("training", "clip-grad-norm"):
        p = torch.nn.Parameter(torch.zeros(2, dtype=D))
        p.grad = t([params["a"], params["b"]])
        torch.nn.utils.clip_grad_norm_([p], max_norm=params["c"])
        check(question, v, p.grad.numpy(), rtol=1e-5)


def test_early_stopping_epoch():
    losses = [1.00, 0.80, 0.75, 0.78, 0.75, 0.90, 0.74, 0.95, 0.96, 0.97]
    for params, _, question, v in variants("training", "early-stopping"):
        best, bad, stop = math.inf, 0, None
        for epoch, loss in enumerate(losses):
            if loss < best:
                best, bad = loss, 0
            else:
                bad += 1
            if bad >= params["patience"]:
                stop = epoch
                break
        check(question, v, stop)
