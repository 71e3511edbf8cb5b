"""Hidden suite for training.py, part 2: the training loop ``train``.

Every case is a spec (data only: layer sizes, seeds, optimizer and scheduler by name,
early-stopping settings, the data) that ``harness.run_training`` turns into a small
network (Linear, BatchNorm1d, ReLU, Dropout, Linear), a torch.optim optimizer, a
scheduler and an early stopper written for the grader, and hands to ``train``: once
beside the student's code and once here with the reference, with the same seeds.

What decides a score: only what the student's loop computes -- the history it returns
and the model's weights afterwards -- compared here with the reference's run of the
same spec. The harness also records how the loop drove the model (modes, batches,
gradient states, learning rates, scheduler and stopper calls), but it records that
inside the worker, beside the student's code, which can rewrite it; those records
only choose the hint ("likely mistake") and notes, never credit.

Each rule of the loop keeps a test of its own because its run is built so that the
rule decides the compared numbers and no other rule can change them: a learning rate
of 0 (the weights never move, so gradient bookkeeping, batching and step counts leave
no trace), BatchNorm off, on, or on batch statistics in both modes, dropout on or off,
identical training rows (the grouping of rows into batches leaves no trace), N
divisible by the batch size, or a loss with a zero gradient so that steps change the
weights only through weight decay. Each test's docstring gives its reasoning;
tests/reference/test_training_reference.py runs loops with one slip each through every
test and proves that each slip costs points only where it should.

What comes back from the worker is checked for its size before anything reads it
(see ``history``, :class:`Record` and ``snapshots``): a submission can make it huge.

The early stopper given to ``train`` is the grader's, so ``train`` is graded
independently of the submission's own EarlyStopping class.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import pytest
import torch

from grader import harness_training
from grader.compare import Tolerance, compare
from grader.device_check import on_device
from grader.diagnosis import Mistake
from grader.errors import StudentError

pytestmark = pytest.mark.topic("training")

F32, F64 = torch.float32, torch.float64
C, D, HIDDEN = 3, 4, 6
KEYS = ("train_loss", "val_loss", "val_accuracy")

# What the grader reads of a run's records at most (a correct loop on these specs
# leaves a few hundred); longer records are not read at all.
MAX_EVENTS = 5000
MAX_ROWS = 64

OPTIMIZERS = {
    "sgd": ("SGD", {"lr": 0.2}),
    "momentum": ("SGD", {"lr": 0.1, "momentum": 0.9}),
    "adam": ("Adam", {"lr": 0.02}),
    "rmsprop-wd": ("RMSprop", {"lr": 0.01, "weight_decay": 1e-3}),
    # the probes: weights that never move, plain steps, pure weight decay
    "frozen": ("SGD", {"lr": 0.0}),
    "sgd-plain": ("SGD", {"lr": 0.5}),
    "decay": ("SGD", {"lr": 0.2, "weight_decay": 0.5}),
    "momentum-decay": ("SGD", {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.5}),
}


def _seed(gen) -> int:
    return int(torch.randint(0, 2**62, (), generator=gen))


def blobs(gen, n, centers, flip=False):
    """n points around the class centers (Gaussian blobs); flip shifts every label by one,
    so the validation loss grows as the model learns the training labels."""
    y = torch.randint(0, C, (n,), generator=gen)
    X = centers[y] + torch.randn(n, D, generator=gen, dtype=F64)
    return X, (y + 1) % C if flip else y


def make_spec(gen, dtype, device, *, optimizer="momentum", scheduler=None, early_stopping=None,
              epochs=3, batch_size=4, n_train=14, n_val=9, dropout=0.25, batchnorm=True,
              running_stats=True, loss="cross_entropy", start_in_eval=False, flip_val=False,
              same_rows=False, same_labels=False):
    """A spec; ``same_rows`` repeats the first training row N times (``same_labels``
    its label too), so that every batch of a given size holds the same data."""
    centers = 2.0 * torch.randn(C, D, generator=gen, dtype=F64)
    X, y = blobs(gen, n_train, centers)
    Xv, yv = blobs(gen, n_val, centers, flip=flip_val)
    if same_rows:
        X = X[:1].repeat(n_train, 1)
    if same_labels:
        y = y[:1].repeat(n_train)
    name, kwargs = OPTIMIZERS[optimizer]
    return {
        "sizes": [D, HIDDEN, C], "dropout": dropout, "batchnorm": batchnorm, "running_stats": running_stats,
        "loss": loss, "dtype": dtype, "device": str(device), "init_seed": _seed(gen), "run_seed": _seed(gen),
        "optimizer": [name, dict(kwargs)], "scheduler": scheduler, "early_stopping": early_stopping,
        "epochs": epochs, "batch_size": batch_size, "train": [X, y], "val": [Xv, yv],
        "generator_seed": _seed(gen), "start_in_eval": start_in_eval,
    }


def describe(spec):
    opt, kw = spec["optimizer"]
    text = (f"train(model, loss_fn, {opt}({', '.join(f'{k}={v}' for k, v in kw.items())}), "
            f"train_data (N={spec['train'][0].shape[0]}), val_data (N={spec['val'][0].shape[0]}), "
            f"epochs={spec['epochs']}, batch_size={spec['batch_size']}")
    if spec.get("scheduler"):
        name, kw = spec["scheduler"]
        text += f", scheduler={name}({', '.join(f'{k}={v}' for k, v in kw.items())})"
    if spec.get("early_stopping"):
        es = spec["early_stopping"]
        text += ", early_stopping=EarlyStopping(" + ", ".join(f"{k}={v:.4g}" if isinstance(v, float)
                                                               else f"{k}={v}" for k, v in es.items()) + ")"
    text += ", generator=g)"
    model = []
    if not spec.get("batchnorm", True):
        model.append("no BatchNorm")
    elif not spec.get("running_stats", True):
        model.append("BatchNorm on batch statistics in both modes")
    model.append(f"dropout {spec['dropout']:g}")
    if spec.get("start_in_eval"):
        model.append("handed over in eval mode")
    if bool((spec["train"][0] == spec["train"][0][:1]).all()):
        model.append("every training row the same" + (" with one label" if bool(
            (spec["train"][1] == spec["train"][1][:1]).all()) else ""))
    if spec.get("loss") == "value_only":
        model.append("loss_fn's gradient is zero, so steps only apply weight decay")
    return text + f" [{str(spec['dtype']).replace('torch.', '')}; model: {', '.join(model)}]"


# ------------------------------------------------------------------ running


_REFERENCE_RUNS: dict = {}

_ERROR_HINTS = [
    ("does not require grad", "the loss has no autograd graph: the training batches must run with "
     "gradients enabled (keep torch.no_grad() around the validation only)"),
    ("second time", "call loss.backward() once per batch, on that batch's loss"),
    ("inference tensors", "keep torch.inference_mode() around the validation only"),
    ("not subscriptable", "train_data and val_data are (X, y) pairs: unpack them with X, y = train_data"),
]


def run_student(check, student, spec):
    """The worker's run of ``spec``, as plain data, checked for its envelope."""
    try:
        got = student.harness.run_training(student.training.train, spec)
    except StudentError as err:
        if not err.is_a("NotImplementedError"):
            for needle, hint in _ERROR_HINTS:
                if needle.lower() in err.exc_message.lower():
                    check.fail(err.message[:400], hint)
        raise
    return envelope(check, got, spec)


def envelope(check, got, spec):
    """What came back is the driver's dict (anything else is not a training run)."""
    if not isinstance(got, dict) or not all(k in got for k in ("history", "state", "events")):
        check.fail(f"{describe(spec)}: the training driver returned something other than its record of the run",
                   "do not replace or modify the grader's modules")
    return got


def run_reference(reference, key, spec):
    if key not in _REFERENCE_RUNS:  # the same for every submission in a run
        _REFERENCE_RUNS[key] = harness_training.run_training(reference.training.train, spec)
    return _REFERENCE_RUNS[key]


def pair(check, student, reference, gen, spec, name=""):
    """(student's run, reference's run) of one spec."""
    want = run_reference(reference, (gen.initial_seed(), name), spec)
    return run_student(check, student, spec), want


def cached(key, build):
    """A probe (spec and reference run) built once per seed and reused for every submission."""
    if key not in _REFERENCE_RUNS:
        _REFERENCE_RUNS[key] = build()
    return _REFERENCE_RUNS[key]


def redraw(build: Callable[[], Any], fits: Callable[[Any], bool], what: str, tries: int = 12):
    """The first probe ``build`` draws that ``fits`` (its data make the rule visible)."""
    for _ in range(tries):
        probe = build()
        if fits(probe):
            return probe
    raise RuntimeError(f"no {what} case found")  # a grader bug, not the student's


# ------------------------------------------------------------------ what came back, bounded


def _tol(spec):
    return Tolerance(1e-5, 1e-6) if spec["dtype"] == F32 else Tolerance(1e-7, 1e-10)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def history(check, got, spec):
    """The student's history, checked for its form before it is read: a dict of three
    lists of numbers, one per epoch run (at most ``epochs``)."""
    label = describe(spec)
    hist = got["history"]
    fix = "return {'train_loss': [...], 'val_loss': [...], 'val_accuracy': [...]}"
    if not isinstance(hist, dict):
        returned = got.get("returned")
        returned = returned[:40] if isinstance(returned, str) else "something else"
        check.fail(f"{label} returned {returned} instead of the history dict", fix)
    for key in KEYS:
        if key not in hist:
            check.fail(f"{label}: the history has no key {key!r}", fix)
        values = hist[key]
        if not isinstance(values, list):
            check.fail(f"{label}: history[{key!r}] is not a list (one number per epoch)")
        if len(values) > spec["epochs"]:
            check.fail(f"{label}: history[{key!r}] has {len(values)} entries for at most {spec['epochs']} epochs",
                       "append one value to each list per epoch")
        for k, v in enumerate(values):
            if not _number(v):
                check.fail(f"{label}: history[{key!r}][{k}] is {v!r:.40}, not a number",
                           "store Python floats (loss.item()), one per epoch")
    lengths = {len(hist[k]) for k in KEYS}
    if len(lengths) != 1:
        check.fail(f"{label}: the three history lists have different lengths {sorted(lengths)}",
                   "append one value to each list per epoch")
    return hist


def snapshots(got, want):
    """The weights the worker says the model had at each epoch's validation, for hints
    only; kept only when there are at most as many as epochs and each has exactly the
    reference's tensors' keys, shapes and dtypes (so comparing them costs no more than
    comparing the reference's)."""
    snaps, ref = got.get("epoch_states"), want["state"]
    if not isinstance(snaps, list) or len(snaps) > len(want["epoch_states"]) + 8:
        return []
    for snap in snaps:
        if not isinstance(snap, dict) or set(snap) != set(ref) or any(
                not isinstance(snap[k], torch.Tensor) or snap[k].shape != v.shape or snap[k].dtype != v.dtype
                for k, v in ref.items()):
            return []
    return snaps


# ------------------------------------------------------------------ reading the records (hints only)


_FIELDS: dict[str, dict[str, Callable[[Any], bool]]] = {
    "forward": {"kind": lambda v: v in ("train", "val", "other"), "training": lambda v: isinstance(v, bool),
                "grad": lambda v: isinstance(v, bool), "n": lambda v: isinstance(v, int)},
    "loss": {"value": _number, "n": lambda v: isinstance(v, int), "grad": lambda v: isinstance(v, bool)},
    "step": {"grads": lambda v: v in ("fresh", "accumulated", "cleared"), "lr": _number},
    "backward": {"cleared": lambda v: isinstance(v, bool)},
    "zero_grad": {},
    "scheduler": {"args": lambda v: isinstance(v, int)},
    "stopper": {"metric": _number, "stop": lambda v: isinstance(v, bool),
                "best_step": lambda v: v is None or isinstance(v, int)},
}


def _clean(ev) -> dict | None:
    """One record with its known fields, or None when it is not one the harness writes."""
    if not isinstance(ev, dict) or not isinstance(ev.get("ev"), str) or ev["ev"] not in _FIELDS:
        return None
    fields = _FIELDS[ev["ev"]]
    if not all(name in ev and ok(ev[name]) for name, ok in fields.items()):
        return None
    out = {"ev": ev["ev"], **{name: ev[name] for name in fields}}
    if out["ev"] == "forward" and out["kind"] == "train":
        rows = ev.get("rows")
        out["rows"] = rows if (isinstance(rows, list) and len(rows) <= MAX_ROWS
                               and all(isinstance(i, int) for i in rows)) else None
    return out


class Record:
    """One run's records, cut into epochs: an epoch starts at the first training forward
    (grad enabled) after a validation forward; what comes before the first one is the
    prelude. The records come from the worker, so they only ever choose hints: they are
    read only when there are at most MAX_EVENTS of them, and records of the wrong form
    are dropped."""

    def __init__(self, run):
        events = run.get("events") if isinstance(run, dict) else None
        self.readable = isinstance(events, list) and len(events) <= MAX_EVENTS
        self.events = [e for e in map(_clean, events if self.readable else []) if e is not None]
        self.prelude: list = []
        self.epochs: list[list] = []
        seen_val = True
        for ev in self.events:
            if self.is_train_forward(ev) and seen_val:
                self.epochs.append([])
                seen_val = False
            if ev["ev"] == "forward" and ev["kind"] == "val":
                seen_val = True
            (self.epochs[-1] if self.epochs else self.prelude).append(ev)

    @staticmethod
    def is_train_forward(ev):
        return ev["ev"] == "forward" and ev["kind"] == "train" and ev["grad"]

    def train_forwards(self, epoch=None):
        evs = self.events if epoch is None else self.epochs[epoch]
        return [e for e in evs if self.is_train_forward(e)]

    def val_forwards(self, epoch=None):
        evs = self.events if epoch is None else self.epochs[epoch]
        return [e for e in evs if e["ev"] == "forward" and e["kind"] == "val"]

    def of(self, kind, epoch=None):
        evs = self.events if epoch is None else self.epochs[epoch]
        return [e for e in evs if e["ev"] == kind]

    def rows(self):
        """Per epoch, the training rows of every batch."""
        return [[e["rows"] for e in self.train_forwards(k)] for k in range(len(self.epochs))]

    def batch_losses(self):
        """Per epoch, (loss, batch size) of every training batch."""
        return [[(e["value"], e["n"]) for e in self.of("loss", k) if e["grad"]] for k in range(len(self.epochs))]

    def lrs(self):
        return [e["lr"] for e in self.of("step")]

    def stopper(self):
        return self.of("stopper")


def loss_variants(ref: Record) -> dict[str, list[float]]:
    """The epoch's training loss of a run under each way of adding up its batch losses,
    from the REFERENCE's records (made in the grader's process, so trusted): the mean
    per example (the rule), the mean of the batch means, the last batch's mean and the
    sum over the examples. A test whose rule is not the loss accounting accepts any of
    them, so that a slip in the accounting cannot cost its points."""
    epochs = [e for e in ref.batch_losses() if e]
    return {
        "mean per example": [sum(v * n for v, n in e) / sum(n for _, n in e) for e in epochs],
        "mean of batch means": [sum(v for v, _ in e) / len(e) for e in epochs],
        "last batch": [e[-1][0] for e in epochs],
        "sum": [sum(v * n for v, n in e) for e in epochs],
    }


NO_VALIDATION = ("evaluate the model on the validation set once per epoch, after the epoch's training "
                 "batches (the records show an epoch without a validation forward)")
EVAL_HINT = ("the validation ran in training mode: call model.eval() before it -- Dropout must be off and "
             "BatchNorm must use (and not update) its running statistics")
TRAIN_MODE_HINT = ("a training batch ran in eval mode: call model.train() at the start of EVERY epoch "
                   "(model.eval() for the validation switched the model off training mode, and the model "
                   "may be handed to train in eval mode)")
FIRST_EPOCH_HINT = ("the first epoch's training batches ran in eval mode: call model.train() at the start of "
                    "every epoch -- the model may be handed over in eval mode")
ACCUMULATED_HINT = ("gradients accumulated across batches: call optimizer.zero_grad() for every batch, "
                    "before loss.backward() (backward adds to .grad)")
CLEARED_HINT = ("optimizer.step() ran with cleared gradients: zero_grad() belongs before loss.backward(), "
                "not between backward and step")
ONE_STEP_HINT = "call optimizer.step() exactly once per training batch, after loss.backward()"
ROWS_HINT = ("the training batches are not those of iterate_minibatches(X, y, batch_size, shuffle=True, "
             "generator=generator), called once per epoch with the generator given to train (the order "
             "of torch.randperm(N, generator=generator), the last shorter batch included)")
SAME_ORDER_HINT = ("every epoch used the same order: draw a new permutation each epoch (call "
                   "iterate_minibatches once per epoch with the SAME generator; do not re-seed it)")
SCHEDULER_HINT = ("call scheduler.step() once per epoch, after the epoch's batches (not per batch, "
                  "not before the batches, and not never)")
SCHEDULER_EARLY = ("the scheduler stepped before the first epoch's batches: call scheduler.step() at the END "
                   "of each epoch, so the first epoch runs at the initial learning rate")
SCHEDULER_NEVER = "scheduler.step() was never called: call it once per epoch, after the epoch's batches"
SCHEDULER_PER_BATCH = ("call scheduler.step() once per EPOCH, after the epoch's batches, not after every "
                       "batch")
SCHEDULER_ARGUMENT = ("call scheduler.step() without arguments (an argument is read as an epoch number)")
NO_GRAD_NOTE = ("no points depend on this: the records of your run show a validation forward with gradients "
                "enabled; wrap the validation in `with torch.no_grad():` so that no autograd graph is built "
                "for it (model.eval() alone does not turn gradients off)")


def rows_hint(rows, ref_rows):
    """Name the slip behind training batches that differ from the reference's."""
    def flat(epoch):
        return [i for b in epoch if b is not None for i in b]

    if not ref_rows or not ref_rows[0] or ref_rows[0][0] is None:
        return ROWS_HINT
    n = len(flat(ref_rows[0]))
    batch_size = len(ref_rows[0][0])
    if any(flat(e) == list(range(n)) for e in rows):
        return ("the training rows came in their original order: shuffle every epoch with "
                "iterate_minibatches(X, y, batch_size, shuffle=True, generator=generator)")
    if len(rows) > 1 and all(e == rows[0] for e in rows[1:]):
        return SAME_ORDER_HINT
    if n % batch_size and any(len(flat(e)) == n - n % batch_size for e in rows):
        return "the last, shorter batch of each epoch is missing: keep it"
    if any(sorted(flat(e)) != list(range(n)) for e in rows):
        return "every epoch must visit each training example exactly once"
    return ROWS_HINT


def _validation(rec, ref):
    if any(not rec.val_forwards(k) for k in range(len(rec.epochs))):
        return NO_VALIDATION
    if any(e["training"] for e in rec.val_forwards()):
        return EVAL_HINT
    return None


def _train_mode(rec, ref):
    modes = [[e["training"] for e in rec.train_forwards(k)] for k in range(len(rec.epochs))]
    if modes and not all(modes[0]):
        return FIRST_EPOCH_HINT
    if not all(all(m) for m in modes):
        return TRAIN_MODE_HINT
    return None


def _gradients(rec, ref):
    states = [e["grads"] for e in rec.of("step")]
    if "accumulated" in states:
        return ACCUMULATED_HINT
    if "cleared" in states:
        return CLEARED_HINT
    if len(states) != len(rec.train_forwards()):
        return ONE_STEP_HINT
    return None


def _rows(rec, ref):
    rows, ref_rows = rec.rows(), Record(ref).rows()
    return rows_hint(rows, ref_rows) if rows != ref_rows else None


def _scheduler(rec, ref):
    calls = rec.of("scheduler")
    if not Record(ref).of("scheduler"):
        return None
    if any(e["ev"] == "scheduler" for e in rec.prelude):
        return SCHEDULER_EARLY
    if not calls:
        return SCHEDULER_NEVER
    if any(len(rec.of("scheduler", k)) > 1 for k in range(len(rec.epochs))):
        return SCHEDULER_PER_BATCH
    if any(e["args"] for e in calls):
        return SCHEDULER_ARGUMENT
    if rec.lrs() != Record(ref).lrs():
        return SCHEDULER_HINT
    return None


RULE_HINTS = {"validation": _validation, "train_mode": _train_mode, "gradients": _gradients, "rows": _rows,
              "scheduler": _scheduler}


def diagnose(rec, ref, *first):
    """The likely mistake the student's records show (a hint, never credit): the rules
    in ``first`` (the test's own) are asked first, then the others in the usual order."""
    if not rec.readable:
        return None
    for name in list(first) + [n for n in RULE_HINTS if n not in first]:
        hint = RULE_HINTS[name](rec, ref)
        if hint:
            return hint
    return None


def check_history(check, got, want, spec, keys=KEYS, mistakes=(), focus=()):
    hist = history(check, got, spec)
    ref_hist = want["history"]
    rec = Record(got)
    tol = _tol(spec)
    n, n_ref = len(hist["val_loss"]), len(ref_hist["val_loss"])
    if n != n_ref:
        check.fail(f"{describe(spec)}: the history has {n} epochs, which is not the number of epochs "
                   "this run should last", diagnose(rec, want, *focus))
    hint = diagnose(rec, want, *focus)
    for key in keys:
        rtol = max(tol.rtol, 1e-6) if key == "val_accuracy" else tol.rtol
        check.close(hist[key], ref_hist[key], rtol=rtol, atol=tol.atol,
                    what=f"{describe(spec)}: history[{key!r}] (one value per epoch)",
                    mistakes=list(mistakes) + [Mistake(h, when=lambda _o, h=h: True) for h in [hint] if h])
    return hist


# ------------------------------------------------------------------ history and weights


@pytest.mark.parametrize("case,dtype", [("momentum", F64), ("adam", F32)], ids=["sgd-momentum-float64",
                                                                                  "adam-float32"])
def test_train_history(student, reference, check, gen, device, case, dtype):
    """The per-epoch train_loss, val_loss and val_accuracy reproduce the reference's: the
    whole loop at once (real training, BatchNorm and dropout on), so every rule counts."""
    spec = make_spec(gen, dtype, device, optimizer=case, start_in_eval=case == "adam")
    got, want = pair(check, student, reference, gen, spec)
    hist = history(check, got, spec)
    percent = [Mistake("val_accuracy is a fraction in [0, 1], not a percentage",
                       when=lambda out: compare([v / 100 for v in hist["val_accuracy"]],
                                                want["history"]["val_accuracy"], Tolerance(1e-6, 1e-9)).ok)]
    check_history(check, got, want, spec, mistakes=percent)


@pytest.mark.parametrize("case,dtype", [("rmsprop-wd", F32), ("sgd", F64)], ids=["rmsprop-float32",
                                                                                 "sgd-float64"])
def test_train_final_weights(student, reference, check, gen, device, case, dtype):
    """The weights and BatchNorm buffers after training reproduce the reference's (real
    training: the whole loop at once)."""
    spec = make_spec(gen, dtype, device, optimizer=case, dropout=0.4)
    got, want = pair(check, student, reference, gen, spec)
    check.close(got["state"], want["state"], what=f"{describe(spec)}: the model's state_dict afterwards",
                hint=diagnose(Record(got), want))


# ------------------------------------------------------------------ the batches


def minibatch_probe(gen, dtype, device, reference, n_train, batch_size):
    """lr = 0, so the weights never move; dropout 0 and BatchNorm WITHOUT running
    statistics, which normalises every batch with its own mean and variance in either
    mode. Each training batch's loss then depends on which rows share the batch and
    on nothing else, so the epoch's training loss reads out how the rows were grouped
    (a reused permutation repeats the same value every epoch; an unshuffled or
    differently drawn order, or a dropped last batch, gives other values), while
    zero_grad, step counts, modes, the scheduler and the validation leave no trace.
    The way the batch losses are added up is another rule's (train_loss_accounting):
    any of :func:`loss_variants` of the reference's batches is accepted. Redrawn until
    the reference's epochs differ from each other."""
    def build():
        spec = make_spec(gen, dtype, device, optimizer="frozen", dropout=0.0, running_stats=False,
                         n_train=n_train, batch_size=batch_size, n_val=8, epochs=3)
        return spec, harness_training.run_training(reference.training.train, spec)

    def fits(probe):
        losses = probe[1]["history"]["train_loss"]
        gaps = [abs(a - b) for i, a in enumerate(losses) for b in losses[i + 1:]]
        return min(gaps) > 1e3 * _tol(probe[0]).rtol * max(abs(v) for v in losses)

    return redraw(build, fits, "minibatch")


def score_minibatches(check, got, want, spec):
    hist = history(check, got, spec)
    tol = _tol(spec)
    accepted = loss_variants(Record(want))
    if any(compare(hist["train_loss"], v, tol).ok for v in accepted.values()):
        return
    rec = Record(got)
    label = describe(spec)
    seen = diagnose(rec, want, "rows") if rec.readable and _rows(rec, want) else None
    mistakes = [Mistake(seen, when=lambda _o: True)] if seen else [
        Mistake(SAME_ORDER_HINT, when=lambda out: len(out) > 1 and all(compare(v, out[0], tol).ok for v in out[1:]))]
    check.close(hist["train_loss"], accepted["mean per example"], rtol=tol.rtol, atol=tol.atol,
                what=f"{label}: history['train_loss'], which with lr=0 and BatchNorm on batch statistics "
                     "shows which training rows shared a batch (the batches of iterate_minibatches with "
                     "the generator given to train, a fresh permutation every epoch)",
                mistakes=mistakes, hint=ROWS_HINT)


@pytest.mark.parametrize("dtype,n_train,batch_size", [(F32, 14, 4), (F64, 13, 5)],
                         ids=["N14-B4-float32", "N13-B5-float64"])
def test_train_minibatches(student, reference, check, gen, device, dtype, n_train, batch_size):
    """The training batches are iterate_minibatches' with the given generator, a fresh
    permutation per epoch, the last shorter batch included (design: minibatch_probe)."""
    spec, want = cached((gen.initial_seed(), "minibatches"),
                        lambda: minibatch_probe(gen, dtype, device, reference, n_train, batch_size))
    score_minibatches(check, run_student(check, student, spec), want, spec)


def accounting_probe(gen, device, reference):
    """lr = 0, no BatchNorm, no dropout: every example's loss is fixed and does not
    depend on its batch, so the mean per example is the same every epoch whatever the
    order, mode or gradient bookkeeping. N = 14 and batch size 4 leave a last batch of
    2, so the mean of the batch means (the classic slip) differs from it; redrawn until
    it differs clearly in every epoch."""
    def build():
        spec = make_spec(gen, F64, device, optimizer="frozen", dropout=0.0, batchnorm=False,
                         n_train=14, batch_size=4, epochs=3)
        return spec, harness_training.run_training(reference.training.train, spec)

    def fits(probe):
        v = loss_variants(Record(probe[1]))
        return all(abs(a - b) > 1e-4 for a, b in zip(v["mean per example"], v["mean of batch means"]))

    return redraw(build, fits, "loss accounting")


def score_loss_accounting(check, got, want, spec):
    rec = Record(got)
    n = spec["train"][0].shape[0]
    incomplete = [e for e in rec.rows() if sorted(i for b in e if b is not None for i in b) != list(range(n))]
    losses = rec.batch_losses()
    batch_mean = [sum(v for v, _ in e) / len(e) for e in losses if e]
    last_only = [e[-1][0] for e in losses if e]
    summed = [sum(v * n for v, n in e) for e in losses if e]
    hist = history(check, got, spec)

    def near(values):
        return lambda _o: len(values) == len(hist["train_loss"]) and compare(
            hist["train_loss"], values, Tolerance(1e-9, 1e-12)).ok

    mistakes = [
        Mistake(rows_hint(rec.rows(), Record(want).rows()), when=lambda _o: bool(incomplete)),
        Mistake("train_loss averaged the batch means, so the shorter last batch weighs as much as a full "
                "one: add loss.item() * batch size over the epoch and divide by N", when=near(batch_mean)),
        Mistake("train_loss holds only the last batch's loss: average over every example of the epoch",
                when=near(last_only)),
        Mistake("train_loss is a sum: divide by the number of training examples", when=near(summed)),
    ]
    check_history(check, got, want, spec, keys=("train_loss",), mistakes=mistakes)


def test_train_loss_accounting(student, reference, check, gen, device):
    """train_loss is the mean per EXAMPLE over the epoch: with a shorter last batch the
    mean of the batch means is wrong (design: accounting_probe)."""
    spec, want = cached((gen.initial_seed(), "accounting"), lambda: accounting_probe(gen, device, reference))
    score_loss_accounting(check, run_student(check, student, spec), want, spec)


# ------------------------------------------------------------------ modes


def eval_probe(gen, dtype, device, reference, kind):
    """lr = 0, so the weights never move and the validation numbers depend only on the
    mode the validation runs in.

    ``dropout``: dropout 0.5, no BatchNorm, 3 epochs. With Dropout on, the validation
    loss is random; in eval mode it is the fixed loss of the initial weights. Without
    BatchNorm nothing the training batches do persists, so neither their mode, order or
    gradients nor the scheduler can change it.

    ``batchnorm``: BatchNorm with running statistics, no dropout, ONE epoch, identical
    training rows and N divisible by the batch size. In eval mode the validation uses the
    running statistics, which after an epoch depend only on the number of training
    batches (every batch holds the same data); in training mode it uses the validation
    batch's own statistics. One epoch: the model is handed over in training mode, so
    the first epoch's batches run in training mode whether the loop calls model.train()
    or not."""
    def build():
        if kind == "dropout":
            spec = make_spec(gen, dtype, device, optimizer="frozen", dropout=0.5, batchnorm=False, epochs=3)
        else:
            spec = make_spec(gen, dtype, device, optimizer="frozen", dropout=0.0, epochs=1, n_train=12,
                             batch_size=4, same_rows=True)
        return spec, harness_training.run_training(reference.training.train, spec)

    return build()


def score_eval_mode(check, got, want, spec):
    rec = Record(got)
    if rec.readable and any(e["grad"] for e in rec.val_forwards()):
        check.note(NO_GRAD_NOTE)
    check_history(check, got, want, spec, keys=("val_loss", "val_accuracy"), focus=("validation",))


@pytest.mark.parametrize("kind,dtype", [("dropout", F32), ("batchnorm", F64)],
                         ids=["dropout-float32", "batchnorm-float64"])
def test_train_eval_mode(student, reference, check, gen, device, kind, dtype):
    """Validation runs in eval mode (model.eval()): val_loss and val_accuracy (design:
    eval_probe). Whether it runs under torch.no_grad() changes no number, so it costs no
    points: the records' word on it only becomes a note."""
    spec, want = cached((gen.initial_seed(), kind), lambda: eval_probe(gen, dtype, device, reference, kind))
    score_eval_mode(check, run_student(check, student, spec), want, spec)


def mode_probe(gen, device, reference):
    """lr = 0, BatchNorm with running statistics, no dropout, every training row AND label
    the same, N divisible by the batch size, the model handed over in EVAL mode.

    In training mode BatchNorm normalises a batch of identical rows to zero, so every
    example's loss is the same number in every epoch, whatever the order of the rows,
    the gradients or the validation's mode (which only touches the running statistics,
    which training mode does not read). A batch run in eval mode is normalised with the
    running statistics instead and gives another loss: exactly the eval-mode loss for
    the number of training-mode batches seen so far, which the grader computes itself
    (``eval_losses``) to name the slip. With one label every way of adding up the batch
    losses gives the same mean (the sum is accepted too), so the loss accounting cannot
    change the outcome. Redrawn until the eval-mode losses are clearly different."""
    def build():
        spec = make_spec(gen, F64, device, optimizer="frozen", dropout=0.0, start_in_eval=True, epochs=3,
                         n_train=12, batch_size=4, same_rows=True, same_labels=True)
        want = harness_training.run_training(reference.training.train, spec)
        return spec, want, eval_losses(spec, spec["epochs"] * 3)

    def fits(probe):
        c = probe[1]["history"]["train_loss"][0]
        return min(abs(e - c) for e in probe[2]) > 1e-3

    return redraw(build, fits, "training mode")


def eval_losses(spec, forwards):
    """The mean loss of the (identical) training batches in eval mode after j = 0, 1, ...,
    ``forwards`` training-mode forwards, computed here with the spec's initial network."""
    net = harness_training.build_network(spec)
    X, y = (t.to(spec["device"]) for t in spec["train"])
    X = X.to(spec["dtype"])
    batch = slice(0, spec["batch_size"])
    out = []
    with torch.no_grad():
        for _ in range(forwards + 1):
            net.eval()
            out.append(float(torch.nn.functional.cross_entropy(net(X[batch]), y[batch])))
            net.train()
            net(X[batch])
    return out


def score_mode_restored(check, got, want, spec, eval_loss_values):
    hist = history(check, got, spec)
    tol = _tol(spec)
    label = describe(spec)
    accepted = loss_variants(Record(want))
    n = len(want["history"]["train_loss"])
    rec = Record(got)
    if len(hist["train_loss"]) != n:
        check.fail(f"{label}: the history has {len(hist['train_loss'])} epochs instead of {n}",
                   diagnose(rec, want, "train_mode"))
    for k in range(n):
        value = hist["train_loss"][k]
        if any(compare(value, v[k], tol).ok for v in accepted.values()):
            continue
        in_eval = any(compare(value, e, tol).ok for e in eval_loss_values)
        events = diagnose(rec, want, "train_mode")
        mode_hint = FIRST_EPOCH_HINT if k == 0 else TRAIN_MODE_HINT
        hint = mode_hint if in_eval or events in (FIRST_EPOCH_HINT, TRAIN_MODE_HINT) else events
        check.close(value, accepted["mean per example"][k], rtol=tol.rtol, atol=tol.atol,
                    what=f"{label}: history['train_loss'][{k}] (epoch {k + 1}), which for batches run in "
                         "training mode is the same in every epoch",
                    hint=hint)


def test_train_mode_restored(student, reference, check, gen, device):
    """Every training batch runs in training mode, in every epoch (the model is handed
    over in eval mode and validation switches it to eval mode) (design: mode_probe)."""
    spec, want, eval_loss_values = cached((gen.initial_seed(), "mode"), lambda: mode_probe(gen, device, reference))
    score_mode_restored(check, run_student(check, student, spec), want, spec, eval_loss_values)


# ------------------------------------------------------------------ optimizer and scheduler


def zero_grad_probe(gen, device, reference):
    """Plain SGD (lr 0.5) on a training set whose rows AND labels are all the same, no
    BatchNorm, no dropout, N divisible by the batch size. Every batch then has the same
    data, so each step's fresh gradient is the gradient of that one example at the
    current weights: the run is plain gradient descent for (number of batches) steps,
    whatever the order of the rows, the modes or the validation. Gradients that pile up
    over batches, or that were cleared before the step (the weights then never move),
    give other weights. Only the final weights are compared."""
    spec = make_spec(gen, F64, device, optimizer="sgd-plain", dropout=0.0, batchnorm=False, n_train=12,
                     batch_size=4, epochs=3, same_rows=True, same_labels=True)
    want = harness_training.run_training(reference.training.train, spec)
    initial = {k: v.detach().clone() for k, v in harness_training.build_network(spec).state_dict().items()}
    return spec, want, initial


def score_zero_grad(check, got, want, spec, initial):
    unchanged = Mistake("the weights never moved: " + CLEARED_HINT, value=initial)
    check.close(got["state"], want["state"],
                what=f"{describe(spec)}: the model's state_dict afterwards (every batch holds the same "
                     "data, so each optimizer step must use exactly its own batch's gradient)",
                mistakes=[unchanged], hint=diagnose(Record(got), want, "gradients"))


def test_train_zero_grad(student, reference, check, gen, device):
    """Every optimizer step uses the gradient of its own batch: zero_grad before backward,
    one step per batch (design: zero_grad_probe)."""
    spec, want, initial = cached((gen.initial_seed(), "zero_grad"), lambda: zero_grad_probe(gen, device, reference))
    score_zero_grad(check, run_student(check, student, spec), want, spec, initial)


def scheduler_probe(gen, dtype, device, reference, optimizer, scheduler):
    """SGD with weight decay and a loss whose gradient is zero (the same values, so the
    loop cannot tell): every optimizer step then multiplies the weights by
    (1 - lr * weight_decay) (through the momentum buffer with momentum), whatever the
    batch, the mode, the validation, or whether the gradients were cleared or piled up
    (they are all zero). The final weights are a function of the learning rate of every
    step, i.e. of when the scheduler stepped. N divisible by the batch size, no
    BatchNorm, no dropout."""
    spec = make_spec(gen, dtype, device, optimizer=optimizer, scheduler=scheduler, loss="value_only",
                     dropout=0.0, batchnorm=False, n_train=12, batch_size=4, epochs=3)
    return spec, harness_training.run_training(reference.training.train, spec)


def score_scheduler(check, got, want, spec):
    rec = Record(got)
    if rec.readable and any(e["args"] for e in rec.of("scheduler")):
        check.note("no points depend on this: the records of your run show scheduler.step() called with an "
                   "argument; call it without one (an argument is read as an epoch number)")
    check.close(got["state"], want["state"],
                what=f"{describe(spec)}: the model's state_dict afterwards, which here depends only on the "
                     "learning rate at every optimizer step",
                hint=diagnose(rec, want, "scheduler"))


SCHEDULERS = [
    (["StepLR", {"step_size": 1, "gamma": 0.5}], "decay", F32),
    (["ExponentialLR", {"gamma": 0.7}], "momentum-decay", F64),
]


@pytest.mark.parametrize("scheduler,optimizer,dtype", SCHEDULERS, ids=["StepLR-float32", "ExponentialLR-float64"])
def test_train_scheduler(student, reference, check, gen, device, scheduler, optimizer, dtype):
    """scheduler.step() once per epoch, after the epoch's batches (design: scheduler_probe)."""
    spec, want = cached((gen.initial_seed(), "scheduler"),
                        lambda: scheduler_probe(gen, dtype, device, reference, optimizer, scheduler))
    score_scheduler(check, run_student(check, student, spec), want, spec)


# ------------------------------------------------------------------ early stopping


def stopping_probe(gen, dtype, device, reference, kind):
    """The scheduler probe's pure weight decay (a loss with zero gradient, SGD with weight
    decay, no BatchNorm, no dropout, N divisible by the batch size): the weights shrink
    by the same factor at every step, whatever the batching, the modes or the gradient
    bookkeeping, so the validation losses are the same for every loop that validates
    correctly, and where the run must end is fixed.

    The labels come from the initial network: with ``rises`` the validation labels are
    its argmax (the validation loss rises as the logits shrink, and patience 1 stops the
    run at epoch 2) and the training labels its argmin (the training loss falls, so a
    stopper fed the training loss never stops); with ``plateau`` the other way round,
    patience 2 and a min_delta chosen here so that the falling validation loss stops the
    run before the end and at another epoch than the training loss would. Redrawn until
    it is so, with every comparison the stopper makes far from a tie (``_margin``)."""
    epochs = 6

    def build():
        spec = make_spec(gen, dtype, device, optimizer="decay", loss="value_only", dropout=0.0, batchnorm=False,
                         n_train=12, batch_size=4, epochs=epochs)
        net = harness_training.build_network(spec)
        with torch.no_grad():
            train_logits = net(spec["train"][0].to(device=device, dtype=dtype))
            val_logits = net(spec["val"][0].to(device=device, dtype=dtype))
        high, low = (lambda z: z.argmax(dim=1).cpu()), (lambda z: z.argmin(dim=1).cpu())
        spec["val"][1] = (high if kind == "rises" else low)(val_logits)
        spec["train"][1] = (low if kind == "rises" else high)(train_logits)
        free = harness_training.run_training(reference.training.train, spec)["history"]
        v, t = free["val_loss"], free["train_loss"]
        if kind == "rises":
            options = [{"patience": 1, "min_delta": 0.0, "mode": "min"}]
        else:
            spread = max(v) - min(v)
            options = [{"patience": 2, "min_delta": q * spread, "mode": "min"} for q in (0.02, 0.05, 0.1, 0.2)]
        for es in options:
            n, _ = harness_training.stopping_point(v, es)
            if 2 <= n < epochs and harness_training.stopping_point(t, es)[0] != n and _margin(v[:n], es) > 1e-3:
                spec["early_stopping"] = es
                return spec, harness_training.run_training(reference.training.train, spec)
        return None

    return redraw(build, lambda probe: probe is not None, "early-stopping")


def _margin(metrics, es):
    """How far each call's metric is from the threshold the stopper compares it with
    (mode min: best - min_delta), at the least: a margin far above rounding means that a
    validation loss computed another valid way (in batches, say) stops the run at the
    same epoch."""
    best, gaps = metrics[0], [math.inf]
    for m in metrics[1:]:
        gaps.append(abs(m - (best - es["min_delta"])))
        if m < best - es["min_delta"]:
            best = m
    return min(gaps)


def _stopper_hint(rec, hist):
    """What the records say about the stopper calls (a hint)."""
    if not rec.readable:
        return None
    stops = rec.stopper()
    if not stops:
        return "call early_stopping.step(val_loss) once per epoch, after the validation"
    metrics = [e["metric"] for e in stops]
    tol = Tolerance(1e-6, 1e-9)
    if compare(metrics, hist["train_loss"], tol).ok:
        return "early stopping must watch the VALIDATION loss, not the training loss"
    if compare(metrics, hist["val_accuracy"], tol).ok:
        return "with mode 'min' early stopping watches the validation LOSS, not the accuracy"
    if len(stops) != len(hist["val_loss"]):
        return "call early_stopping.step(val_loss) exactly once per epoch"
    first = next((i for i, e in enumerate(stops) if e["stop"]), None)
    if first is not None and len(stops) > first + 1:
        return "leave the epoch loop (break) as soon as early_stopping.step returns True"
    return None


def score_early_stopping(check, got, want, spec):
    hist = history(check, got, spec)
    label = describe(spec)
    tol = _tol(spec)
    ref_hist = want["history"]
    n, n_ref = len(hist["val_loss"]), len(ref_hist["val_loss"])
    m = min(n, n_ref)
    rec = Record(got)
    check.close(hist["val_loss"][:m], ref_hist["val_loss"][:m], rtol=tol.rtol, atol=tol.atol,
                what=f"{label}: history['val_loss'] over the first {m} epochs (the values early stopping watches)",
                hint=diagnose(rec, want, "validation"))
    if n != n_ref:
        more = (f"; the loop went on for {n - n_ref} epoch(s) after the one where it says stop" if n > n_ref
                else "")
        check.fail(f"{label}: the loop ran {n} epochs, but early stopping stepped with each epoch's "
                   f"validation loss returns True after epoch {n_ref}{more}",
                   _stopper_hint(rec, hist) or "call early_stopping.step(val_loss) once per epoch and break "
                   "out of the epoch loop as soon as it returns True")


@pytest.mark.parametrize("kind,dtype", [("rises", F64), ("plateau", F32)], ids=["stops-float64",
                                                                                 "min_delta-float32"])
def test_train_early_stopping(student, reference, check, gen, device, kind, dtype):
    """early_stopping.step(val_loss) once per epoch; the loop ends when it returns True: the
    number of epochs run, and the validation losses it watched (design: stopping_probe)."""
    spec, want = cached((gen.initial_seed(), kind), lambda: stopping_probe(gen, dtype, device, reference, kind))
    score_early_stopping(check, run_student(check, student, spec), want, spec)


def _spec_stopping_early(gen, dtype, device, reference, name):
    """Validation labels shifted by one: the validation loss rises as the model learns,
    so patience 1 stops the loop early. Redrawn until the reference stops early with a
    best epoch before the last one."""
    for _ in range(8):
        spec = make_spec(gen, dtype, device, optimizer="momentum", epochs=5, flip_val=True,
                         early_stopping={"patience": 1, "min_delta": 0.0, "mode": "min"})
        want = harness_training.run_training(reference.training.train, spec)
        stops = Record(want).stopper()
        if len(stops) < spec["epochs"] and stops[-1]["best_step"] < len(stops) - 1:
            return spec, want
    raise RuntimeError("no early-stopping case found")  # a grader bug, not the student's


def _spec_min_delta(gen, dtype, device, reference):
    """A run that does not stop early (patience = epochs), with a min_delta for which
    early stopping's best epoch, the epoch of the lowest validation loss and the last
    epoch are three different epochs."""
    epochs = 6
    for _ in range(12):
        base = make_spec(gen, dtype, device, optimizer="momentum", epochs=epochs)
        v = harness_training.run_training(reference.training.train, base)["history"]["val_loss"]
        spread = max(v) - min(v)
        lowest = v.index(min(v))
        if lowest == epochs - 1:
            continue
        for q in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            stopper = reference.training.EarlyStopping(patience=epochs, min_delta=q * spread)
            for m in v:
                stopper.step(m)
            if stopper.best_step not in (lowest, epochs - 1):
                spec = dict(base, early_stopping={"patience": epochs, "min_delta": q * spread, "mode": "min"})
                return spec, harness_training.run_training(reference.training.train, spec)
    raise RuntimeError("no min_delta case found")  # a grader bug, not the student's


def best_weights_case(gen, dtype, device, reference, kind):
    return cached((gen.initial_seed(), kind), lambda: (
        _spec_stopping_early(gen, dtype, device, reference, kind) if kind == "early"
        else _spec_min_delta(gen, dtype, device, reference)))


def score_best_weights(check, got, want, spec):
    rec = Record(got)
    label = describe(spec)
    tol = _tol(spec)
    stops = rec.stopper()
    best = stops[-1]["best_step"] if stops else None
    snaps = snapshots(got, want)
    final = got["state"]

    def same(a, b, keys=None):
        keys = keys if keys is not None else list(b)
        return isinstance(a, dict) and all(k in a and compare(a[k], b[k], tol).ok for k in keys)

    params = [k for k in want["state"] if "running" not in k and "num_batches" not in k]
    mistakes = []
    if snaps and best is not None and 0 <= best < len(snaps):
        last = len(snaps) - 1
        mistakes.append(Mistake(
            "the weights at the end are the last epoch's: restore the state of epoch early_stopping.best_step "
            "(keep copy.deepcopy(model.state_dict()) when best_step is the current epoch -- state_dict() "
            "alone returns the live tensors, which later steps keep changing -- and load it back after "
            "the loop, whether it stopped early or not)",
            when=lambda _o: best != last and same(final, snaps[last])))
        mistakes.append(Mistake(
            "the parameters were restored but not BatchNorm's running statistics: save and load the whole "
            "model.state_dict() (buffers included)",
            when=lambda _o: same(final, snaps[best], params) and not same(final, snaps[best])))
        for j in range(len(snaps)):
            if j not in (best, last):
                mistakes.append(Mistake(
                    "the weights of another epoch were restored: keep the state of the epoch whose index is "
                    "early_stopping.best_step (the stopper's best, which respects min_delta), not the one "
                    "with the lowest validation loss",
                    when=lambda _o, j=j: same(final, snaps[j])))
    check.close(final, want["state"], what=f"{label}: the model's state_dict after train",
                mistakes=mistakes, hint=diagnose(rec, want))


@pytest.mark.parametrize("kind,dtype", [("early", F32), ("min_delta", F64)], ids=["stops-float32",
                                                                                  "min_delta-float64"])
def test_train_best_weights(student, reference, check, gen, device, kind, dtype):
    """At the end the weights (and BatchNorm buffers) of early stopping's best_step epoch
    are back in the model, whether the loop ended early or not: the final state_dict of a
    real training run (BatchNorm on, so the buffers count) against the reference's. The
    records' per-epoch weights only name which epoch's weights came back."""
    spec, want = best_weights_case(gen, dtype, device, reference, kind)
    score_best_weights(check, run_student(check, student, spec), want, spec)


# ------------------------------------------------------------------ arguments


def _bad_train_specs():
    def spec(**kw):
        g = torch.Generator().manual_seed(11)
        s = make_spec(g, F64, "cpu", epochs=1)
        s.update(kw)
        return s

    short = spec()
    short["train"] = [short["train"][0], short["train"][1][:-2]]
    return [
        ("epochs=-1", spec(epochs=-1), r"\bepochs\b"),
        ("batch_size=0", spec(batch_size=0), r"batch_size"),
        ("len(y)!=len(X)", short, r"train_data|\by\b|length|rows|size|shape"),
    ]


BAD_TRAIN = _bad_train_specs()


@pytest.mark.parametrize("case", BAD_TRAIN, ids=[c[0] for c in BAD_TRAIN])
def test_train_bad_arguments(student, check, case):
    _, spec, match = case
    with check.raises(ValueError, match=match,
                      hint="check the arguments before the loop and raise ValueError naming the bad one "
                           "(epochs >= 0, batch_size >= 1, train_data and val_data (X, y) pairs of the same "
                           "length)"):
        student.harness.run_training(student.training.train, spec)


# ------------------------------------------------------------------ on the GPU

@pytest.mark.parametrize("case", ["iterate_minibatches", "train"])
def test_on_device(student, reference, check, gen, case):
    """iterate_minibatches and train with data and model on the simulated GPU (the
    generator stays on the CPU: a permutation is drawn there and moved to the data's
    device): nothing moves to the CPU, no tensor is made without device=, and the batches
    (or the history and final weights) are the reference's."""
    if case == "iterate_minibatches":
        X = torch.randn(11, 3, generator=gen)
        y = torch.randint(0, 3, (11,), generator=gen)
        kwargs = dict(batch_size=4, shuffle=True, generator_seed=_seed(gen), global_seed=_seed(gen))
        got = on_device(check, student, student.harness.collect_minibatches, student.training.iterate_minibatches,
                        X, y, what=case, generators=False, **kwargs)
        want = harness_training.collect_minibatches(reference.training.iterate_minibatches, X, y, **kwargs)
        check.close(got, want, what="the batches iterate_minibatches(X, y, batch_size=4, shuffle=True, "
                                    "generator=g) yields on the simulated GPU")
        return
    spec = make_spec(gen, F64, "cpu", optimizer="adam", epochs=2, dropout=0.0,
                     scheduler=["StepLR", {"step_size": 1, "gamma": 0.5}])
    got = on_device(check, student, student.harness.run_training, student.training.train, dict(spec, device="cuda"),
                    what="train", generators=False)
    got = envelope(check, got, spec)
    want = harness_training.run_training(reference.training.train, spec)
    check.close(got["history"], want["history"], what=f"the history of {describe(spec)} on the simulated GPU")
    check.close(got["state"], want["state"], what=f"the final weights of {describe(spec)} on the simulated GPU")
