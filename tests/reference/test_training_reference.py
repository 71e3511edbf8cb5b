"""Proof tests for reference/training.py and grader/harness_training.py.

iterate_minibatches is checked against torch.utils.data: a DataLoader over a
BatchSampler of a RandomSampler with the generator (RandomSampler draws its order with
torch.randperm(N, generator=g), like the reference; DataLoader(shuffle=True,
generator=g) itself first draws a worker seed from g, so its order differs);
EarlyStopping against an independent oracle written from the definition (the index
of the last improvement, recomputed from scratch for every prefix); train against a
classic loop written out here with torch.optim, torch.nn and plain torch.randperm.
Then the harness: its records really expose the slips (validation in training mode or
with gradients, accumulated or cleared gradients, a scheduler stepped per batch), and
its probe options do what the hidden suite relies on (zero_grad leaves zeros without
changing a correct loop's numbers, the value-only loss has no gradient, BatchNorm on
batch statistics ignores the mode). Last, the hidden suite's probes themselves: a loop
with one slip loses the points of its own rule's test and of no other, forged records
earn nothing, and oversized returns fail cleanly.
"""

from __future__ import annotations

import copy
import importlib.util
import itertools
import types
import warnings
from pathlib import Path

import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from grader import harness_training as H
from grader.checks import Checker, GradeFailure
from reference import training as ref

DTYPES = [torch.float64, torch.float32]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
ROOT = Path(__file__).resolve().parents[2]


def _data(n, d=3, dtype=torch.float64, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=dtype).to(device)
    y = torch.randint(0, 3, (n,), generator=g).to(device)
    return X, y


# ------------------------------------------------------------------ iterate_minibatches


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,batch_size", [(10, 3), (12, 4), (7, 7), (5, 8), (4, 1), (1, 1)])
def test_minibatches_match_dataloader(dtype, n, batch_size):
    X, y = _data(n, dtype=dtype)
    for shuffle in (True, False):
        mine = list(ref.iterate_minibatches(X, y, batch_size, shuffle=shuffle,
                                            generator=torch.Generator().manual_seed(42)))
        data = TensorDataset(X, y)
        sampler = (RandomSampler(data, generator=torch.Generator().manual_seed(42)) if shuffle
                   else SequentialSampler(data))
        theirs = list(DataLoader(data, batch_sampler=BatchSampler(sampler, batch_size, drop_last=False)))
        assert len(mine) == len(theirs) == -(-n // batch_size)
        for (a, b), (c, d) in zip(mine, theirs):
            assert torch.equal(a, c) and torch.equal(b, d)
            assert a.dtype == dtype and b.dtype == torch.int64


def test_minibatches_epochs_follow_successive_permutations():
    X, y = _data(9)
    g = torch.Generator().manual_seed(5)
    g2 = torch.Generator().manual_seed(5)
    for _ in range(3):
        perm = torch.randperm(9, generator=g2)
        got = torch.cat([xb for xb, _ in ref.iterate_minibatches(X, y, 4, generator=g)])
        assert torch.equal(got, X[perm])


def test_minibatches_generator_only_and_global_rng():
    X, y = _data(11, dtype=torch.float32)
    runs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        runs.append([xb for xb, _ in ref.iterate_minibatches(X, y, 3, generator=torch.Generator().manual_seed(9))])
    assert all(torch.equal(a, b) for a, b in zip(*runs))
    torch.manual_seed(3)
    perm = torch.randperm(11)
    torch.manual_seed(3)
    got = torch.cat([xb for xb, _ in ref.iterate_minibatches(X, y, 3)])
    assert torch.equal(got, X[perm])


def test_minibatches_sequential_and_shapes():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(7, 2, 3, generator=g)
    y = torch.arange(7)
    batches = list(ref.iterate_minibatches(X, y, 3, shuffle=False))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    assert torch.equal(torch.cat([b[0] for b in batches]), X)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_minibatches_cuda_data_cpu_generator():
    X, y = _data(10, device="cuda")
    got = list(ref.iterate_minibatches(X, y, 4, generator=torch.Generator().manual_seed(1)))
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(1)).cuda()
    assert all(b[0].device.type == "cuda" for b in got)
    assert torch.equal(torch.cat([b[0] for b in got]), X[perm])


@pytest.mark.parametrize("kwargs,match", [
    ({"batch_size": 0}, "batch_size"), ({"batch_size": -1}, "batch_size"), ({"batch_size": 2.5}, "batch_size"),
    ({"batch_size": True}, "batch_size"), ({"batch_size": 2, "generator": 3}, "generator"),
])
def test_minibatches_bad_arguments(kwargs, match):
    X, y = _data(6)
    with pytest.raises(ValueError, match=match):
        list(ref.iterate_minibatches(X, y, **kwargs))
    with pytest.raises(ValueError, match=r"\by\b"):
        list(ref.iterate_minibatches(X, y[:5], 2))


# ------------------------------------------------------------------ EarlyStopping


def oracle(metrics, patience, min_delta, mode):
    """From the definition, recomputed for every prefix: (stop, best, best_step) per call."""
    out = []
    for k in range(len(metrics)):
        best_i = 0
        for i in range(1, k + 1):
            a, b = metrics[i], metrics[best_i]
            if (a < b - min_delta) if mode == "min" else (a > b + min_delta):
                best_i = i
        out.append((k - best_i >= patience, metrics[best_i], best_i))
    return out


def test_early_stopping_docstring_example():
    es = ref.EarlyStopping(patience=2)
    assert es.best is None and es.best_step is None
    assert [es.step(m) for m in (1.0, 0.8, 0.8, 0.9)] == [False, False, False, True]
    assert es.best == 0.8 and es.best_step == 1


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("patience", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("min_delta", [0.0, 0.125, 0.25, 0.5])
def test_early_stopping_matches_oracle(mode, patience, min_delta):
    g = torch.Generator().manual_seed(patience * 7 + int(min_delta * 8) + (mode == "max"))
    for _ in range(20):
        metrics = [1.0 + int(v) / 8 for v in torch.randint(-8, 9, (15,), generator=g)]
        es = ref.EarlyStopping(patience=patience, min_delta=min_delta, mode=mode)
        got = []
        for m in metrics:
            stop = es.step(m)
            assert isinstance(stop, bool)
            got.append((stop, es.best, es.best_step))
        assert got == oracle(metrics, patience, min_delta, mode)


def test_early_stopping_accepts_tensors():
    es = ref.EarlyStopping(patience=1)
    assert es.step(torch.tensor(0.5)) is False
    assert isinstance(es.best, float)


@pytest.mark.parametrize("kwargs,match", [
    ({"patience": -1}, "patience"), ({"patience": 1.5}, "patience"), ({"min_delta": -0.1}, "min_delta"),
    ({"min_delta": float("nan")}, "min_delta"), ({"mode": "avg"}, "mode"),
])
def test_early_stopping_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ref.EarlyStopping(**kwargs)


# ------------------------------------------------------------------ train


def _spec(dtype=torch.float64, epochs=4, scheduler=None, early_stopping=None, flip=False, optimizer=None,
          n_train=14, batch_size=4, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    centers = 2.0 * torch.randn(3, 4, generator=g, dtype=torch.float64)

    def blobs(n, flip=False):
        y = torch.randint(0, 3, (n,), generator=g)
        return centers[y] + torch.randn(n, 4, generator=g, dtype=torch.float64), (y + 1) % 3 if flip else y

    X, y = blobs(n_train)
    Xv, yv = blobs(9, flip)
    return {
        "sizes": [4, 6, 3], "dropout": 0.3, "batchnorm": True, "dtype": dtype, "device": device,
        "init_seed": seed + 1, "run_seed": seed + 2, "optimizer": optimizer or ["SGD", {"lr": 0.1, "momentum": 0.9}],
        "scheduler": scheduler, "early_stopping": early_stopping, "epochs": epochs, "batch_size": batch_size,
        "train": [X, y], "val": [Xv, yv], "generator_seed": seed + 3, "start_in_eval": False,
    }


def classic_loop(spec):
    """The training loop written out with torch only: the oracle for train."""
    dtype, device = spec["dtype"], torch.device(spec["device"])
    X, y = (t.to(device) for t in spec["train"])
    Xv, yv = (t.to(device) for t in spec["val"])
    X, Xv = X.to(dtype), Xv.to(dtype)
    torch.manual_seed(spec["init_seed"])
    model = H.training_model(spec["sizes"], spec["dropout"], spec["batchnorm"]).to(device=device, dtype=dtype)
    name, kwargs = spec["optimizer"]
    opt = getattr(torch.optim, name)(model.parameters(), **kwargs)
    sched = None
    if spec["scheduler"]:
        sname, skw = spec["scheduler"]
        sched = getattr(torch.optim.lr_scheduler, sname)(opt, **skw)
    es = spec["early_stopping"]
    g = torch.Generator().manual_seed(spec["generator_seed"])
    loss_fn = torch.nn.CrossEntropyLoss()
    torch.manual_seed(spec["run_seed"])
    hist = {"train_loss": [], "val_loss": [], "val_accuracy": []}
    best, best_epoch, bad, best_state = None, None, 0, None
    n = X.shape[0]
    for epoch in range(spec["epochs"]):
        model.train()
        perm = torch.randperm(n, generator=g).to(device)
        total = 0.0
        for idx in perm.split(spec["batch_size"]):
            opt.zero_grad()
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if sched is not None:
            sched.step()
        model.eval()
        with torch.no_grad():
            logits = model(Xv)
            vl = loss_fn(logits, yv).item()
            acc = (logits.argmax(1) == yv).double().mean().item()
        hist["train_loss"].append(total / n)
        hist["val_loss"].append(vl)
        hist["val_accuracy"].append(acc)
        if es:
            if best is None or vl < best - es["min_delta"]:
                best, best_epoch, bad = vl, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
            if bad >= es["patience"]:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return hist, model.state_dict(), best_epoch


TRAIN_CASES = {
    "plain": {},
    "adam": {"optimizer": ["Adam", {"lr": 0.02}], "epochs": 3},
    "steplr": {"scheduler": ["StepLR", {"step_size": 1, "gamma": 0.5}]},
    "exponential": {"scheduler": ["ExponentialLR", {"gamma": 0.7}], "optimizer": ["SGD", {"lr": 0.3}]},
    "partial-batch": {"n_train": 13, "batch_size": 5},
    "early-stop": {"flip": True, "epochs": 6, "early_stopping": {"patience": 1, "min_delta": 0.0, "mode": "min"}},
    "min-delta": {"epochs": 5, "early_stopping": {"patience": 5, "min_delta": 0.05, "mode": "min"}},
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_train_matches_classic_loop(case, dtype, device):
    spec = _spec(dtype=dtype, device=device, seed=len(case), **TRAIN_CASES[case])
    got = H.run_training(ref.train, spec)
    hist, state, best_epoch = classic_loop(spec)
    # the same operations in the same order: identical numbers (up to the last bits of
    # a float32 accuracy computed in float64 here)
    for key in hist:
        assert got["history"][key] == pytest.approx(hist[key], rel=1e-12, abs=1e-12), key
    assert set(got["state"]) == set(state)
    for k in state:
        assert torch.equal(got["state"][k], state[k]), k
    if case == "early-stop":
        assert len(hist["val_loss"]) < spec["epochs"]
        assert best_epoch < len(hist["val_loss"]) - 1  # the restore really changes the weights


def test_train_zero_epochs_and_history_types():
    spec = _spec(epochs=0)
    got = H.run_training(ref.train, spec)
    assert got["history"] == {"train_loss": [], "val_loss": [], "val_accuracy": []}
    spec = _spec(epochs=2)
    got = H.run_training(ref.train, spec)
    assert all(isinstance(v, float) for vals in got["history"].values() for v in vals)


@pytest.mark.parametrize("change,match", [
    ({"epochs": -1}, r"\bepochs\b"), ({"epochs": 1.5}, r"\bepochs\b"), ({"batch_size": 0}, "batch_size"),
])
def test_train_bad_arguments(change, match):
    spec = dict(_spec(), **change)
    with pytest.raises(ValueError, match=match):
        H.run_training(ref.train, spec)
    spec = _spec()
    spec["val"] = [spec["val"][0], spec["val"][1][:-1]]
    with pytest.raises(ValueError, match="val_data"):
        H.run_training(ref.train, spec)
    spec = _spec()
    spec["train"] = [spec["train"][0], spec["train"][1].float()]
    with pytest.raises(ValueError, match="train_data"):
        H.run_training(ref.train, spec)


# ------------------------------------------------------------------ the harness records


def test_harness_is_deterministic_and_leaves_global_rng():
    spec = _spec(dtype=torch.float32, scheduler=["StepLR", {"step_size": 2, "gamma": 0.5}],
                 early_stopping={"patience": 2, "min_delta": 0.0, "mode": "min"})
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = H.run_training(ref.train, spec)
    assert torch.equal(torch.get_rng_state(), before)
    b = H.run_training(ref.train, spec)
    assert a["history"] == b["history"] and a["events"] == b["events"]
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])


def test_harness_records_of_the_reference():
    spec = _spec(scheduler=["StepLR", {"step_size": 1, "gamma": 0.5}], n_train=14, batch_size=4)
    spec["start_in_eval"] = True
    run = H.run_training(ref.train, spec)
    forwards = [e for e in run["events"] if e["ev"] == "forward"]
    train_f = [e for e in forwards if e["kind"] == "train"]
    val_f = [e for e in forwards if e["kind"] == "val"]
    assert len(train_f) == 4 * spec["epochs"] and len(val_f) == spec["epochs"]
    assert all(e["training"] and e["grad"] for e in train_f)
    assert all(not e["training"] and not e["grad"] for e in val_f)
    assert [e["n"] for e in train_f[:4]] == [4, 4, 4, 2]
    perm = torch.randperm(14, generator=torch.Generator().manual_seed(spec["generator_seed"])).tolist()
    assert [i for e in train_f[:4] for i in e["rows"]] == perm
    steps = [e for e in run["events"] if e["ev"] == "step"]
    assert [e["grads"] for e in steps] == ["fresh"] * len(steps)
    assert [e["lr"] for e in steps] == [0.1 * 0.5 ** (k // 4) for k in range(len(steps))]
    assert len([e for e in run["events"] if e["ev"] == "scheduler"]) == spec["epochs"]
    assert len(run["epoch_states"]) == spec["epochs"]


SLIPS = (
    "no_eval", "no_no_grad", "train_once", "never_train", "no_zero_grad", "zero_grad_per_epoch",
    "zero_grad_late", "sched_per_batch", "sched_before", "sched_never", "no_shuffle", "same_perm",
    "global_rng", "drop_last", "batch_means", "es_train_loss", "es_ignore_stop",
)


def _slip_train(bug):
    """The reference loop, written out, with one slip (``bug`` one of SLIPS, or None)."""
    def train(model, loss_fn, optimizer, train_data, val_data, epochs, batch_size, scheduler=None,
              early_stopping=None, generator=None):
        X, y = train_data
        Xv, yv = val_data
        n = X.shape[0]
        hist = {"train_loss": [], "val_loss": [], "val_accuracy": []}
        best_state = None
        first_perm = torch.randperm(n, generator=generator)
        if bug == "train_once":
            model.train()
        for epoch in range(epochs):
            if bug not in ("train_once", "never_train"):
                model.train()
            if bug == "sched_before" and scheduler is not None:
                scheduler.step()
            if bug == "zero_grad_per_epoch":
                optimizer.zero_grad()
            if bug == "same_perm":
                order = first_perm
            elif bug == "no_shuffle":
                order = torch.arange(n)
            elif bug == "global_rng":
                order = torch.randperm(n)
            else:
                order = first_perm if epoch == 0 else torch.randperm(n, generator=generator)
            batches = list(order.to(X.device).split(batch_size))
            if bug == "drop_last" and len(batches[-1]) < batch_size:
                batches = batches[:-1]
            total, count, means = 0.0, 0, []
            for idx in batches:
                if bug not in ("no_zero_grad", "zero_grad_late", "zero_grad_per_epoch"):
                    optimizer.zero_grad()
                loss = loss_fn(model(X[idx]), y[idx])
                loss.backward()
                if bug == "zero_grad_late":
                    optimizer.zero_grad()
                optimizer.step()
                if bug == "sched_per_batch" and scheduler is not None:
                    scheduler.step()
                total += loss.item() * len(idx)
                count += len(idx)
                means.append(loss.item())
            if bug not in ("sched_per_batch", "sched_before", "sched_never") and scheduler is not None:
                scheduler.step()
            if bug != "no_eval":
                model.eval()
            with torch.enable_grad() if bug == "no_no_grad" else torch.no_grad():
                logits = model(Xv)
                val_loss = loss_fn(logits, yv).item()
                accuracy = (logits.argmax(dim=1) == yv).sum().item() / yv.shape[0]
            train_loss = sum(means) / len(means) if bug == "batch_means" else total / count
            hist["train_loss"].append(train_loss)
            hist["val_loss"].append(val_loss)
            hist["val_accuracy"].append(accuracy)
            if early_stopping is not None:
                stop = early_stopping.step(train_loss if bug == "es_train_loss" else val_loss)
                if early_stopping.best_step == epoch:
                    best_state = copy.deepcopy(model.state_dict())
                if stop and bug != "es_ignore_stop":
                    break
        if best_state is not None:
            model.load_state_dict(best_state)
        return hist

    return train


@pytest.mark.parametrize("bug,seen", [
    ("no_eval", lambda ev: any(e["ev"] == "forward" and e["kind"] == "val" and e["training"] for e in ev)),
    ("no_no_grad", lambda ev: any(e["ev"] == "forward" and e["kind"] == "val" and e["grad"] for e in ev)),
    ("train_once", lambda ev: any(e["ev"] == "forward" and e["kind"] == "train" and not e["training"]
                                  for e in ev)),
    ("no_zero_grad", lambda ev: any(e["ev"] == "step" and e["grads"] == "accumulated" for e in ev)),
    ("zero_grad_late", lambda ev: all(e["grads"] == "cleared" for e in ev if e["ev"] == "step")),
    ("sched_per_batch", lambda ev: sum(e["ev"] == "scheduler" for e in ev) > 3),
])
def test_harness_records_expose_slips(bug, seen):
    spec = _spec(epochs=3, scheduler=["StepLR", {"step_size": 1, "gamma": 0.5}])
    good = H.run_training(_slip_train(None), spec)["events"]
    bad = H.run_training(_slip_train(bug), spec)["events"]
    assert not seen(good)
    assert seen(bad)


def test_slip_loop_without_slip_is_the_reference():
    spec = _spec(epochs=4, scheduler=["StepLR", {"step_size": 1, "gamma": 0.5}], n_train=13, batch_size=5,
                 early_stopping={"patience": 1, "min_delta": 0.0, "mode": "min"}, flip=True)
    a, b = H.run_training(_slip_train(None), spec), H.run_training(ref.train, spec)
    assert a["history"] == pytest.approx(b["history"], rel=1e-12)
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in b["state"])


# ------------------------------------------------------------------ the harness's probe options


def test_zero_grad_fills_zeros_and_keeps_the_numbers():
    """zero_grad() leaves zeros, not None, and a correct loop's numbers do not change."""
    spec = _spec(epochs=2, optimizer=["Adam", {"lr": 0.02}])
    seen = []

    def train(model, loss_fn, optimizer, train_data, val_data, **kw):
        X, y = train_data
        loss_fn(model(X[:4]), y[:4]).backward()
        optimizer.zero_grad()
        seen.append([p.grad is not None and not p.grad.any() for p in model.parameters()])
        model.zero_grad(set_to_none=True)
        seen.append([p.grad is not None and not p.grad.any() for p in model.parameters()])
        return {}

    H.run_training(train, spec)
    assert all(all(s) for s in seen)
    hist, state, _ = classic_loop(spec)
    got = H.run_training(ref.train, spec)
    assert got["history"] == pytest.approx(hist, rel=1e-12, abs=1e-12)
    assert all(torch.equal(got["state"][k], state[k]) for k in state)


def test_value_only_loss_has_the_values_and_no_gradient():
    """The value_only loss reports cross-entropy and gives every parameter a zero gradient,
    so that SGD's steps only apply weight decay: w_t = w_0 (1 - lr wd)^t."""
    spec = dict(_spec(epochs=2, n_train=12, batch_size=4, optimizer=["SGD", {"lr": 0.2, "weight_decay": 0.5}]),
                loss="value_only", batchnorm=False, dropout=0.0)
    got = H.run_training(ref.train, spec)
    plain = H.run_training(ref.train, dict(spec, loss="cross_entropy", optimizer=["SGD", {"lr": 0.0}]))
    first = [next(e["value"] for e in run["events"] if e["ev"] == "loss") for run in (got, plain)]
    assert first[0] == pytest.approx(first[1], rel=1e-12)
    initial = H.build_network(spec).state_dict()
    steps = 2 * 3
    for k, w in initial.items():
        assert torch.allclose(got["state"][k], w * 0.9 ** steps, rtol=1e-12, atol=0.0), k
    losses = [e for e in got["events"] if e["ev"] == "loss" and e["grad"]]
    assert len(losses) == steps


def test_batchnorm_on_batch_statistics_ignores_the_mode():
    spec = dict(_spec(), running_stats=False, dropout=0.0)
    net = H.build_network(spec)
    assert not any("running" in k for k in net.state_dict())
    X = spec["train"][0][:5]
    with torch.no_grad():
        a = net.train()(X)
        b = net.eval()(X)
    assert torch.equal(a, b)


def test_build_network_is_the_network_train_receives():
    spec = _spec(epochs=0)
    got = H.run_training(ref.train, spec)
    assert all(torch.equal(got["state"][k], v) for k, v in H.build_network(spec).state_dict().items())


@pytest.mark.parametrize("metrics,es,expected", [
    ([1.0, 0.9, 0.95, 0.8], {"patience": 1, "min_delta": 0.0, "mode": "min"}, (3, 1)),
    ([1.0, 0.75, 0.625, 0.625, 0.5], {"patience": 2, "min_delta": 0.125, "mode": "min"}, (4, 1)),
    ([1.0, 0.9, 0.8], {"patience": 1, "min_delta": 0.0, "mode": "min"}, (3, 2)),
    ([0.5, 0.75, 0.75], {"patience": 1, "min_delta": 0.0, "mode": "max"}, (3, 1)),
])
def test_stopping_point(metrics, es, expected):
    assert H.stopping_point(metrics, es) == expected
    stopper = ref.EarlyStopping(**es)
    n = next((k + 1 for k, m in enumerate(metrics) if stopper.step(m)), len(metrics))
    assert (n, stopper.best_step) == expected


# ------------------------------------------------------------------ the suite's probes are isolated


def _load_suite(name: str = "test_training_loop") -> types.ModuleType:
    """A hidden suite as a plain module, to run its probes and scoring on known loops."""
    path = ROOT / "reference" / "suites" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_{name}_suite_under_proof", path)
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():  # its topic mark means something to the grader only
        warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
        spec.loader.exec_module(module)
    return module


SUITE = _load_suite()
REF = types.SimpleNamespace(training=ref)


def _probes():
    """Each probe's spec, reference run and scoring, as the suite builds them."""
    def g(i):
        return torch.Generator().manual_seed(1000 + i)

    S = SUITE
    out = {}
    spec, want = S.minibatch_probe(g(1), torch.float32, "cpu", REF, 14, 4)
    out["minibatches"] = (spec, lambda c, got, s=spec, w=want: S.score_minibatches(c, got, w, s))
    spec, want = S.minibatch_probe(g(2), torch.float64, "cpu", REF, 13, 5)
    out["minibatches-13-5"] = (spec, lambda c, got, s=spec, w=want: S.score_minibatches(c, got, w, s))
    spec, want = S.accounting_probe(g(3), "cpu", REF)
    out["loss_accounting"] = (spec, lambda c, got, s=spec, w=want: S.score_loss_accounting(c, got, w, s))
    for i, kind in enumerate(("dropout", "batchnorm")):
        spec, want = S.eval_probe(g(4 + i), torch.float32, "cpu", REF, kind)
        out[f"eval_mode-{kind}"] = (spec, lambda c, got, s=spec, w=want: S.score_eval_mode(c, got, w, s))
    spec, want, losses = S.mode_probe(g(6), "cpu", REF)
    out["mode_restored"] = (spec, lambda c, got, s=spec, w=want, e=losses: S.score_mode_restored(c, got, w, s, e))
    spec, want, initial = S.zero_grad_probe(g(7), "cpu", REF)
    out["zero_grad"] = (spec, lambda c, got, s=spec, w=want, i=initial: S.score_zero_grad(c, got, w, s, i))
    for i, (sched, opt, dtype) in enumerate(S.SCHEDULERS):
        spec, want = S.scheduler_probe(g(8 + i), dtype, "cpu", REF, opt, sched)
        out[f"scheduler-{sched[0]}"] = (spec, lambda c, got, s=spec, w=want: S.score_scheduler(c, got, w, s))
    for i, (kind, dtype) in enumerate((("rises", torch.float64), ("plateau", torch.float32))):
        spec, want = S.stopping_probe(g(10 + i), dtype, "cpu", REF, kind)
        out[f"early_stopping-{kind}"] = (spec, lambda c, got, s=spec, w=want: S.score_early_stopping(c, got, w, s))
    return out


PROBES = _probes()

# The slips each group is about. A slip costs points in the probes of its own group and
# in no other; the one coupling is the dropped last batch, which also changes the mean
# per example over the epoch (fewer examples are counted), the loss accounting's number.
OWN = {
    "minibatches": {"no_shuffle", "same_perm", "global_rng", "drop_last"},
    "loss_accounting": {"batch_means", "drop_last"},
    "eval_mode": {"no_eval"},
    "mode_restored": {"train_once", "never_train"},
    "zero_grad": {"no_zero_grad", "zero_grad_per_epoch", "zero_grad_late"},
    "scheduler": {"sched_per_batch", "sched_before", "sched_never"},
    "early_stopping": {"es_train_loss", "es_ignore_stop"},
}


def _outcome(probe, bug):
    spec, score = PROBES[probe]
    check = Checker()
    got = H.run_training(_slip_train(bug), spec)
    try:
        score(check, got)
    except GradeFailure as failure:
        return False, check, failure
    return check.state.credit == 1.0, check, None


@pytest.mark.parametrize("bug", (None,) + SLIPS)
@pytest.mark.parametrize("probe", list(PROBES))
def test_each_slip_costs_points_only_in_its_own_group(probe, bug):
    group = probe.split("-")[0]
    if (group, bug) == ("minibatches", "drop_last") and PROBES[probe][0]["train"][0].shape[0] % \
            PROBES[probe][0]["batch_size"] == 0:
        pytest.skip("no shorter last batch to drop")
    passed, check, failure = _outcome(probe, bug)
    if bug in OWN[group]:
        assert not passed, f"{bug} kept the points of {probe}"
    else:
        assert passed, f"{bug} lost the points of {probe}: {failure and failure.message}"
    if bug == "no_no_grad" and group == "eval_mode":
        assert any("no_grad" in note for note in check.state.notes)


def test_forged_records_earn_nothing():
    """A run whose records are perfect (the reference's) but whose loop is wrong loses the
    points all the same: the records never decide credit."""
    for probe, bug in [("zero_grad", "no_zero_grad"), ("scheduler-StepLR", "sched_per_batch"),
                       ("mode_restored", "train_once"), ("eval_mode-dropout", "no_eval"),
                       ("minibatches", "same_perm"), ("early_stopping-rises", "es_ignore_stop")]:
        spec, score = PROBES[probe]
        honest = H.run_training(ref.train, spec)
        got = H.run_training(_slip_train(bug), spec)
        forged = dict(got, events=honest["events"], epoch_states=honest["epoch_states"])
        with pytest.raises(GradeFailure):
            score(Checker(), forged)
        score(Checker(), honest)


def test_oversized_returns_fail_cleanly():
    """What the worker returns is bounded before it is read: too long a history, too many
    records, records of the wrong form."""
    spec, score = PROBES["loss_accounting"]
    honest = H.run_training(ref.train, spec)
    long = dict(honest, history={k: [0.5] * 200_000 for k in honest["history"]})
    with pytest.raises(GradeFailure, match="entries for at most"):
        score(Checker(), long)
    flood = dict(honest, events=[{"ev": "forward"}] * 200_000)
    assert not SUITE.Record(flood).readable
    score(Checker(), flood)  # the hints go, the score stays
    junk = dict(honest, events=[None, 3, {"ev": ["step"]}, {"ev": "step", "grads": "fresh", "lr": "x"},
                                {"ev": "forward", "kind": "train", "training": True, "grad": True, "n": 2,
                                 "rows": list(range(10_000))}])
    rec = SUITE.Record(junk)
    assert rec.readable and len(rec.events) == 1 and rec.events[0]["rows"] is None
    score(Checker(), junk)
    with pytest.raises(GradeFailure, match="record of the run"):
        SUITE.envelope(Checker(), [1, 2, 3], spec)


def test_harness_collect_and_stopper_drivers():
    X, y = _data(7)
    batches = H.collect_minibatches(ref.iterate_minibatches, X, y, batch_size=3, shuffle=True, generator_seed=4)
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(4))
    assert [len(b[1]) for b in batches] == [3, 3, 1]
    assert torch.equal(torch.cat([b[0] for b in batches]), X[perm])
    out = H.run_early_stopping(ref.EarlyStopping, {"patience": 2}, [1.0, 0.8, 0.8, 0.9])
    assert out["initial"] == {"best": None, "best_step": None}
    assert [c["stop"] for c in out["calls"]] == [False, False, False, True]

    class NoAttrs:
        def __init__(self, **kw):
            pass

        def step(self, m):
            return torch.tensor(True)

    out = H.run_early_stopping(NoAttrs, {}, [1.0])
    assert out["initial"] == {"best": "<missing>", "best_step": "<missing>"}
    assert out["calls"][0]["stop"] is True


def test_pairs_of_all_small_batches():
    """Every (N, batch_size) up to 6: batch sizes as documented."""
    X, y = _data(6)
    for n, b in itertools.product(range(1, 7), range(1, 8)):
        sizes = [len(yb) for _, yb in ref.iterate_minibatches(X[:n], y[:n], b, shuffle=False)]
        assert sizes == [b] * (n // b) + ([n % b] if n % b else [])


def test_part_one_bounds_what_it_reads():
    """iterate_minibatches' and EarlyStopping's drivers' returns are bounded too: rows are
    looked up by their bytes (no N x rows matrix), batches over N rows or too many batches
    are refused before any matching, and a stopper record of the wrong form fails."""
    part1 = _load_suite("test_training")
    X, y = _data(6)
    batches = [[X[[2, 0]], y[[2, 0]]], [X[[5]], y[[5]]], [torch.zeros(1, 3, dtype=X.dtype), y[:1]]]
    assert part1._rows(batches, X) == [[2, 0], [5], [-1]]
    assert part1._rows([[X.repeat(50, 1), y.repeat(50)]], X) is None
    want = H.collect_minibatches(ref.iterate_minibatches, X, y, batch_size=4, shuffle=True, generator_seed=1)
    with pytest.raises(GradeFailure, match="yielded 200000 batches"):
        part1._check_batches(Checker(), [[X, y]] * 200_000, want, X, 4, "iterate_minibatches(...)")
    good = H.run_early_stopping(ref.EarlyStopping, {"patience": 1}, [1.0, 2.0])
    assert part1.stopper_record(Checker(), good, {"patience": 1}, [1.0, 2.0]) is good
    for bad in (None, [], {"initial": {}, "calls": []}, dict(good, calls=good["calls"] * 100_000),
                dict(good, calls=[{"best": [1.0], "best_step": 0, "stop": False}] * 2)):
        with pytest.raises(GradeFailure, match="record of 2 calls"):
            part1.stopper_record(Checker(), bad, {"patience": 1}, [1.0, 2.0])
