"""Public self-check for training.py: a few basic cases per function.

iterate_minibatches is compared with torch.randperm itself and EarlyStopping with
sequences worked out by hand. train runs on a small network (Linear, BatchNorm1d,
ReLU, Dropout, Linear) built by the grader, which records how the loop drives it;
these tests check the form of the history and the basic rules of the loop. The hidden
suite also compares every number of the history and the final weights with a
reference loop, and checks the batches, the gradients at every step, the learning-rate
schedule, early stopping and the restored weights in many more cases.
"""

from __future__ import annotations

import math

import pytest
import torch

pytestmark = pytest.mark.topic("training")

F64 = torch.float64


def _batches(student, X, y, batch_size, shuffle, seed):
    return student.harness.collect_minibatches(student.training.iterate_minibatches, X, y,
                                               batch_size=batch_size, shuffle=shuffle, generator_seed=seed)


def test_iterate_minibatches(student, check, gen, device, dtype):
    X = torch.randn(10, 3, generator=gen, dtype=dtype).to(device)
    y = torch.randint(0, 3, (10,), generator=gen).to(device)
    got = _batches(student, X, y, 4, True, 7)
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(7)).to(device)
    want = [[X[perm[i:i + 4]], y[perm[i:i + 4]]] for i in range(0, 10, 4)]  # sizes 4, 4, 2
    check.close(got, want, rtol=0.0, atol=0.0,
                what="iterate_minibatches(X (N=10), y, batch_size=4, shuffle=True, generator=g): the batches")


def test_iterate_minibatches_no_shuffle(student, check, gen, device, dtype):
    X = torch.randn(7, 2, generator=gen, dtype=dtype).to(device)
    y = torch.randint(0, 3, (7,), generator=gen).to(device)
    got = _batches(student, X, y, 3, False, 7)
    want = [[X[0:3], y[0:3]], [X[3:6], y[3:6]], [X[6:7], y[6:7]]]
    check.close(got, want, rtol=0.0, atol=0.0,
                what="iterate_minibatches(X (N=7), y, batch_size=3, shuffle=False): the batches")


def _stopper(student, kwargs, metrics):
    return student.harness.run_early_stopping(student.training.EarlyStopping, kwargs, metrics)


def test_early_stopping(student, check):
    out = _stopper(student, {"patience": 2}, [1.0, 0.8, 0.8, 0.9])
    check.equal(out["initial"], {"best": None, "best_step": None},
                what="EarlyStopping(patience=2): best and best_step before the first call")
    check.equal([c["stop"] for c in out["calls"]], [False, False, False, True],
                what="EarlyStopping(patience=2).step(m) for m = 1.0, 0.8, 0.8, 0.9 (0.8 again is no improvement)")
    check.equal([out["calls"][-1]["best"], out["calls"][-1]["best_step"]], [0.8, 1],
                what="EarlyStopping(patience=2): [best, best_step] after the four calls")


def test_early_stopping_min_delta_max(student, check):
    out = _stopper(student, {"patience": 2, "min_delta": 0.125, "mode": "max"},
                   [0.5, 0.625, 0.75, 0.875, 0.875])
    # 0.625 beats 0.5 by exactly min_delta: no improvement; 0.75 is one; 0.875 is not
    check.equal([c["stop"] for c in out["calls"]], [False, False, False, False, True],
                what="EarlyStopping(patience=2, min_delta=0.125, mode='max').step(m) for m = 0.5, 0.625, 0.75, "
                     "0.875, 0.875")
    check.equal([out["calls"][-1]["best"], out["calls"][-1]["best_step"]], [0.75, 2],
                what="EarlyStopping(patience=2, min_delta=0.125, mode='max'): [best, best_step] at the end")


def make_spec(gen, dtype, device, epochs=3, flip_val=False, early_stopping=None, scheduler=None):
    """Gaussian blobs in 4-D, 3 classes; a network 4 -> 6 -> 3 with BatchNorm and Dropout."""
    centers = 2.0 * torch.randn(3, 4, generator=gen, dtype=F64)

    def blobs(n, flip=False):
        y = torch.randint(0, 3, (n,), generator=gen)
        return centers[y] + torch.randn(n, 4, generator=gen, dtype=F64), (y + 1) % 3 if flip else y

    X, y = blobs(14)
    Xv, yv = blobs(9, flip_val)
    return {
        "sizes": [4, 6, 3], "dropout": 0.25, "batchnorm": True, "dtype": dtype, "device": str(device),
        "init_seed": 1, "run_seed": 2, "optimizer": ["SGD", {"lr": 0.1, "momentum": 0.9}],
        "scheduler": scheduler, "early_stopping": early_stopping, "epochs": epochs, "batch_size": 4,
        "train": [X, y], "val": [Xv, yv], "generator_seed": 3, "start_in_eval": True,
    }


def _history(check, run, epochs=None):
    hist = run["history"]
    check.that(isinstance(hist, dict) and all(k in hist for k in ("train_loss", "val_loss", "val_accuracy")),
               f"train returned {run['returned']} without the keys train_loss, val_loss and val_accuracy",
               "return {'train_loss': [...], 'val_loss': [...], 'val_accuracy': [...]}")
    for key, values in hist.items():
        check.that(isinstance(values, list) and all(isinstance(v, float) and math.isfinite(v) for v in values),
                   f"history[{key!r}] is not a list of finite Python floats", "store loss.item(), one per epoch")
        if epochs is not None:
            check.that(len(values) == epochs, f"history[{key!r}] has {len(values)} entries for {epochs} epochs")
    check.that(all(0.0 <= v <= 1.0 for v in hist["val_accuracy"]), "val_accuracy is not a fraction in [0, 1]")
    return hist


def test_train_history(student, check, gen, device):
    spec = make_spec(gen, torch.float32, device, epochs=4)
    run = student.harness.run_training(student.training.train, spec)
    hist = _history(check, run, epochs=4)
    check.that(hist["train_loss"][-1] < hist["train_loss"][0],
               "the training loss did not go down over 4 epochs on easy data",
               "per batch: optimizer.zero_grad(), loss = loss_fn(model(Xb), yb), loss.backward(), optimizer.step()")


def test_train_loop_rules(student, check, gen, device):
    spec = make_spec(gen, F64, device, scheduler=["StepLR", {"step_size": 1, "gamma": 0.5}])
    run = student.harness.run_training(student.training.train, spec)
    events = run["events"]
    forwards = [e for e in events if e["ev"] == "forward"]
    train_f = [e for e in forwards if e["kind"] == "train" and e["grad"]]
    val_f = [e for e in forwards if e["kind"] == "val"]
    check.that(bool(val_f), "the model never saw the validation data")
    check.that(all(e["training"] for e in train_f), "a training batch ran in eval mode",
               "call model.train() at the start of every epoch")
    check.that(not any(e["training"] for e in val_f), "the validation ran in training mode",
               "call model.eval() before the validation")
    check.that(not any(e["grad"] for e in val_f), "the validation ran with gradients enabled",
               "wrap the validation in torch.no_grad()")
    states = [e["grads"] for e in events if e["ev"] == "step"]
    check.that(states and all(s == "fresh" for s in states),
               "an optimizer step did not use exactly its own batch's gradient",
               "call optimizer.zero_grad() before loss.backward() for every batch")
    n_sched = sum(e["ev"] == "scheduler" for e in events)
    check.that(n_sched == spec["epochs"], f"scheduler.step() was called {n_sched} times in {spec['epochs']} epochs",
               "call scheduler.step() once per epoch, after the epoch's batches")


def test_train_early_stopping(student, check, gen, device):
    # validation labels shifted by one: the validation loss rises as the model learns
    spec = make_spec(gen, F64, device, epochs=6, flip_val=True,
                     early_stopping={"patience": 1, "min_delta": 0.0, "mode": "min"})
    run = student.harness.run_training(student.training.train, spec)
    hist = _history(check, run)
    stops = [e for e in run["events"] if e["ev"] == "stopper"]
    check.that(len(stops) == len(hist["val_loss"]), "early_stopping.step was not called once per epoch")
    check.close([e["metric"] for e in stops], hist["val_loss"], rtol=1e-9, atol=0.0,
                what="the values given to early_stopping.step, compared with history['val_loss']")
    first = next((i for i, e in enumerate(stops) if e["stop"]), None)
    if first is not None:
        check.that(len(stops) == first + 1, "the loop went on after early_stopping.step returned True",
                   "break out of the epoch loop as soon as it returns True")
