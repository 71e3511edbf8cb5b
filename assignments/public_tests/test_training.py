"""Public self-check for training.py: a few basic cases per function.

iterate_minibatches is compared with torch.randperm itself and EarlyStopping with
sequences worked out by hand. train runs on a small network (Linear, BatchNorm1d,
ReLU, Dropout, Linear) built by the grader; these tests check the form of the
history and the basic rules of the loop. The hidden
suite also compares every number of the history and the final weights with a
reference loop, and checks the batches, the gradients at every step, the learning-rate
schedule, early stopping and the restored weights in many more cases.
"""

from __future__ import annotations

import math

import pytest
import torch

from grader.harness_training import build_network, stopping_point

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


def make_spec(gen, dtype, device, epochs=3, flip_val=False, early_stopping=None, scheduler=None, **model):
    """Gaussian blobs in 4-D, 3 classes; a network 4 -> 6 -> 3 with BatchNorm and Dropout
    (``model`` overrides: optimizer, dropout, batchnorm, loss, same_rows, n_train, ...)."""
    centers = 2.0 * torch.randn(3, 4, generator=gen, dtype=F64)

    def blobs(n, flip=False):
        y = torch.randint(0, 3, (n,), generator=gen)
        return centers[y] + torch.randn(n, 4, generator=gen, dtype=F64), (y + 1) % 3 if flip else y

    X, y = blobs(model.pop("n_train", 14))
    Xv, yv = blobs(9, flip_val)
    if model.pop("same_rows", False):  # every training row (and label) the same
        X, y = X[:1].repeat(X.shape[0], 1), y[:1].repeat(y.shape[0])
    spec = {
        "sizes": [4, 6, 3], "dropout": 0.25, "batchnorm": True, "dtype": dtype, "device": str(device),
        "init_seed": 1, "run_seed": 2, "optimizer": ["SGD", {"lr": 0.1, "momentum": 0.9}],
        "scheduler": scheduler, "early_stopping": early_stopping, "epochs": epochs, "batch_size": 4,
        "train": [X, y], "val": [Xv, yv], "generator_seed": 3, "start_in_eval": True,
    }
    spec.update(model)
    return spec


def _history(check, run, epochs=None, at_most=None):
    hist = run.get("history") if isinstance(run, dict) else None
    check.that(isinstance(hist, dict) and all(k in hist for k in ("train_loss", "val_loss", "val_accuracy")),
               "train returned something without the keys train_loss, val_loss and val_accuracy",
               "return {'train_loss': [...], 'val_loss': [...], 'val_accuracy': [...]}")
    for key in ("train_loss", "val_loss", "val_accuracy"):
        values = hist[key]
        check.that(isinstance(values, list) and len(values) <= (at_most or epochs or 1000)
                   and all(isinstance(v, float) and math.isfinite(v) for v in values),
                   f"history[{key!r}] is not a list of finite Python floats, one per epoch",
                   "store loss.item(), one per epoch")
        if epochs is not None:
            check.that(len(values) == epochs, f"history[{key!r}] has {len(values)} entries for {epochs} epochs")
    check.that(all(0.0 <= v <= 1.0 for v in hist["val_accuracy"]), "val_accuracy is not a fraction in [0, 1]")
    return hist


def _data(spec, part):
    X, y = spec[part]
    return X.to(device=spec["device"], dtype=spec["dtype"]), y.to(spec["device"])


def test_train_history(student, check, gen, device):
    spec = make_spec(gen, torch.float32, device, epochs=4)
    run = student.harness.run_training(student.training.train, spec)
    hist = _history(check, run, epochs=4)
    check.that(hist["train_loss"][-1] < hist["train_loss"][0],
               "the training loss did not go down over 4 epochs on easy data",
               "per batch: optimizer.zero_grad(), loss = loss_fn(model(Xb), yb), loss.backward(), optimizer.step()")


def test_train_loop_rules(student, check, gen, device):
    """Each rule on a run where only that rule decides the numbers, checked against what the
    untrained network gives here (the hidden suite checks every rule much more closely)."""
    ce = torch.nn.functional.cross_entropy
    frozen = ["SGD", {"lr": 0.0}]  # weights that never move

    # validation in eval mode: with dropout on, the validation loss of the untrained network
    spec = make_spec(gen, F64, device, epochs=2, optimizer=frozen, dropout=0.5, batchnorm=False,
                     start_in_eval=False)
    run = student.harness.run_training(student.training.train, spec)
    hist = _history(check, run, epochs=2)
    if any(e.get("ev") == "forward" and e.get("kind") == "val" and e.get("grad") is True
           for e in (run.get("events") or [])[:5000] if isinstance(e, dict)):
        check.note("no points depend on this: the validation ran with gradients enabled; wrap it in "
                   "torch.no_grad()")
    net = build_network(spec).eval()
    Xv, yv = _data(spec, "val")
    with torch.no_grad():
        logits = net(Xv)
    check.close(hist["val_loss"], [ce(logits, yv).item()] * 2, rtol=1e-9, atol=1e-12,
                what="with lr=0 and Dropout(0.5): history['val_loss']", hint="call model.eval() before the validation")

    # training batches in training mode: identical rows, so BatchNorm zeroes every batch
    spec = make_spec(gen, F64, device, epochs=2, optimizer=frozen, dropout=0.0, n_train=8, same_rows=True)
    hist = _history(check, student.harness.run_training(student.training.train, spec), epochs=2)
    X, y = _data(spec, "train")
    with torch.no_grad():
        train_mode_loss = ce(build_network(spec).train()(X[:4]), y[:4]).item()
    check.close(hist["train_loss"], [train_mode_loss] * 2, rtol=1e-9, atol=1e-12,
                what="with lr=0, BatchNorm and the model handed over in eval mode: history['train_loss']",
                hint="call model.train() at the start of every epoch")

    # one fresh gradient per step: every batch holds the same data, so 4 steps of plain descent
    spec = make_spec(gen, F64, device, epochs=2, optimizer=["SGD", {"lr": 0.5}], dropout=0.0, batchnorm=False,
                     n_train=8, same_rows=True)
    run = student.harness.run_training(student.training.train, spec)
    X, y = _data(spec, "train")
    net = build_network(spec)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(4):
        opt.zero_grad()
        ce(net(X[:4]), y[:4]).backward()
        opt.step()
    check.close(run.get("state") if isinstance(run, dict) else None, net.state_dict(),
                what="with identical training rows, the weights after 4 batches",
                hint="call optimizer.zero_grad() before loss.backward() for every batch, and one optimizer.step()")

    # the learning rate of every step: a loss with zero gradient, so each step only decays the weights
    spec = make_spec(gen, F64, device, epochs=3, optimizer=["SGD", {"lr": 0.2, "weight_decay": 0.5}], dropout=0.0,
                     batchnorm=False, n_train=8, loss="value_only",
                     scheduler=["StepLR", {"step_size": 1, "gamma": 0.5}])
    run = student.harness.run_training(student.training.train, spec)
    factor = math.prod((1 - 0.2 * 0.5 ** epoch * 0.5) ** 2 for epoch in range(3))
    want = {k: v * factor for k, v in build_network(spec).state_dict().items()}
    check.close(run.get("state") if isinstance(run, dict) else None, want, rtol=1e-9, atol=1e-12,
                what="with StepLR(step_size=1, gamma=0.5) and pure weight decay, the weights after 3 epochs",
                hint="call scheduler.step() once per epoch, after the epoch's batches")


def test_train_early_stopping(student, check, gen, device):
    # a loss with zero gradient and weight decay: the weights shrink at every step, and with
    # the untrained network's own predictions as validation labels the validation loss rises
    es = {"patience": 1, "min_delta": 0.0, "mode": "min"}
    spec = make_spec(gen, F64, device, epochs=6, early_stopping=es, dropout=0.0, batchnorm=False, n_train=8,
                     optimizer=["SGD", {"lr": 0.2, "weight_decay": 0.5}], loss="value_only")
    net = build_network(spec)
    Xv, _ = _data(spec, "val")
    with torch.no_grad():
        spec["val"][1] = net(Xv).argmax(dim=1).cpu()
    Xv, yv = _data(spec, "val")
    opt = torch.optim.SGD(net.parameters(), lr=0.2, weight_decay=0.5)
    val_losses = []
    for _ in range(spec["epochs"]):
        for _ in range(2):  # two batches per epoch; every gradient is zero
            for p in net.parameters():
                p.grad = torch.zeros_like(p)
            opt.step()
        with torch.no_grad():
            val_losses.append(torch.nn.functional.cross_entropy(net(Xv), yv).item())
    epochs, _ = stopping_point(val_losses, es)

    run = student.harness.run_training(student.training.train, spec)
    hist = _history(check, run, at_most=spec["epochs"])
    m = min(len(hist["val_loss"]), epochs)
    check.close(hist["val_loss"][:m], val_losses[:m], rtol=1e-9, atol=1e-12,
                what="history['val_loss'] (the values early stopping watches)")
    check.that(len(hist["val_loss"]) == epochs,
               f"the loop ran {len(hist['val_loss'])} epochs; stepped with each epoch's validation loss, early "
               f"stopping (patience=1) says stop after epoch {epochs}",
               "call early_stopping.step(val_loss) once per epoch and break out of the epoch loop as soon as it "
               "returns True")
