"""The convergence capstone: a multilayer perceptron trained on scikit-learn's digits with
a student's own init, backprop, batchnorm, dropout and optimizer, and the search for the
module that holds a pipeline back.

The network is ``linear -> batchnorm -> relu -> dropout -> linear -> softmax
cross-entropy``, trained by hand (no autograd) with mini-batches. Each of the five
topics is a *part*. A part runs either in the worker, built from the student's module
(:func:`student_part`), or in the grader, built from the reference and reached by
callbacks. Parts speak a small functional protocol, so a part can be swapped without
the others noticing:

``init``       ``layer(out_features, in_features, nonlinearity, seed) -> (W, b)``
``backprop``   ``linear_forward``, ``linear_backward``, ``activation_forward``,
               ``activation_backward``, ``softmax_cross_entropy`` (as in the SPEC)
``batchnorm``  ``forward(x, gamma, beta, running_mean, running_var, training)
               -> (out, cache, running_mean, running_var)``, ``backward(dout, cache)``
``dropout``    ``forward(x, p, training, seed) -> (out, cache)``, ``backward(dout, cache)``
``optimizers`` ``start(params, hparams)``, ``step(grads) -> params``

A part served by callbacks keeps its caches and optimizer state in the grader and hands
the worker an integer key, so nothing but tensors crosses the wire. The pipeline code
itself (:class:`Trainer`) is the same in both processes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch

__all__ = ["capstone_trainer"]

PARTS = ("init", "backprop", "batchnorm", "dropout", "optimizers")

# The functions of each topic the pipeline calls, as the SPEC names them.
PART_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "init": ("kaiming_uniform_", "xavier_uniform_", "fan_in_uniform_"),
    "backprop": (
        "linear_forward", "linear_backward", "activation_forward", "activation_backward", "softmax_cross_entropy",
    ),
    "batchnorm": ("batchnorm_forward", "batchnorm_backward"),
    "dropout": ("dropout_forward", "dropout_backward"),
    "optimizers": ("Adam",),
}


@dataclass(frozen=True)
class PipelineSpec:
    """Hyperparameters of the capstone network and its training run."""

    hidden: int = 128
    epochs: int = 12
    batch_size: int = 64
    lr: float = 3e-3
    dropout: float = 0.2
    seed: int = 0
    momentum: float = 0.1  # batchnorm running statistics
    eps: float = 1e-5

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- data -----------------------------------------------------------------------------------
def digits(seed: int = 0, test_fraction: float = 0.2) -> dict[str, torch.Tensor]:
    """scikit-learn's handwritten digits (1797 8x8 images, shipped with the package, read
    without importing scikit-learn), split into train and test by a seeded permutation
    and standardised with the training set's statistics. float32 features, int64 labels."""
    import gzip
    import importlib.util
    import os

    import numpy as np

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-learn is not installed; it ships the digits data the capstone uses")
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "digits.csv.gz")
    with gzip.open(path, "rt") as f:
        data = np.loadtxt(f, delimiter=",")
    x = torch.tensor(data[:, :-1], dtype=torch.float32)
    y = torch.tensor(data[:, -1], dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    mean = x[train].mean(0)
    std = x[train].std(0).clamp_min(1.0)  # border pixels are constant: do not blow them up
    x = (x - mean) / std
    return {"x_train": x[train], "y_train": y[train], "x_test": x[test], "y_test": y[test]}


# -- parts ------------------------------------------------------------------------------------
@dataclass
class Part:
    """One topic's functions in the functional protocol above."""

    name: str
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def __getattr__(self, item: str) -> Callable[..., Any]:
        try:
            return self.__dict__["functions"][item]
        except KeyError:
            raise AttributeError(item) from None


def student_part(name: str, fns: dict[str, Callable[..., Any]]) -> Part:
    """Adapt a topic's functions (as the SPEC defines them) to the pipeline protocol."""
    if name == "init":
        kaiming, xavier, fan_in_uniform = fns["kaiming_uniform_"], fns["xavier_uniform_"], fns["fan_in_uniform_"]

        def layer(out_features: int, in_features: int, nonlinearity: str, seed: int):
            gen = torch.Generator().manual_seed(int(seed))
            w = torch.zeros(int(out_features), int(in_features))
            b = torch.zeros(int(out_features))
            if nonlinearity == "relu":
                kaiming(w, a=0, mode="fan_in", nonlinearity="relu", generator=gen)
            else:
                xavier(w, gain=1.0, generator=gen)
            fan_in_uniform(b, fan_in=int(in_features), generator=gen)
            return w, b  # in place, as the SPEC requires: a copy that was returned is ignored

        return Part(name, {"layer": layer})
    if name == "backprop":
        return Part(name, {k: fns[k] for k in PART_FUNCTIONS["backprop"]})
    if name == "batchnorm":
        bn_forward, bn_backward = fns["batchnorm_forward"], fns["batchnorm_backward"]

        def forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
            running_mean = running_mean.clone()
            running_var = running_var.clone()
            out, cache = bn_forward(
                x, gamma, beta, running_mean, running_var, training=bool(training), momentum=momentum, eps=eps
            )
            return out, cache, running_mean, running_var

        return Part(name, {"forward": forward, "backward": bn_backward})
    if name == "dropout":
        d_forward, d_backward = fns["dropout_forward"], fns["dropout_backward"]

        def forward(x, p, training, seed):
            gen = torch.Generator().manual_seed(int(seed))
            return d_forward(x, p=p, training=bool(training), generator=gen)

        return Part(name, {"forward": forward, "backward": d_backward})
    if name == "optimizers":
        cls = fns["Adam"]
        holder: dict[str, Any] = {}

        def start(params, hparams):
            leaves = [p.detach().clone() for p in params]
            holder["params"] = leaves
            holder["opt"] = cls(leaves, **dict(hparams))
            return None

        def step(grads):
            params = holder["params"]
            for p, g in zip(params, grads):
                p.grad = g.detach().clone().to(dtype=p.dtype)
            holder["opt"].step()
            return [p.detach() for p in params]

        return Part(name, {"start": start, "step": step})
    raise ValueError(f"unknown capstone part {name!r}")


def served_part(part: Part) -> Part:
    """Wrap a part that runs in the grader so that caches and state stay there: the
    worker gets integer keys instead of cache objects."""
    store: dict[int, Any] = {}
    counter = [0]

    def keep(cache: Any) -> int:
        counter[0] += 1
        store[counter[0]] = cache
        return counter[0]

    def take(key: Any) -> Any:
        if not isinstance(key, int) or key not in store:
            raise ValueError("unknown cache key")
        return store.pop(key)

    fns = dict(part.functions)
    if part.name == "backprop":
        wrapped = {
            "linear_forward": lambda x, w, b: _keep2(fns["linear_forward"](x, w, b), keep),
            "linear_backward": lambda dout, key: fns["linear_backward"](dout, take(key)),
            "activation_forward": lambda x, kind: _keep2(fns["activation_forward"](x, kind), keep),
            "activation_backward": lambda dout, key: fns["activation_backward"](dout, take(key)),
            "softmax_cross_entropy": fns["softmax_cross_entropy"],
        }
    elif part.name == "batchnorm":

        def bn_forward(x, gamma, beta, rm, rv, training, momentum=0.1, eps=1e-5):
            out, cache, rm, rv = fns["forward"](x, gamma, beta, rm, rv, training, momentum, eps)
            return out, keep(cache), rm, rv

        wrapped = {"forward": bn_forward, "backward": lambda dout, key: fns["backward"](dout, take(key))}
    elif part.name == "dropout":
        wrapped = {
            "forward": lambda x, p, training, seed: _keep2(fns["forward"](x, p, training, seed), keep),
            "backward": lambda dout, key: fns["backward"](dout, take(key)),
        }
    else:
        wrapped = fns
    return Part(part.name, wrapped)


def _keep2(pair: Any, keep: Callable[[Any], int]) -> tuple[Any, int]:
    out, cache = pair
    return out, keep(cache)


# -- the pipeline -----------------------------------------------------------------------------
class PipelineFailure(RuntimeError):
    """A part returned something the pipeline cannot use (wrong shape, not a tensor)."""


def _tensor(value: Any, shape: tuple[int, ...], what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise PipelineFailure(f"{what} returned {type(value).__name__}, not a tensor")
    if tuple(value.shape) != tuple(shape):
        raise PipelineFailure(f"{what} returned shape {tuple(value.shape)}, expected {tuple(shape)}")
    return value.detach()


class Trainer:
    """The capstone run: one :meth:`epoch` per call, so every call stays short."""

    def __init__(self, parts: dict[str, Part], spec: dict, data: dict[str, torch.Tensor]):
        self.parts = parts
        self.spec = PipelineSpec(**spec)
        self.data = {k: v for k, v in data.items()}
        s = self.spec
        n_in = int(self.data["x_train"].shape[1])
        n_out = int(self.data["y_train"].max().item()) + 1
        self.sizes = (n_in, s.hidden, n_out)
        w1, b1 = parts["init"].layer(s.hidden, n_in, "relu", s.seed * 1009 + 1)
        w2, b2 = parts["init"].layer(n_out, s.hidden, "linear", s.seed * 1009 + 2)
        self.params = [
            _tensor(w1, (s.hidden, n_in), "init (W1)"),
            _tensor(b1, (s.hidden,), "init (b1)"),
            torch.ones(s.hidden),
            torch.zeros(s.hidden),
            _tensor(w2, (n_out, s.hidden), "init (W2)"),
            _tensor(b2, (n_out,), "init (b2)"),
        ]
        self.running_mean = torch.zeros(s.hidden)
        self.running_var = torch.ones(s.hidden)
        parts["optimizers"].start(self.params, {"lr": s.lr})
        self.epochs_done = 0
        self.steps = 0

    def _forward(self, x: torch.Tensor, y: torch.Tensor, training: bool, seed: int):
        bp, bn, dp = self.parts["backprop"], self.parts["batchnorm"], self.parts["dropout"]
        w1, b1, gamma, beta, w2, b2 = self.params
        n = len(x)
        h1, c1 = bp.linear_forward(x, w1, b1)
        h1 = _tensor(h1, (n, self.spec.hidden), "linear_forward")
        h2, c2, rm, rv = bn.forward(
            h1, gamma, beta, self.running_mean, self.running_var, training, self.spec.momentum, self.spec.eps
        )
        h2 = _tensor(h2, (n, self.spec.hidden), "batchnorm_forward")
        if training:
            self.running_mean = _tensor(rm, (self.spec.hidden,), "batchnorm_forward (running_mean)")
            self.running_var = _tensor(rv, (self.spec.hidden,), "batchnorm_forward (running_var)")
        h3, c3 = bp.activation_forward(h2, "relu")
        h3 = _tensor(h3, (n, self.spec.hidden), "activation_forward")
        h4, c4 = dp.forward(h3, self.spec.dropout, training, seed)
        h4 = _tensor(h4, (n, self.spec.hidden), "dropout_forward")
        logits, c5 = bp.linear_forward(h4, w2, b2)
        logits = _tensor(logits, (n, self.sizes[2]), "linear_forward")
        loss, dlogits = bp.softmax_cross_entropy(logits, y)
        return logits, float(loss), dlogits, (c1, c2, c3, c4, c5)

    def _backward(self, dlogits: torch.Tensor, caches: tuple) -> list[torch.Tensor]:
        bp, bn, dp = self.parts["backprop"], self.parts["batchnorm"], self.parts["dropout"]
        c1, c2, c3, c4, c5 = caches
        dh4, dw2, db2 = bp.linear_backward(dlogits, c5)
        dh3 = dp.backward(dh4, c4)
        dh2 = bp.activation_backward(dh3, c3)
        dh1, dgamma, dbeta = bn.backward(dh2, c2)
        _, dw1, db1 = bp.linear_backward(dh1, c1)
        grads = [dw1, db1, dgamma, dbeta, dw2, db2]
        names = ["dW1", "db1", "dgamma", "dbeta", "dW2", "db2"]
        return [_tensor(g, tuple(p.shape), f"backward ({name})") for g, p, name in zip(grads, self.params, names)]

    def epoch(self) -> dict[str, float]:
        """Train one epoch, then evaluate on the test set; returns the epoch's numbers."""
        s = self.spec
        x, y = self.data["x_train"], self.data["y_train"]
        gen = torch.Generator().manual_seed(s.seed * 7919 + self.epochs_done)
        order = torch.randperm(len(x), generator=gen)
        total, count = 0.0, 0
        for start in range(0, len(x), s.batch_size):
            idx = order[start:start + s.batch_size]
            if len(idx) < 2:  # batchnorm needs two values per channel
                continue
            self.steps += 1
            _, loss, dlogits, caches = self._forward(x[idx], y[idx], True, s.seed * 100_003 + self.steps)
            if not math.isfinite(loss):
                total, count = math.nan, 1
                break
            grads = self._backward(dlogits, caches)
            params = self.parts["optimizers"].step(grads)
            self.params = [_tensor(p, tuple(q.shape), "optimizer step") for p, q in zip(params, self.params)]
            total += loss * len(idx)
            count += len(idx)
        self.epochs_done += 1
        test = self.evaluate()
        return {"train_loss": total / max(count, 1), **test}

    def evaluate(self) -> dict[str, float]:
        x, y = self.data["x_test"], self.data["y_test"]
        logits, loss, _, _ = self._forward(x, y, False, 0)
        accuracy = (logits.argmax(dim=1) == y).double().mean().item()
        return {"test_loss": loss, "test_accuracy": accuracy}


def capstone_trainer(
    student: dict[str, dict[str, Callable[..., Any]]],
    served: dict[str, dict[str, Callable[..., Any]]],
    spec: dict,
    data: dict[str, torch.Tensor],
) -> Trainer:
    """Build the capstone run in the worker: ``student`` parts from the student's
    functions, ``served`` parts already in the pipeline protocol (grader callbacks)."""
    parts = {name: student_part(name, fns) for name, fns in student.items()}
    parts.update({name: Part(name, dict(fns)) for name, fns in served.items()})
    missing = [p for p in PARTS if p not in parts]
    if missing:
        raise ValueError(f"capstone parts missing: {', '.join(missing)}")
    return Trainer(parts, spec, data)


# -- grader side ---------------------------------------------------------------------------
def reference_part(name: str, module: Any) -> Part:
    """A part built from a reference module, run in the grader."""
    return student_part(name, {fn: getattr(module, fn) for fn in PART_FUNCTIONS[name]})


def run_local(modules: dict[str, Any], spec: PipelineSpec, data: dict[str, torch.Tensor]) -> list[dict[str, float]]:
    """The whole pipeline in this process (the reference baseline)."""
    parts = {name: reference_part(name, modules[name]) for name in PARTS}
    trainer = Trainer(parts, spec.as_dict(), data)
    return [trainer.epoch() for _ in range(spec.epochs)]


def served_functions(name: str, module: Any) -> dict[str, Callable[..., Any]]:
    """The reference's part ``name`` as callbacks for a swapped run."""
    return dict(served_part(reference_part(name, module)).functions)


@dataclass(frozen=True)
class Verdict:
    """How a student pipeline compares with the reference, and which part to look at."""

    credit: float
    message: str
    hint: str | None = None


def accuracy_credit(student: float, reference: float, slack: float = 0.03, chance: float = 0.1) -> float:
    """Full credit within ``slack`` of the reference accuracy; below it, linear in the
    accuracy above chance level, so 0 at chance."""
    if not math.isfinite(student):
        return 0.0
    target = reference - slack
    if student >= target:
        return 1.0
    return max(0.0, (student - chance) / max(target - chance, 1e-9))


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


# -- grading -------------------------------------------------------------------------------
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
    """The reference pipeline's run, computed once per grading process."""
    key = (id(reference), spec, data_seed)
    if key not in _BASELINES:
        modules = {name: getattr(reference, name) for name in PARTS}
        _BASELINES[key] = run_local(modules, spec, digits(seed=data_seed))
    return _BASELINES[key]


def student_history(
    student: Any, reference: Any, spec: PipelineSpec, data: dict[str, torch.Tensor], swap: str | None = None
) -> list[dict[str, float]]:
    """Train in the student's worker; ``swap`` names a part served by the reference."""
    own = {
        name: {fn: getattr(getattr(student, name), fn) for fn in PART_FUNCTIONS[name]}
        for name in PARTS
        if name != swap
    }
    served = {swap: served_functions(swap, getattr(reference, swap))} if swap else {}
    trainer = student.harness.capstone_trainer(own, served, spec.as_dict(), data)
    history = []
    for _ in range(spec.epochs):
        history.append(dict(trainer.epoch()))
        if not math.isfinite(history[-1]["train_loss"]):
            break
    return history


def _final_accuracy(history: list[dict[str, float]]) -> float:
    return float(history[-1]["test_accuracy"]) if history else math.nan


def evaluate(
    student: Any, reference: Any, spec: PipelineSpec, data_seed: int = 0, slack: float = 0.03
) -> CapstoneReport:
    """Train the student's pipeline, score its test accuracy against the reference's, and
    when it falls short find the part whose reference version recovers it."""
    from grader.errors import StudentFailure

    ref = reference_history(reference, spec, data_seed)
    ref_acc = _final_accuracy(ref)
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
    failure = None
    try:
        mine = student_history(student, reference, spec, data)
    except StudentFailure as exc:
        mine, failure = [], exc.message
    acc = _final_accuracy(mine)
    curves["train_loss"] = [e["train_loss"] for e in mine]
    curves["test_accuracy"] = [e["test_accuracy"] for e in mine]
    metrics["accuracy"] = acc
    credit = accuracy_credit(acc, ref_acc, slack)
    if credit >= 1.0:
        return CapstoneReport(1.0, "", None, metrics, curves)
    swapped: dict[str, float] = {}
    for name in PARTS:
        try:
            swapped[name] = _final_accuracy(student_history(student, reference, spec, data, swap=name))
        except StudentFailure:
            swapped[name] = math.nan
        metrics[f"accuracy_with_reference_{name}"] = swapped[name]
    if failure:
        message = f"the capstone pipeline failed: {failure}"[:400]
    elif not math.isfinite(acc):
        message = "the capstone pipeline diverged: the training loss became nan or inf"
    else:
        message = (
            f"your pipeline reaches test accuracy {acc:.3f} after {len(mine)} epochs on the digits data; "
            f"the reference pipeline reaches {ref_acc:.3f} (full marks from {ref_acc - slack:.3f})"
        )
    return CapstoneReport(credit, message, culprit_hint(acc if math.isfinite(acc) else 0.0, swapped, ref_acc, slack), metrics, curves)
