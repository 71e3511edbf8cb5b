"""Hidden suite for training.py, part 2: the training loop ``train``.

Every case is a spec (data only: layer sizes, seeds, optimizer and scheduler by name,
early-stopping settings, the data) that ``harness.run_training`` turns into a small
network (Linear, BatchNorm1d, ReLU, Dropout, Linear), a torch.optim optimizer, a
scheduler and an early stopper written for the grader, instruments them and hands them
to ``train``: once beside the student's code and once here with the reference, with the
same seeds. Same seeds and the same loop give the same numbers, so the history and
the final weights must match the reference's; the records (the mode and grad state
at every forward, the rows of every batch, the gradients at every optimizer step,
the learning rates, the scheduler and early-stopper calls) make each rule of the
loop a group of its own, with a message that names the rule.

The early stopper given to ``train`` is the grader's, so ``train`` is graded
independently of the submission's own EarlyStopping class.
"""

from __future__ import annotations

import pytest
import torch

from grader import harness_training
from grader.compare import Tolerance, compare
from grader.diagnosis import Mistake
from grader.errors import StudentError

pytestmark = pytest.mark.topic("training")

F32, F64 = torch.float32, torch.float64
C, D, HIDDEN = 3, 4, 6
KEYS = ("train_loss", "val_loss", "val_accuracy")

OPTIMIZERS = {
    "sgd": ("SGD", {"lr": 0.2}),
    "momentum": ("SGD", {"lr": 0.1, "momentum": 0.9}),
    "adam": ("Adam", {"lr": 0.02}),
    "rmsprop-wd": ("RMSprop", {"lr": 0.01, "weight_decay": 1e-3}),
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
              epochs=3, batch_size=4, n_train=14, n_val=9, dropout=0.25, start_in_eval=False,
              flip_val=False):
    centers = 2.0 * torch.randn(C, D, generator=gen, dtype=F64)
    X, y = blobs(gen, n_train, centers)
    Xv, yv = blobs(gen, n_val, centers, flip=flip_val)
    name, kwargs = OPTIMIZERS[optimizer]
    return {
        "sizes": [D, HIDDEN, C], "dropout": dropout, "batchnorm": True, "dtype": dtype,
        "device": str(device), "init_seed": _seed(gen), "run_seed": _seed(gen),
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
    if spec.get("start_in_eval"):
        text += " (model handed over in eval mode)"
    return text + f" [{str(spec['dtype']).replace('torch.', '')}]"


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
    try:
        got = student.harness.run_training(student.training.train, spec)
    except StudentError as err:
        if not err.is_a("NotImplementedError"):
            for needle, hint in _ERROR_HINTS:
                if needle.lower() in err.exc_message.lower():
                    check.fail(err.message[:400], hint)
        raise
    return got


def run_reference(reference, key, spec):
    if key not in _REFERENCE_RUNS:  # the same for every submission in a run
        _REFERENCE_RUNS[key] = harness_training.run_training(reference.training.train, spec)
    return _REFERENCE_RUNS[key]


def pair(check, student, reference, gen, spec, name=""):
    """(student's run, reference's run) of one spec."""
    want = run_reference(reference, (gen.initial_seed(), name), spec)
    return run_student(check, student, spec), want


# ------------------------------------------------------------------ reading the records


class Record:
    """One run's events, cut into epochs: an epoch starts at the first training forward
    (grad enabled) after a validation forward; what comes before the first one is the
    prelude."""

    def __init__(self, run):
        self.run = run
        self.events = run["events"]
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


def history(check, got, spec):
    """The student's history, checked for its form: a dict of three per-epoch lists of numbers."""
    label = describe(spec)
    hist = got["history"]
    if not isinstance(hist, dict):
        check.fail(f"{label} returned {got['returned']} instead of the history dict",
                   "return {'train_loss': [...], 'val_loss': [...], 'val_accuracy': [...]}")
    for key in KEYS:
        if key not in hist:
            check.fail(f"{label}: the history has no key {key!r}",
                       "return {'train_loss': [...], 'val_loss': [...], 'val_accuracy': [...]}")
        values = hist[key]
        if not isinstance(values, list):
            check.fail(f"{label}: history[{key!r}] is not a list (one number per epoch)")
        for k, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                check.fail(f"{label}: history[{key!r}][{k}] is {v!r}, not a number",
                           "store Python floats (loss.item()), one per epoch")
    lengths = {len(hist[k]) for k in KEYS}
    if len(lengths) != 1:
        check.fail(f"{label}: the three history lists have different lengths {sorted(lengths)}",
                   "append one value to each list per epoch")
    return hist


def diagnose(rec, ref):
    """The first rule of the loop the student's records break (a hint), or None."""
    if rec.prelude and rec.of("scheduler") and any(e["ev"] == "scheduler" for e in rec.prelude):
        return SCHEDULER_EARLY
    for k in range(len(rec.epochs)):
        if not rec.val_forwards(k):
            return NO_VALIDATION
    if any(e["training"] for e in rec.val_forwards()):
        return EVAL_HINT
    train_modes = [e["training"] for e in rec.train_forwards()]
    if not all(train_modes):
        return TRAIN_MODE_HINT
    states = [e["grads"] for e in rec.of("step")]
    if "accumulated" in states:
        return ACCUMULATED_HINT
    if "cleared" in states:
        return CLEARED_HINT
    if len(states) != len(rec.train_forwards()):
        return ONE_STEP_HINT
    if rec.rows() != Record(ref).rows():
        return rows_hint(rec.rows(), Record(ref).rows())
    if rec.lrs() != Record(ref).lrs():
        return SCHEDULER_HINT
    return None


NO_VALIDATION = ("evaluate the model on the validation set once per epoch, after the epoch's training "
                 "batches (the records show an epoch without a validation forward)")
EVAL_HINT = ("the validation ran in training mode: call model.eval() before it -- Dropout must be off and "
             "BatchNorm must use (and not update) its running statistics")
TRAIN_MODE_HINT = ("a training batch ran in eval mode: call model.train() at the start of EVERY epoch "
                   "(model.eval() for the validation switched the model off training mode, and the model "
                   "may be handed to train in eval mode)")
ACCUMULATED_HINT = ("gradients accumulated across batches: call optimizer.zero_grad() for every batch, "
                    "before loss.backward() (backward adds to .grad)")
CLEARED_HINT = ("optimizer.step() ran with cleared gradients: zero_grad() belongs before loss.backward(), "
                "not between backward and step")
ONE_STEP_HINT = "call optimizer.step() exactly once per training batch, after loss.backward()"
ROWS_HINT = ("the training batches are not those of iterate_minibatches(X, y, batch_size, shuffle=True, "
             "generator=generator), called once per epoch with the generator given to train (the order "
             "of torch.randperm(N, generator=generator), the last shorter batch included)")


def rows_hint(rows, ref_rows):
    """Name the slip behind training batches that differ from the reference's."""
    def flat(epoch):
        return [i for b in epoch for i in b]

    n = len(flat(ref_rows[0]))
    batch_size = len(ref_rows[0][0])
    if any(flat(e) == list(range(n)) for e in rows):
        return ("the training rows came in their original order: shuffle every epoch with "
                "iterate_minibatches(X, y, batch_size, shuffle=True, generator=generator)")
    if len(rows) > 1 and all(e == rows[0] for e in rows[1:]):
        return ("every epoch used the same order: draw a new permutation each epoch (call "
                "iterate_minibatches once per epoch with the SAME generator; do not re-seed it)")
    if n % batch_size and any(len(flat(e)) == n - n % batch_size for e in rows):
        return "the last, shorter batch of each epoch is missing: keep it"
    if any(sorted(flat(e)) != list(range(n)) for e in rows):
        return "every epoch must visit each training example exactly once"
    return ROWS_HINT


SCHEDULER_HINT = ("call scheduler.step() once per epoch, after the epoch's training batches (not per batch, "
                  "not before the batches, and not never)")
SCHEDULER_EARLY = ("the scheduler stepped before the first epoch's batches: call scheduler.step() at the END "
                   "of each epoch, so the first epoch runs at the initial learning rate")


def _tol(spec):
    return Tolerance(1e-5, 1e-6) if spec["dtype"] == F32 else Tolerance(1e-7, 1e-10)


def check_history(check, got, want, spec, keys=KEYS, mistakes=()):
    hist = history(check, got, spec)
    ref_hist = want["history"]
    rec, ref = Record(got), Record(want)
    tol = _tol(spec)
    n, n_ref = len(hist["val_loss"]), len(ref_hist["val_loss"])
    if n != n_ref:
        check.fail(f"{describe(spec)}: the history has {n} epochs, which is not the number of epochs "
                   "this run should last", diagnose(rec, want))
    for key in keys:
        rtol = max(tol.rtol, 1e-6) if key == "val_accuracy" else tol.rtol
        check.close(hist[key], ref_hist[key], rtol=rtol, atol=tol.atol,
                    what=f"{describe(spec)}: history[{key!r}] (one value per epoch)",
                    mistakes=list(mistakes) + [Mistake(h, when=lambda _o, h=h: True)
                                              for h in [diagnose(rec, want)] if h])
    return hist


# ------------------------------------------------------------------ history and weights


@pytest.mark.parametrize("case,dtype", [("momentum", F64), ("adam", F32)], ids=["sgd-momentum-float64",
                                                                                  "adam-float32"])
def test_train_history(student, reference, check, gen, device, case, dtype):
    """The per-epoch train_loss, val_loss and val_accuracy reproduce the reference's."""
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
    """The weights and BatchNorm buffers after training reproduce the reference's."""
    spec = make_spec(gen, dtype, device, optimizer=case, dropout=0.4)
    got, want = pair(check, student, reference, gen, spec)
    rec = Record(got)
    hint = diagnose(rec, want)
    check.close(got["state"], want["state"], what=f"{describe(spec)}: the model's state_dict afterwards",
                hint=hint)


# ------------------------------------------------------------------ the batches


@pytest.mark.parametrize("case,dtype,n_train,batch_size", [("sgd", F32, 14, 4), ("adam", F64, 13, 5)],
                         ids=["N14-B4-float32", "N13-B5-float64"])
def test_train_minibatches(student, reference, check, gen, device, case, dtype, n_train, batch_size):
    """The training batches are iterate_minibatches' with the given generator, a fresh
    permutation per epoch, the last shorter batch included."""
    spec = make_spec(gen, dtype, device, optimizer=case, n_train=n_train, batch_size=batch_size)
    got, want = pair(check, student, reference, gen, spec)
    rec, ref = Record(got), Record(want)
    rows, ref_rows = rec.rows(), ref.rows()
    label = describe(spec)
    check.that(len(rows) > 0, f"{label}: no training batch reached the model", ROWS_HINT)

    hint = rows_hint(rows, ref_rows)
    for k, (mine, theirs) in enumerate(zip(rows, ref_rows)):
        check.that(mine == theirs, f"{label}: epoch {k + 1}: the rows of the training batches (their sizes "
                   "and order) are not those the generator gives", hint)
    check.that(len(rows) == len(ref_rows), f"{label}: the model saw {len(rows)} epochs of training batches, "
               "not one per epoch", "run each epoch's batches once")


def test_train_loss_accounting(student, reference, check, gen, device):
    """train_loss is the mean per EXAMPLE over the epoch: with a shorter last batch the
    mean of the batch means is wrong."""
    spec = make_spec(gen, F64, device, optimizer="momentum", n_train=14, batch_size=4)
    got, want = pair(check, student, reference, gen, spec)
    rec = Record(got)
    losses = rec.batch_losses()
    batch_mean = [sum(v for v, _ in e) / len(e) for e in losses if e]
    last_only = [e[-1][0] for e in losses if e]
    summed = [sum(v * n for v, n in e) for e in losses if e]
    hist = history(check, got, spec)

    def near(values):
        return lambda _o: len(values) == len(hist["train_loss"]) and compare(
            hist["train_loss"], values, Tolerance(1e-9, 1e-12)).ok

    mistakes = [
        Mistake("train_loss averaged the batch means, so the shorter last batch weighs as much as a full "
                "one: add loss.item() * batch size over the epoch and divide by N", when=near(batch_mean)),
        Mistake("train_loss holds only the last batch's loss: average over every example of the epoch",
                when=near(last_only)),
        Mistake("train_loss is a sum: divide by the number of training examples", when=near(summed)),
    ]
    check_history(check, got, want, spec, keys=("train_loss",), mistakes=mistakes)


# ------------------------------------------------------------------ modes and grad state


def test_train_eval_mode(student, check, gen, device):
    """Validation runs in eval mode (model.eval())."""
    spec = make_spec(gen, F32, device, optimizer="adam", dropout=0.5)
    got = run_student(check, student, spec)
    rec = Record(got)
    label = describe(spec)
    check.that(rec.val_forwards(), f"{label}: the model never saw the validation data", NO_VALIDATION)
    for k in range(len(rec.epochs)):
        vals = rec.val_forwards(k)
        check.that(bool(vals), f"{label}: epoch {k + 1} has no validation forward", NO_VALIDATION)
        check.that(not any(e["training"] for e in vals),
                   f"{label}: in epoch {k + 1} the model was in training mode (model.training True) "
                   "during the validation forward", EVAL_HINT)


def test_train_mode_restored(student, check, gen, device):
    """Every training batch runs in training mode, in every epoch (the model is handed
    over in eval mode and validation switches it to eval mode)."""
    spec = make_spec(gen, F32, device, optimizer="momentum", start_in_eval=True, epochs=3)
    got = run_student(check, student, spec)
    rec = Record(got)
    label = describe(spec)
    check.that(len(rec.epochs) >= 2, f"{label}: fewer than two epochs of training batches reached the model",
               "run every epoch")
    for k in range(len(rec.epochs)):
        bad = [e for e in rec.train_forwards(k) if not e["training"]]
        if bad and k == 0:
            check.fail(f"{label}: the first epoch's training batches ran in eval mode",
                       "call model.train() at the start of every epoch: the model may be handed over in "
                       "eval mode")
        check.that(not bad, f"{label}: in epoch {k + 1} the training batches ran in eval mode "
                   "(model.training False)",
                   "call model.train() at the start of EVERY epoch: model.eval() for the previous epoch's "
                   "validation left the model in eval mode")


def test_train_no_grad(student, check, gen, device):
    """Validation runs under torch.no_grad() (no autograd graph)."""
    spec = make_spec(gen, F64, device, optimizer="sgd")
    got = run_student(check, student, spec)
    rec = Record(got)
    label = describe(spec)
    check.that(rec.val_forwards(), f"{label}: the model never saw the validation data", NO_VALIDATION)
    for k in range(len(rec.epochs)):
        vals = rec.val_forwards(k)
        check.that(bool(vals), f"{label}: epoch {k + 1} has no validation forward", NO_VALIDATION)
        check.that(not any(e["grad"] for e in vals),
                   f"{label}: in epoch {k + 1} the validation forward ran with gradients enabled",
                   "wrap the validation in `with torch.no_grad():` so that no autograd graph is built "
                   "(model.eval() alone does not turn gradients off)")


# ------------------------------------------------------------------ optimizer and scheduler


def test_train_zero_grad(student, check, gen, device):
    """Every optimizer step uses the gradient of its own batch: zero_grad before backward."""
    spec = make_spec(gen, F64, device, optimizer="sgd", n_train=14, batch_size=4)
    got = run_student(check, student, spec)
    rec = Record(got)
    label = describe(spec)
    steps = rec.of("step")
    forwards = rec.train_forwards()
    check.that(bool(steps), f"{label}: optimizer.step() was never called", ONE_STEP_HINT)
    for i, e in enumerate(steps):
        check.that(e["grads"] != "accumulated", f"{label}: at optimizer step {i + 1} the gradients held more "
                   "than the current batch's gradient", ACCUMULATED_HINT)
        check.that(e["grads"] != "cleared", f"{label}: at optimizer step {i + 1} the gradients had been "
                   "cleared", CLEARED_HINT)
    check.that(len(steps) == len(forwards), f"{label}: {len(steps)} optimizer steps for {len(forwards)} "
               "training batches", ONE_STEP_HINT)


SCHEDULERS = [
    (["StepLR", {"step_size": 1, "gamma": 0.5}], "sgd", F32),
    (["ExponentialLR", {"gamma": 0.7}], "momentum", F64),
]


@pytest.mark.parametrize("scheduler,case,dtype", SCHEDULERS, ids=["StepLR-float32", "ExponentialLR-float64"])
def test_train_scheduler(student, reference, check, gen, device, scheduler, case, dtype):
    """scheduler.step() once per epoch, after the epoch's batches, without arguments."""
    spec = make_spec(gen, dtype, device, optimizer=case, scheduler=scheduler, epochs=3)
    got, want = pair(check, student, reference, gen, spec)
    rec = Record(got)
    label = describe(spec)
    calls = rec.of("scheduler")
    check.that(bool(calls), f"{label}: scheduler.step() was never called", SCHEDULER_HINT)
    check.that(all(e["args"] == 0 for e in calls), f"{label}: scheduler.step() was called with an argument",
               "call scheduler.step() without arguments (an argument is read as an epoch number)")
    check.that(not any(e["ev"] == "scheduler" for e in rec.prelude),
               f"{label}: scheduler.step() was called before the first epoch's batches", SCHEDULER_EARLY)
    for k in range(len(rec.epochs)):
        n = len(rec.of("scheduler", k))
        check.that(n == 1, f"{label}: scheduler.step() was called {n} times in epoch {k + 1}",
                   SCHEDULER_HINT if n == 0 else "call scheduler.step() once per EPOCH, after the epoch's "
                   "batches, not after every batch")
    check.close(rec.lrs(), Record(want).lrs(), rtol=1e-12, atol=0.0,
                what=f"{label}: the learning rate at every optimizer step", hint=SCHEDULER_HINT)


# ------------------------------------------------------------------ early stopping


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


def stopping_case(gen, dtype, device, reference, kind):
    key = (gen.initial_seed(), kind)
    if key not in _REFERENCE_RUNS:
        make = _spec_stopping_early if kind == "early" else lambda *a: _spec_min_delta(*a[:4])
        _REFERENCE_RUNS[key] = make(gen, dtype, device, reference, kind)
    return _REFERENCE_RUNS[key]


@pytest.mark.parametrize("kind,dtype", [("early", F64), ("min_delta", F32)], ids=["stops-float64",
                                                                                  "min_delta-float32"])
def test_train_early_stopping(student, reference, check, gen, device, kind, dtype):
    """early_stopping.step(val_loss) once per epoch; the loop ends when it returns True."""
    spec, want = stopping_case(gen, dtype, device, reference, kind)
    got = run_student(check, student, spec)
    hist = history(check, got, spec)
    rec = Record(got)
    label = describe(spec)
    stops = rec.stopper()
    n = len(hist["val_loss"])
    check.that(bool(stops), f"{label}: early_stopping.step was never called",
               "call early_stopping.step(val_loss) once per epoch, after the validation")
    check.that(len(stops) == n, f"{label}: early_stopping.step was called {len(stops)} times in {n} epochs",
               "call early_stopping.step(val_loss) exactly once per epoch")
    metrics = [e["metric"] for e in stops]
    tol = Tolerance(1e-6, 1e-9)
    mistakes = [
        Mistake("early stopping must watch the VALIDATION loss, not the training loss",
                when=lambda _o: compare(metrics, hist["train_loss"], tol).ok),
        Mistake("with mode 'min' early stopping watches the validation LOSS, not the accuracy",
                when=lambda _o: compare(metrics, hist["val_accuracy"], tol).ok),
    ]
    check.close(metrics, hist["val_loss"], rtol=1e-6, atol=1e-9, mistakes=mistakes,
                what=f"{label}: the values given to early_stopping.step, compared with history['val_loss']")
    first = next((i for i, e in enumerate(stops) if e["stop"]), None)
    if first is not None:
        check.that(n == first + 1, f"{label}: the loop went on for {n - first - 1} more epoch(s) after "
                   f"early_stopping.step returned True (epoch {first + 1})",
                   "leave the epoch loop (break) as soon as early_stopping.step returns True")
    else:
        check.that(n == spec["epochs"], f"{label}: the loop ended after {n} of {spec['epochs']} epochs "
                   "although early stopping never returned True", "run all epochs unless early stopping says stop")
    check.that(n == len(want["history"]["val_loss"]),
               f"{label}: the loop ran {n} epochs; with the right validation losses early stopping ends it "
               "after a different number", diagnose(rec, want))


@pytest.mark.parametrize("kind,dtype", [("early", F32), ("min_delta", F64)], ids=["stops-float32",
                                                                                  "min_delta-float64"])
def test_train_best_weights(student, reference, check, gen, device, kind, dtype):
    """At the end the weights (and BatchNorm buffers) of early stopping's best_step epoch
    are back in the model, whether the loop ended early or not."""
    spec, want = stopping_case(gen, dtype, device, reference, kind)
    got = run_student(check, student, spec)
    rec = Record(got)
    label = describe(spec)
    tol = _tol(spec)
    stops = rec.stopper()
    best = stops[-1]["best_step"] if stops else None
    snaps = got["epoch_states"]
    final = got["state"]

    def same(a, b, keys=None):
        keys = keys if keys is not None else list(b)
        return all(k in a and compare(a[k], b[k], tol).ok for k in keys)

    params = [k for k in final if "running" not in k and "num_batches" not in k]
    mistakes = []
    if snaps and best is not None and best < len(snaps):
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
