from __future__ import annotations

import math

import pytest
import torch

from grader.convergence import logistic_regression, progress_ratio, quadratic, rosenbrock, trajectory_deviation
from grader.harness import run_clipping, run_optimizer


@pytest.mark.parametrize("problem", [quadratic(), rosenbrock(), logistic_regression()], ids=lambda p: p.name.split()[0])
def test_problem_gradients_match_finite_differences(problem):
    g = torch.Generator().manual_seed(0)
    point = [s + 0.1 * torch.randn(s.shape, generator=g, dtype=torch.float64) for s in problem.start]
    grad = problem.grad_fn()([p.clone() for p in point], 0)[0]
    eps = 1e-6
    for i in range(min(5, point[0].numel())):
        up, down = point[0].clone(), point[0].clone()
        up[i] += eps
        down[i] -= eps
        numeric = (problem.value([up]) - problem.value([down])) / (2 * eps)
        assert numeric == pytest.approx(float(grad[i]), rel=1e-5, abs=1e-7)


def test_quadratic_is_ill_conditioned_and_solvable():
    p = quadratic(condition=100.0)
    assert p.value(p.start) > 0


def test_run_optimizer_matches_a_hand_loop_with_torch_sgd():
    problem = rosenbrock()
    out = run_optimizer(torch.optim.SGD, problem.start, problem.grad_fn(), 20, {"lr": 1e-3, "momentum": 0.9},
                        changes=[(10, {"lr": 5e-4})], check_grads=True)
    w = problem.start[0].clone().requires_grad_(True)
    opt = torch.optim.SGD([w], lr=1e-3, momentum=0.9)
    for t in range(20):
        if t == 10:
            opt.param_groups[0]["lr"] = 5e-4
        opt.zero_grad()
        problem.loss([w]).backward()
        opt.step()
        assert torch.allclose(out["trajectory"][t][0], w.detach(), rtol=1e-12, atol=0)
    assert out["grads_modified"] is False and out["graph_built"] is False


def test_run_optimizer_flags_in_place_grad_changes():
    class Sloppy(torch.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": 0.1})

        @torch.no_grad()
        def step(self):
            for p in self.param_groups[0]["params"]:
                p.grad.mul_(2)
                p.sub_(0.1 * p.grad)

    out = run_optimizer(Sloppy, [torch.ones(2)], lambda ps, t: [torch.ones(2)], 2, check_grads=True)
    assert out["grads_modified"] is True


def test_run_clipping_matches_torch():
    grads = [torch.full((3,), 3.0), None, torch.full((2,), 4.0)]
    out = run_clipping(torch.nn.utils.clip_grad_norm_, grads, {"max_norm": 1.0})
    params = [torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)]
    params[0].grad, params[1].grad = grads[0].clone(), grads[2].clone()
    total = torch.nn.utils.clip_grad_norm_(params, 1.0)
    assert torch.equal(out["result"], total) and out["grads"][1] is None
    assert torch.equal(out["grads"][2], params[1].grad)


def test_trajectory_deviation_and_progress():
    ref = [[torch.tensor([float(t), 0.0])] for t in range(1, 5)]
    assert trajectory_deviation(ref, ref) == 0.0
    off = [[p[0] + 0.01] for p in ref]
    assert 0 < trajectory_deviation(off, ref) < 0.02
    assert trajectory_deviation(ref[:-1], ref) == math.inf
    assert trajectory_deviation([[torch.tensor([float("nan"), 0.0])]] * 4, ref) == math.inf
    assert progress_ratio(10.0, 1.0, 1.0) == 1.0
    assert progress_ratio(10.0, 5.5, 1.0) == pytest.approx(0.5)
    assert progress_ratio(10.0, float("nan"), 1.0) == 0.0
