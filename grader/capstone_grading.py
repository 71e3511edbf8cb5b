"""Grading the convergence capstone in the trusted grader, from raw material only.

The student's pipeline trains in the worker (:mod:`grader.capstone`), one call per
epoch, and reports the weights after every step, the gradients it gave its optimizer and
its dropout masks. None of that is taken on trust:

* the initial weights come from the student's initializers called one at a time by the
  grader with seeds it picks, and must lie in the initializers' ranges;
* every step must be an Adam step: the grader runs Adam itself over the reported
  gradients and requires each reported update to point the way Adam's does (cosine at
  least :data:`UPDATE_COSINE`) and to stay within :data:`MAX_STEP_LR` learning rates per
  weight, so weights cannot jump to values trained elsewhere;
* at a few steps the grader picks at random after the run, it recomputes the gradient of
  the loss with the reference network at the reported weights, on the batch it knows and
  with the reported dropout mask, and requires the reported gradient to agree in
  direction (cosine at least :data:`GRADIENT_COSINE`), so the gradients are not invented;
* batchnorm's running statistics are recomputed from the batches and weights, and test
  accuracy, test loss and training loss are computed here from the weights, with the
  grader's own evaluation code, so no prediction or score comes from the worker.

The tolerances accept the honest slips a convergent pipeline makes (Adam without bias
correction, a scaled gradient, a biased variance) and refuse updates and gradients that
were not computed by a training run.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from grader.capstone import (
    PARAM_NAMES,
    PART_FUNCTIONS,
    PARTS,
    WORKER_PARTS,
    PipelineSpec,
    Trainer,
    batches,
    digits,
    flatten,
    full_params,
    param_shapes,
    reference_part,
    served_functions,
    unflatten,
)
from grader.errors import StudentFailure

UPDATE_COSINE = 0.8
GRADIENT_COSINE = 0.5
MAX_STEP_LR = 10.0  # Adam moves a weight by at most about 3.2 lr per step
INIT_RANGE = 3.0  # initial weights within 3 times the initializer's bound
SPOT_CHECKS = 3
REPLAY_RTOL, REPLAY_ATOL = 1e-6, 1e-7  # the same code on the same numbers: equal up to rounding
BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


# -- the run, as the grader receives it ------------------------------------------------------
@dataclass
class Run:
    """A training run's raw material: the initial weights and, per epoch, every step's
    weights, gradients and dropout mask; ``failure`` when the pipeline raised."""

    initial: list[torch.Tensor]
    epochs: list[list[dict[str, Any]]] = field(default_factory=list)
    diverged: bool = False
    failure: str | None = None

    @property
    def steps(self) -> list[dict[str, Any]]:
        return [s for epoch in self.epochs for s in epoch]


def sizes_of(data: dict[str, torch.Tensor], spec: PipelineSpec) -> tuple[int, int, int]:
    return int(data["x_train"].shape[1]), spec.hidden, int(data["y_train"].max().item()) + 1


def _init_seeds(spec: PipelineSpec) -> list[int]:
    return [spec.seed * 1009 + k for k in (1, 2, 3, 4)]


def initial_weights(init: Any, spec: PipelineSpec, sizes: tuple[int, int, int], in_place: bool) -> list[torch.Tensor]:
    """W1 (kaiming uniform, relu), b1, W2 (xavier uniform), b2 (fan-in uniform biases),
    drawn by ``init``'s functions with a generator per tensor. With ``in_place`` (the
    student's functions through the sandbox) the tensor each call filled is used, as the
    SPEC says initializers fill their argument; the reference is called directly."""
    n_in, hidden, n_out = sizes
    s1, s2, s3, s4 = _init_seeds(spec)
    calls = [
        ("kaiming_uniform_", (hidden, n_in), dict(a=0, mode="fan_in", nonlinearity="relu"), s1),
        ("fan_in_uniform_", (hidden,), dict(fan_in=n_in), s2),
        ("xavier_uniform_", (n_out, hidden), dict(gain=1.0), s3),
        ("fan_in_uniform_", (n_out,), dict(fan_in=hidden), s4),
    ]
    out = []
    for name, shape, kwargs, seed in calls:
        t = torch.zeros(shape)
        gen = torch.Generator().manual_seed(seed)
        fn = getattr(init, name)
        if in_place:
            record = fn.inspect_call(t, **kwargs, generator=gen)
            t = record.args[0] if record.args else None
        else:
            fn(t, **kwargs, generator=gen)
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape or t.dtype != torch.float32:
            raise ValueError(f"{name} did not leave a float32 tensor of shape {shape} in its argument")
        out.append(t.detach().clone())
    return out


def check_initial(initial: list[torch.Tensor], sizes: tuple[int, int, int]) -> str | None:
    """The initial weights must be finite and within INIT_RANGE times their initializer's
    bound: weights trained elsewhere do not pass as an initialisation."""
    n_in, hidden, n_out = sizes
    bounds = {"W1": math.sqrt(6.0 / n_in), "b1": 1 / math.sqrt(n_in),
              "W2": math.sqrt(6.0 / (hidden + n_out)), "b2": 1 / math.sqrt(hidden)}
    for (name, bound), t in zip(bounds.items(), initial):
        if not bool(torch.isfinite(t).all()):
            return f"the initial {name} holds nan or inf"
        if float(t.abs().max()) > INIT_RANGE * bound:
            return (f"the initial {name} has a weight of size {float(t.abs().max()):.3g}, beyond {INIT_RANGE:g} times "
                    f"its initializer's bound {bound:.3g}")
    return None


def read_epoch(record: Any, spec: PipelineSpec, sizes: tuple[int, int, int], n_train: int,
               epoch: int) -> tuple[list[dict], bool]:
    """An epoch's report checked for form before anything is computed from it: at most
    the epoch's number of steps, every tensor of the exact shape. ValueError otherwise."""
    hidden = sizes[1]
    width = sum(int(torch.Size(shape).numel()) for shape in param_shapes(sizes))
    if not isinstance(record, dict) or not isinstance(record.get("steps"), list):
        raise ValueError("an epoch of the capstone run did not report its steps")
    expected = batches(spec, n_train, epoch)
    steps = record["steps"]
    diverged = record.get("diverged") is True
    if len(steps) > len(expected) or (len(steps) < len(expected) and not diverged):
        raise ValueError(f"an epoch of the capstone run reported {len(steps)} steps; it has {len(expected)} batches")
    for k, step in enumerate(steps):
        if not isinstance(step, dict):
            raise ValueError(f"step {k + 1} of the capstone run is not a record")
        for key in ("params", "grads"):
            value = step.get(key)
            if not (isinstance(value, torch.Tensor) and value.dtype == torch.float32 and tuple(value.shape) == (width,)):
                raise ValueError(f"step {k + 1} of the capstone run reported {key} of the wrong form")
        kept = step.get("kept")
        if not isinstance(kept, torch.Tensor) or kept.dtype != torch.bool or tuple(kept.shape) != (len(expected[k]), hidden):
            raise ValueError(f"step {k + 1} of the capstone run reported a dropout mask of the wrong form")
    return steps, diverged


# -- Adam, the network and the metrics, computed here ---------------------------------------
def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    na, nb = float(a.norm()), float(b.norm())
    if na == 0.0 or nb == 0.0:
        return 1.0 if na == nb else 0.0
    return float(a @ b) / (na * nb)


def _block(sizes: tuple[int, int, int], name: str) -> slice:
    """Where parameter ``name`` lies in a flattened parameter vector."""
    lengths = [int(torch.Size(shape).numel()) for shape in param_shapes(sizes)]
    k = PARAM_NAMES.index(name)
    return slice(sum(lengths[:k]), sum(lengths[:k + 1]))


def check_updates(run: Run, spec: PipelineSpec, sizes: tuple[int, int, int]) -> str | None:
    """Every reported step is an Adam step on the reported gradients: Adam is run here,
    and each update must point its way (overall and for W1 and W2) and be no larger than
    MAX_STEP_LR learning rates for any weight. One pass over the steps, in float64."""
    hidden = sizes[1]
    blocks = {"all weights": slice(None), "W1": _block(sizes, "W1"), "W2": _block(sizes, "W2")}
    b1, b2 = BETAS
    prev = flatten(full_params(run.initial, hidden)).double()
    m = torch.zeros_like(prev)
    v = torch.zeros_like(prev)
    for t, step in enumerate(run.steps, start=1):
        g, cur = step["grads"].double(), step["params"].double()
        if not (bool(torch.isfinite(g).all()) and bool(torch.isfinite(cur).all())):
            return None  # a run that diverged is judged up to there: its accuracy says the rest
        m.mul_(b1).add_(g, alpha=1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        adam = (m / (1 - b1**t)).div_((v / (1 - b2**t)).sqrt_().add_(ADAM_EPS)).mul_(-spec.lr)
        update = cur - prev
        biggest = float(update.abs().max())
        if biggest > MAX_STEP_LR * spec.lr:
            return (f"at step {t} a weight moved by {biggest:.3g}, more than {MAX_STEP_LR:g} times the learning rate "
                    f"({spec.lr:g}); an Adam step moves a weight by at most about 3 times it")
        for name, cols in blocks.items():
            cos = _cosine(update[cols], adam[cols])
            if cos < UPDATE_COSINE:
                return (f"at step {t} the update of {name} does not follow Adam's rule for the gradients your "
                        f"pipeline computed (cosine {cos:.2f} with Adam's update, at least {UPDATE_COSINE} "
                        "expected)")
        prev = cur
    return None


def reference_gradient(params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor, kept: torch.Tensor,
                       spec: PipelineSpec) -> list[torch.Tensor]:
    """The gradient of the mean cross-entropy of the capstone network (batch statistics,
    the given dropout mask) with respect to its six parameters, by autograd, in float64."""
    leaves = [p.detach().to(torch.float64).clone().requires_grad_(True) for p in params]
    w1, b1, gamma, beta, w2, b2 = leaves
    h1 = x.double() @ w1.T + b1
    mean = h1.mean(0)
    var = h1.var(0, unbiased=False)
    h2 = gamma * (h1 - mean) / torch.sqrt(var + spec.eps) + beta
    h4 = torch.relu(h2) * kept.double() / (1.0 - spec.dropout)
    logits = h4 @ w2.T + b2
    loss = F.cross_entropy(logits, y)
    return list(torch.autograd.grad(loss, leaves))


def check_gradients(run: Run, spec: PipelineSpec, data: dict[str, torch.Tensor], sizes: tuple[int, int, int],
                    picks: list[int]) -> str | None:
    """At the steps ``picks`` (global indices, chosen after the run), the reported
    gradient must agree in direction with the reference network's at the reported weights."""
    steps = run.steps
    located = _located(run, spec, data)
    for index in picks:
        if index >= len(steps):
            continue
        before = _before(run, index, spec)
        if not bool(torch.isfinite(before).all()):
            continue
        idx, step = located[index]
        want = reference_gradient(unflatten(before, sizes), data["x_train"][idx], data["y_train"][idx],
                                  step["kept"], spec)
        cos = _cosine(step["grads"].double(), flatten(want).double())
        if cos < GRADIENT_COSINE:
            return (f"at step {index + 1} the gradients your pipeline gave the optimizer do not agree with the "
                    f"gradient of the loss at those weights (cosine {cos:.2f}, at least {GRADIENT_COSINE} expected)")
    return None


def running_statistics(run: Run, spec: PipelineSpec, data: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batchnorm's running mean and variance at the end of every epoch, recomputed from
    the batches and the weights each step started from (momentum as torch's batch_norm,
    unbiased variance into the running variance)."""
    hidden = spec.hidden
    sizes = sizes_of(data, spec)
    mean, var = torch.zeros(hidden), torch.ones(hidden)
    params = run.initial[:2]
    out = []
    for epoch, epoch_steps in enumerate(run.epochs):
        rows = batches(spec, len(data["x_train"]), epoch)
        for k, step in enumerate(epoch_steps):
            w1, b1 = params[0], params[1]
            h1 = data["x_train"][rows[k]] @ w1.T + b1
            mean = (1 - spec.momentum) * mean + spec.momentum * h1.mean(0)
            var = (1 - spec.momentum) * var + spec.momentum * h1.var(0, unbiased=True)
            params = unflatten(step["params"], sizes)[:2]
        out.append((mean.clone(), var.clone()))
    return out


def evaluate_weights(params: list[torch.Tensor], stats: tuple[torch.Tensor, torch.Tensor], x: torch.Tensor,
                     y: torch.Tensor, spec: PipelineSpec) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the network in evaluation mode."""
    w1, b1, gamma, beta, w2, b2 = (p.detach().to(torch.float32) for p in params)
    mean, var = stats
    with torch.no_grad():
        h2 = gamma * (x @ w1.T + b1 - mean) / torch.sqrt(var + spec.eps) + beta
        logits = torch.relu(h2) @ w2.T + b2
        loss = float(F.cross_entropy(logits, y))
        accuracy = float((logits.argmax(dim=1) == y).double().mean())
    return loss, accuracy


def history(run: Run, spec: PipelineSpec, data: dict[str, torch.Tensor], last_only: bool = False) -> list[dict[str, float]]:
    """Per epoch: the training-set loss and the test loss and accuracy of the weights
    at the end of the epoch, computed here."""
    stats = running_statistics(run, spec, data)
    sizes = sizes_of(data, spec)
    out = []
    params = full_params(run.initial, spec.hidden)
    for k, epoch_steps in enumerate(run.epochs):
        if epoch_steps:
            params = unflatten(epoch_steps[-1]["params"], sizes)
        if last_only and k < len(run.epochs) - 1:
            continue
        if not all(bool(torch.isfinite(p).all()) for p in params):
            out.append({"train_loss": math.nan, "test_loss": math.nan, "test_accuracy": math.nan})
            continue
        train_loss, _ = evaluate_weights(params, stats[k], data["x_train"], data["y_train"], spec)
        test_loss, test_acc = evaluate_weights(params, stats[k], data["x_test"], data["y_test"], spec)
        out.append({"train_loss": train_loss, "test_loss": test_loss, "test_accuracy": test_acc})
    if run.diverged and out:
        out[-1] = {"train_loss": math.nan, "test_loss": math.nan, "test_accuracy": math.nan}
    return out


def pick_steps(run: Run, rng: random.Random | None = None) -> list[int]:
    """SPOT_CHECKS step indices drawn after the run reported its steps (from the operating
    system's randomness unless ``rng`` is given)."""
    n = len(run.steps)
    rng = rng or random.SystemRandom()
    return sorted(rng.sample(range(n), min(SPOT_CHECKS, n))) if n else []


def verify(run: Run, spec: PipelineSpec, data: dict[str, torch.Tensor], picks: list[int]) -> str | None:
    """Why the run cannot be credited, or None, from the checks made here: the initial
    weights, every update against Adam's rule, and the gradients at ``picks`` against
    the reference network's."""
    sizes = sizes_of(data, spec)
    return (check_initial(run.initial, sizes) or check_updates(run, spec, sizes)
            or check_gradients(run, spec, data, sizes, picks))


def _close(got: Any, want: torch.Tensor) -> bool:
    return (isinstance(got, torch.Tensor) and got.shape == want.shape and got.dtype == want.dtype
            and bool(torch.allclose(got, want, rtol=REPLAY_RTOL, atol=REPLAY_ATOL, equal_nan=True)))


def _before(run: Run, index: int, spec: PipelineSpec) -> torch.Tensor:
    """The weights step ``index`` started from, flattened."""
    return flatten(full_params(run.initial, spec.hidden)) if index == 0 else run.steps[index - 1]["params"]


def check_in_fresh_worker(student: Any, run: Run, spec: PipelineSpec, data: dict[str, torch.Tensor],
                          picks: list[int]) -> str | None:
    """Ask the student's own code again, in a worker that never saw the run: its Adam,
    replayed from the initial weights over the reported gradients, must give every
    reported weight, and its backprop, batchnorm and dropout, at the steps ``picks``, the
    reported gradients and dropout masks. A run that some other code produced, or that
    the worker made up, does not survive this."""
    steps = run.steps
    if not steps:
        return None
    located = _located(run, spec, data)
    sizes = list(sizes_of(data, spec))
    with student.fresh() as clean:
        replayed = clean.harness.capstone_replay_optimizer(
            clean.optimizers.Adam, run.initial, sizes, spec.lr, [s["grads"] for s in steps])
        if not (isinstance(replayed, list) and len(replayed) == len(steps)
                and all(isinstance(r, torch.Tensor) and r.shape == steps[0]["params"].shape for r in replayed)):
            return "your Adam, replayed on the gradients of the run in a fresh worker, did not give one step per gradient"
        differs = ~torch.isclose(torch.stack(replayed), torch.stack([s["params"] for s in steps]),
                                 rtol=REPLAY_RTOL, atol=REPLAY_ATOL, equal_nan=True).all(dim=1)
        if bool(differs.any()):
            k = int(differs.nonzero()[0])
            return (f"your Adam, replayed on the run's gradients in a fresh worker, gives other weights at step "
                    f"{k + 1} than the run reported: the weights did not come from your optimizer")
        functions = {name: {fn: getattr(getattr(clean, name), fn) for fn in PART_FUNCTIONS[name]}
                     for name in ("backprop", "batchnorm", "dropout")}
        for index in picks:
            rows, step = located[index]
            before = unflatten(_before(run, index, spec), tuple(sizes))
            got = clean.harness.capstone_gradients(functions, spec.as_dict(), sizes, before,
                                                   data["x_train"][rows], data["y_train"][rows], index + 1)
            grads = got.get("grads") if isinstance(got, dict) else None
            kept = got.get("kept") if isinstance(got, dict) else None
            if not (isinstance(kept, torch.Tensor) and kept.shape == step["kept"].shape
                    and bool(torch.equal(kept, step["kept"])) and _close(grads, step["grads"])):
                return (f"at step {index + 1} your backprop, batchnorm and dropout, run again in a fresh worker on "
                        "the same weights and batch, give other gradients than the run reported")
    return None


def _located(run: Run, spec: PipelineSpec, data: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, dict]]:
    """(batch rows, step) for every step of the run, in order."""
    located = []
    for epoch, epoch_steps in enumerate(run.epochs):
        rows = batches(spec, len(data["x_train"]), epoch)
        located += [(rows[k], s) for k, s in enumerate(epoch_steps)]
    return located


# -- running the pipeline --------------------------------------------------------------------
def _training_data(data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What the worker needs: the training split only (the grader evaluates on the test set)."""
    return {"x_train": data["x_train"], "y_train": data["y_train"]}


def _collect(trainer: Any, initial: list[torch.Tensor], spec: PipelineSpec, data: dict[str, torch.Tensor]) -> Run:
    sizes = sizes_of(data, spec)
    run = Run(initial)
    # a worker's trainer is a remote object: .method() makes each epoch one round trip
    epoch_call = trainer.method("epoch") if hasattr(type(trainer), "method") else trainer.epoch
    for epoch in range(spec.epochs):
        steps, diverged = read_epoch(epoch_call(), spec, sizes, len(data["x_train"]), epoch)
        run.epochs.append(steps)
        if diverged:
            run.diverged = True
            break
    return run


def run_reference(reference: Any, spec: PipelineSpec, data: dict[str, torch.Tensor]) -> Run:
    """The reference pipeline, here in the grader."""
    initial = initial_weights(reference.init, spec, sizes_of(data, spec), in_place=False)
    parts = {name: reference_part(name, getattr(reference, name)) for name in WORKER_PARTS}
    return _collect(Trainer(parts, spec.as_dict(), _training_data(data), initial), initial, spec, data)


def run_student(student: Any, reference: Any, spec: PipelineSpec, data: dict[str, torch.Tensor],
                swap: str | None = None) -> Run:
    """The student's pipeline in its worker, ``swap`` naming a part the reference plays
    (served by callbacks from here; a swapped init is drawn here)."""
    sizes = sizes_of(data, spec)
    if swap == "init":
        initial = initial_weights(reference.init, spec, sizes, in_place=False)
    else:
        initial = initial_weights(student.init, spec, sizes, in_place=True)
    own = {
        name: {fn: getattr(getattr(student, name), fn) for fn in PART_FUNCTIONS[name]}
        for name in WORKER_PARTS
        if name != swap
    }
    served = {swap: served_functions(swap, getattr(reference, swap), spec)} if swap in WORKER_PARTS else {}
    trainer = student.harness.capstone_trainer(own, served, spec.as_dict(), _training_data(data), initial)
    return _collect(trainer, initial, spec, data)


# -- scoring ---------------------------------------------------------------------------------
def accuracy_credit(student: float, reference: float, slack: float = 0.03, chance: float = 0.1) -> float:
    """Full credit within ``slack`` of the reference accuracy; below it, linear in the
    accuracy above chance level, so 0 at chance."""
    if not math.isfinite(student):
        return 0.0
    target = reference - slack
    if student >= target:
        return 1.0
    return max(0.0, (student - chance) / max(target - chance, 1e-9))


def culprits(student_acc: float, swapped: dict[str, float], reference_acc: float, slack: float = 0.03) -> list[str]:
    """The modules :func:`culprit_hint` names: those whose reference version brings the
    accuracy within ``slack`` of the reference's, best first; failing that, the one that
    improves it most (by more than 0.02); else none."""
    target = reference_acc - slack
    recovered = sorted(((acc, name) for name, acc in swapped.items() if math.isfinite(acc) and acc >= target),
                       reverse=True)
    if recovered:
        return [name for _, name in recovered]
    best = max(((acc, name) for name, acc in swapped.items() if math.isfinite(acc)), default=None)
    return [best[1]] if best is not None and best[0] > student_acc + 0.02 else []


def culprit_hint(student_acc: float, swapped: dict[str, float], reference_acc: float, slack: float = 0.03) -> str | None:
    """Name the part whose reference version recovers the accuracy (pure function)."""
    if not swapped:
        return None
    target = reference_acc - slack
    recovered = sorted((acc, name) for name, acc in swapped.items() if math.isfinite(acc) and acc >= target)
    if recovered:
        names = [name for _, name in sorted(recovered, reverse=True)]
        best_acc = max(acc for acc, _ in recovered)
        if len(names) == 1:
            return (
                f"with the reference {names[0]} your pipeline reaches {best_acc:.3f}: look at your {names[0]}.py"
            )
        listed = ", ".join(names)
        return f"swapping in the reference for any one of {listed} recovers {best_acc:.3f}: look at those modules"
    best_name, best = max(
        ((name, acc) for name, acc in swapped.items() if math.isfinite(acc)), key=lambda t: t[1], default=(None, None)
    )
    if best_name is None or best is None or best <= student_acc + 0.02:
        return "no single module explains it: swapping in the reference for one module at a time did not help"
    return (
        f"no single module recovers the accuracy; with the reference {best_name} it improves most "
        f"(to {best:.3f}): start with {best_name}.py"
    )


@dataclass
class CapstoneReport:
    """The capstone's outcome for one submission: credit, feedback, numbers and curves."""

    credit: float
    message: str
    hint: str | None
    metrics: dict[str, float]
    curves: dict[str, list[float]]


_BASELINES: dict[tuple, list[dict[str, float]]] = {}


def reference_history(reference: Any, spec: PipelineSpec, data_seed: int) -> list[dict[str, float]]:
    """The reference pipeline's numbers per epoch, computed once per grading process."""
    key = (id(reference), spec, data_seed)
    if key not in _BASELINES:
        data = digits(seed=data_seed)
        _BASELINES[key] = history(run_reference(reference, spec, data), spec, data)
    return _BASELINES[key]


def _final(hist: list[dict[str, float]]) -> float:
    return float(hist[-1]["test_accuracy"]) if hist else math.nan


def evaluate(
    student: Any, reference: Any, spec: PipelineSpec, data_seed: int = 0, slack: float = 0.03
) -> CapstoneReport:
    """Train the student's pipeline, check the run, score its test accuracy (computed here)
    against the reference's, and when it falls short find the part whose reference
    version recovers it."""
    ref = reference_history(reference, spec, data_seed)
    ref_acc = _final(ref)
    curves = {
        "reference_train_loss": [e["train_loss"] for e in ref],
        "reference_test_accuracy": [e["test_accuracy"] for e in ref],
    }
    metrics = {"reference_accuracy": ref_acc, "epochs": float(spec.epochs)}
    missing = [name for name in PARTS if not student.has(name)]
    if missing:
        files = ", ".join(f"{m}.py" for m in missing)
        return CapstoneReport(
            0.0, f"the capstone trains with your own {', '.join(PARTS)}: {files} missing or not importable", None, metrics, curves
        )
    data = digits(seed=data_seed)
    failure = problem = None
    mine: list[dict[str, float]] = []
    diverged = False
    try:
        run = run_student(student, reference, spec, data)
    except StudentFailure as exc:
        failure = exc.message
    except ValueError as exc:  # what the pipeline reported is not of the form a run has
        failure = str(exc)
    else:
        picks = pick_steps(run)
        problem = verify(run, spec, data, picks)
        if problem is None:
            try:
                problem = check_in_fresh_worker(student, run, spec, data, picks)
            except StudentFailure as exc:
                problem = f"the run could not be checked in a fresh worker: {exc.message}"
        mine = history(run, spec, data)
        diverged = run.diverged
    acc = _final(mine)
    curves["train_loss"] = [e["train_loss"] for e in mine]
    curves["test_accuracy"] = [e["test_accuracy"] for e in mine]
    metrics["accuracy"] = acc
    credit = 0.0 if failure or problem else accuracy_credit(acc, ref_acc, slack)
    if credit >= 1.0:
        return CapstoneReport(1.0, "", None, metrics, curves)
    swapped: dict[str, float] = {}
    for name in PARTS:
        try:
            trial = run_student(student, reference, spec, data, swap=name)
        except (StudentFailure, ValueError):
            swapped[name] = math.nan
        else:  # a hint too comes only from a run that passes the checks made here
            unverified = verify(trial, spec, data, pick_steps(trial)) is not None
            swapped[name] = math.nan if unverified else _final(history(trial, spec, data, last_only=True))
        metrics[f"accuracy_with_reference_{name}"] = swapped[name]
    if failure:
        message = f"the capstone pipeline failed: {failure}"[:400]
    elif problem:
        message = f"the capstone could not credit your training run: {problem}"[:400]
    elif diverged or not math.isfinite(acc):
        message = "the capstone pipeline diverged: the training loss became nan or inf"
    else:
        message = (
            f"your pipeline reaches test accuracy {acc:.3f} after {len(mine)} epochs on the digits data; "
            f"the reference pipeline reaches {ref_acc:.3f} (full marks from {ref_acc - slack:.3f})"
        )
    base = acc if math.isfinite(acc) and not problem else 0.0
    return CapstoneReport(credit, message, culprit_hint(base, swapped, ref_acc, slack), metrics, curves)
