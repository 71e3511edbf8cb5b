"""Hidden suite for optimizers.py: end-to-end convergence on standard problems.

Each optimizer (with a learning rate tuned for the problem) runs 100 steps from the
problem's start on an ill-conditioned quadratic (condition number 100), the Rosenbrock
function and logistic regression on scikit-learn's breast cancer data, with gradients
computed by the grader. Two things are scored separately: how closely the student's
path follows the reference's (``convergence_trajectory``) and how much of the
reference's decrease in loss the student achieved (``convergence_loss``). Both tests
share one run of the student's optimizer per case.
"""

from __future__ import annotations

import weakref

import pytest

from grader import convergence, harness
from grader.errors import StudentError

pytestmark = pytest.mark.topic("optimizers")

STEPS = 100

# Gradient fields the worker evaluates itself (grader.harness.gradient_field): no round
# trip to the grader per step.
SPECS = {
    "quadratic": {"field": "problem", "name": "quadratic", "kwargs": {"dim": 10, "condition": 100.0, "seed": 0}},
    "rosenbrock": {"field": "problem", "name": "rosenbrock"},
    "logistic": {"field": "problem", "name": "logistic_regression", "kwargs": {"l2": 1e-3}},
}
PROBLEMS = {
    "quadratic": lambda: convergence.quadratic(**SPECS["quadratic"]["kwargs"]),
    "rosenbrock": convergence.rosenbrock,
    "logistic": lambda: convergence.logistic_regression(**SPECS["logistic"]["kwargs"]),
}

# (label, class, hyperparameters per problem): learning rates tuned on each problem.
OPTIMIZERS = {
    "SGD-momentum": ("SGD", dict(momentum=0.9), {"quadratic": 0.01, "rosenbrock": 1e-3, "logistic": 0.3}),
    "Nesterov": ("SGD", dict(momentum=0.9, nesterov=True), {"quadratic": 0.01, "rosenbrock": 1e-3, "logistic": 0.3}),
    "RMSprop": ("RMSprop", dict(), {"quadratic": 0.1, "rosenbrock": 0.01, "logistic": 0.03}),
    "Adagrad": ("Adagrad", dict(), {"quadratic": 1.0, "rosenbrock": 0.3, "logistic": 0.3}),
    "Adam": ("Adam", dict(), {"quadratic": 0.3, "rosenbrock": 0.1, "logistic": 0.1}),
    "AdamW": ("AdamW", dict(weight_decay=0.01), {"quadratic": 0.3, "rosenbrock": 0.1, "logistic": 0.1}),
}

CASES = [(p, o) for p in PROBLEMS for o in OPTIMIZERS]
IDS = [f"{o}-{p}" for p, o in CASES]

# Built on first use and kept for the whole grading run. The logistic-regression data
# comes from scikit-learn, whose import takes a few seconds: paid once per run (by the
# first submission), not at collection, so runs that grade other topics never pay it.
_problems: dict = {}
_reference_runs: dict = {}
_student_runs: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _problem(name):
    if name not in _problems:
        _problems[name] = PROBLEMS[name]()
    return _problems[name]


def _setup(problem_name, opt_name, device):
    problem = _problem(problem_name)
    cls, extra, lrs = OPTIMIZERS[opt_name]
    hparams = dict(extra, lr=lrs[problem_name])
    params0 = [s.to(device) for s in problem.start]
    label = f"{cls}({', '.join(f'{k}={v!r}' for k, v in hparams.items())}) on {problem.name}, {STEPS} steps"
    return problem, cls, hparams, params0, label


def _reference(reference, problem_name, opt_name, device):
    key = (problem_name, opt_name, str(device))
    if key not in _reference_runs:
        problem, cls, hparams, params0, _ = _setup(problem_name, opt_name, device)
        _reference_runs[key] = harness.run_optimizer(
            getattr(reference.optimizers, cls), params0, SPECS[problem_name], STEPS, hparams=hparams
        )
    return _reference_runs[key]


def _student(check, student, problem_name, opt_name, device):
    """The student's run, shared by the two tests of a case (one run per submission)."""
    runs = _student_runs.setdefault(student, {})
    key = (problem_name, opt_name, str(device))
    if key not in runs:
        problem, cls, hparams, params0, label = _setup(problem_name, opt_name, device)
        try:
            out = student.harness.run_optimizer(
                getattr(student.optimizers, cls), params0, SPECS[problem_name], STEPS, hparams=hparams
            )
        except StudentError as err:
            if "leaf Variable" in err.exc_message:
                check.fail(err.message, "update the parameters in place inside `with torch.no_grad():`")
            if "NoneType" in err.exc_message:
                check.fail(err.message, "skip every parameter whose .grad is None")
            raise
        if not isinstance(out, dict) or not isinstance(out.get("trajectory"), list):
            check.fail(f"{label}: the optimizer run returned no trajectory")
        runs[key] = out
    return runs[key]


@pytest.mark.parametrize("problem_name,opt_name", CASES, ids=IDS)
def test_convergence_trajectory(student, reference, check, device, problem_name, opt_name):
    """The student's path stays within 1e-6 (relative) of the reference's at every step."""
    *_, label = _setup(problem_name, opt_name, device)
    got = _student(check, student, problem_name, opt_name, device)
    want = _reference(reference, problem_name, opt_name, device)
    deviation = convergence.trajectory_deviation(got["trajectory"], want["trajectory"])
    check.close(
        deviation, 0.0, rtol=0.0, atol=1e-6,
        what=f"{label}: the largest distance between your path and the reference's, relative to "
             f"the distance travelled (trajectory deviation)",
        hint="the update rule differs from torch's: see the failures of the single-optimizer tests "
             "for which formula",
    )


@pytest.mark.parametrize("problem_name,opt_name", CASES, ids=IDS)
def test_convergence_loss(student, reference, check, device, problem_name, opt_name):
    """The student's final loss is at least as low as 99% of the reference's progress."""
    problem, *_, label = _setup(problem_name, opt_name, device)
    got = _student(check, student, problem_name, opt_name, device)
    want = _reference(reference, problem_name, opt_name, device)
    initial = problem.value(problem.start)
    try:
        final = problem.value(got["trajectory"][-1])
    except Exception:  # a malformed trajectory: no progress
        final = float("nan")
    ratio = convergence.progress_ratio(initial, final, problem.value(want["trajectory"][-1]))
    check.close(
        max(0.0, 1.0 - ratio), 0.0, rtol=0.0, atol=0.01,
        what=f"{label}: final loss {final:.4g} from {initial:.4g}; the share of the reference "
             f"optimizer's loss decrease that you did NOT achieve",
        hint="the optimizer makes less progress than torch's: check the update rule and "
             "the hyperparameters it reads",
    )
