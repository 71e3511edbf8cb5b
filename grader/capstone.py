"""The convergence capstone's pipeline: a multilayer perceptron trained on scikit-learn's
digits with a student's own backprop, batchnorm, dropout and optimizer, one epoch per call.

The network is ``linear -> batchnorm -> relu -> dropout -> linear -> softmax
cross-entropy``, trained by hand (no autograd) with mini-batches. Each topic is a *part*.
A part runs either in the worker, built from the student's module (:func:`student_part`),
or in the grader, built from the reference and reached by callbacks (:func:`served_part`).
Parts speak a small functional protocol, so one can be swapped without the others noticing:

``backprop``   ``linear_forward``, ``linear_backward``, ``activation_forward``,
               ``activation_backward``, ``softmax_cross_entropy`` (as in the SPEC)
``batchnorm``  ``forward(x, gamma, beta, running_mean, running_var, training)
               -> (out, cache, running_mean, running_var)``, ``backward(dout, cache)``
``dropout``    ``forward(x, p, training, seed) -> (out, cache)``, ``backward(dout, cache)``
``optimizers`` ``start(params, hparams)``, ``step(grads) -> params``

The fifth part, ``init``, never runs here: the grader draws the initial weights itself,
by calling the student's initializers one at a time, and hands them to :class:`Trainer`.

This module runs beside student code, so the grader trusts nothing it returns: an epoch
reports only raw material (the weights after every step, the gradients given to the
optimizer, the dropout mask), and :mod:`grader.capstone_grading` checks that material
against Adam's rule and the reference's gradients and computes every metric itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch

__all__ = ["capstone_trainer", "capstone_replay_optimizer", "capstone_gradients"]

PARTS = ("init", "backprop", "batchnorm", "dropout", "optimizers")
WORKER_PARTS = ("backprop", "batchnorm", "dropout", "optimizers")

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
PARAM_NAMES = ("W1", "b1", "gamma", "beta", "W2", "b2")


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


def batches(spec: PipelineSpec, n: int, epoch: int) -> list[torch.Tensor]:
    """The rows of every training batch of ``epoch``, in order: a seeded permutation cut
    into slices of ``batch_size`` (a last slice of one row is skipped: batchnorm needs two).
    The grader and the worker compute the same list."""
    gen = torch.Generator().manual_seed(spec.seed * 7919 + epoch)
    order = torch.randperm(n, generator=gen)
    return [order[i:i + spec.batch_size] for i in range(0, n, spec.batch_size) if len(order[i:i + spec.batch_size]) >= 2]


def dropout_seed(spec: PipelineSpec, step: int) -> int:
    return spec.seed * 100_003 + step


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

        def d_forward_seeded(x, p, training, seed):
            gen = torch.Generator().manual_seed(int(seed))
            # A dropout that (wrongly) draws from the global generator is reproducible too.
            # The run is on the CPU; seeding only its generator avoids torch.manual_seed's
            # per-call bookkeeping for devices that are never used.
            torch.default_generator.manual_seed(int(seed))
            return d_forward(x, p=p, training=bool(training), generator=gen)

        return Part(name, {"forward": d_forward_seeded, "backward": d_backward})
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


def served_part(part: Part, spec: PipelineSpec | None = None) -> Part:
    """Wrap a part that runs in the grader so that caches and state stay there: the
    worker gets integer keys instead of cache objects. With ``spec``, the optimizer's
    hyperparameters are the spec's, whatever the worker asks for."""
    store: dict[int, Any] = {}
    counter = [0]

    def keep(cache: Any) -> int:
        counter[0] += 1
        if len(store) >= 64:  # a worker that never asks for its caches back cannot grow this
            store.pop(next(iter(store)))
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
    elif part.name == "optimizers" and spec is not None:
        hparams = {"lr": spec.lr}
        wrapped = {"start": lambda params, _asked: fns["start"](params, hparams), "step": fns["step"]}
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


def param_shapes(sizes: tuple[int, int, int]) -> list[tuple[int, ...]]:
    """The shapes of the pipeline's parameters (PARAM_NAMES) for layer sizes (in, hidden, out)."""
    n_in, hidden, n_out = (int(v) for v in sizes)
    return [(hidden, n_in), (hidden,), (hidden,), (hidden,), (n_out, hidden), (n_out,)]


def flatten(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The parameters (or gradients) as one float32 vector, in PARAM_NAMES order: a step of
    a run travels as two vectors instead of twelve tensors."""
    return torch.cat([t.detach().reshape(-1).to(torch.float32) for t in tensors])


def unflatten(vector: torch.Tensor, sizes: tuple[int, int, int]) -> list[torch.Tensor]:
    shapes = param_shapes(sizes)
    parts = torch.split(vector, [int(torch.Size(s).numel()) for s in shapes])
    return [part.reshape(shape) for part, shape in zip(parts, shapes)]


def full_params(initial: list[torch.Tensor], hidden: int) -> list[torch.Tensor]:
    """[W1, b1, W2, b2] from the initializers, with batchnorm's gamma = 1 and beta = 0,
    in the pipeline's order (see PARAM_NAMES), as float32 copies."""
    w1, b1, w2, b2 = (t.detach().to(torch.float32).clone() for t in initial)
    return [w1, b1, torch.ones(hidden), torch.zeros(hidden), w2, b2]


class Pipeline:
    """One training step's forward and backward pass of the capstone network with a
    set of parts; the weights are passed in, so the same step can be recomputed."""

    def __init__(self, parts: dict[str, Part], spec: PipelineSpec, sizes: tuple[int, int, int]):
        self.parts, self.spec, self.sizes = parts, spec, sizes

    def _forward(self, params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor, seed: int,
                 running: tuple[torch.Tensor, torch.Tensor]):
        bp, bn, dp = self.parts["backprop"], self.parts["batchnorm"], self.parts["dropout"]
        w1, b1, gamma, beta, w2, b2 = params
        n, hidden = len(x), self.spec.hidden
        h1, c1 = bp.linear_forward(x, w1, b1)
        h1 = _tensor(h1, (n, hidden), "linear_forward")
        h2, c2, rm, rv = bn.forward(h1, gamma, beta, running[0], running[1], True, self.spec.momentum, self.spec.eps)
        h2 = _tensor(h2, (n, hidden), "batchnorm_forward")
        running = (_tensor(rm, (hidden,), "batchnorm_forward (running_mean)"),
                   _tensor(rv, (hidden,), "batchnorm_forward (running_var)"))
        h3, c3 = bp.activation_forward(h2, "relu")
        h3 = _tensor(h3, (n, hidden), "activation_forward")
        h4, c4 = dp.forward(h3, self.spec.dropout, True, seed)
        h4 = _tensor(h4, (n, hidden), "dropout_forward")
        logits, c5 = bp.linear_forward(h4, w2, b2)
        logits = _tensor(logits, (n, self.sizes[2]), "linear_forward")
        loss, dlogits = bp.softmax_cross_entropy(logits, y)
        return float(loss), dlogits, (c1, c2, c3, c4, c5), h4 != 0, running

    def _backward(self, params: list[torch.Tensor], dlogits: torch.Tensor, caches: tuple) -> list[torch.Tensor]:
        bp, bn, dp = self.parts["backprop"], self.parts["batchnorm"], self.parts["dropout"]
        c1, c2, c3, c4, c5 = caches
        dh4, dw2, db2 = bp.linear_backward(dlogits, c5)
        dh3 = dp.backward(dh4, c4)
        dh2 = bp.activation_backward(dh3, c3)
        dh1, dgamma, dbeta = bn.backward(dh2, c2)
        _, dw1, db1 = bp.linear_backward(dh1, c1)
        grads = [dw1, db1, dgamma, dbeta, dw2, db2]
        return [_tensor(g, tuple(p.shape), f"backward (d{name})") for g, p, name in zip(grads, params, PARAM_NAMES)]

    def step(self, params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor, seed: int,
             running: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
        """The loss, the gradients (None when the loss is not finite), the dropout mask
        (which units were kept) and batchnorm's running statistics after the step."""
        loss, dlogits, caches, kept, running = self._forward(params, x, y, seed, running)
        finite = loss == loss and loss not in (float("inf"), float("-inf"))
        grads = self._backward(params, dlogits, caches) if finite else None
        return {"loss": loss, "grads": grads, "kept": kept, "running": running}


class Trainer:
    """The capstone run: one :meth:`epoch` per call, so every call stays short."""

    def __init__(self, parts: dict[str, Part], spec: dict, data: dict[str, torch.Tensor],
                 initial: list[torch.Tensor]):
        self.spec = PipelineSpec(**spec)
        self.x, self.y = data["x_train"], data["y_train"]
        s = self.spec
        n_in, n_out = int(self.x.shape[1]), int(self.y.max().item()) + 1
        self.pipeline = Pipeline(parts, s, (n_in, s.hidden, n_out))
        self.optimizer = parts["optimizers"]
        shapes = [(s.hidden, n_in), (s.hidden,), (n_out, s.hidden), (n_out,)]
        checked = [_tensor(t, shape, f"init ({name})") for t, shape, name in zip(initial, shapes, ("W1", "b1", "W2", "b2"))]
        self.params = full_params(checked, s.hidden)
        self.running = (torch.zeros(s.hidden), torch.ones(s.hidden))
        self.optimizer.start(self.params, {"lr": s.lr})
        self.epochs_done = 0
        self.steps = 0

    def epoch(self) -> dict[str, Any]:
        """Train one epoch. Returns, for every step, the weights after it and the gradients
        handed to the optimizer (each flattened into one vector, see :func:`flatten`) and
        the dropout mask (which units were kept); the grader checks them and computes every
        number it scores from them."""
        steps: list[dict[str, Any]] = []
        diverged = False
        for idx in batches(self.spec, len(self.x), self.epochs_done):
            self.steps += 1
            result = self.pipeline.step(self.params, self.x[idx], self.y[idx], dropout_seed(self.spec, self.steps),
                                        self.running)
            if result["grads"] is None:
                diverged = True
                break
            self.running = result["running"]
            params = self.optimizer.step(result["grads"])
            self.params = [_tensor(p, tuple(q.shape), "optimizer step") for p, q in zip(params, self.params)]
            steps.append({"params": flatten(self.params), "grads": flatten(result["grads"]), "kept": result["kept"]})
        self.epochs_done += 1
        return {"steps": steps, "diverged": diverged}


def capstone_trainer(
    student: dict[str, dict[str, Callable[..., Any]]],
    served: dict[str, dict[str, Callable[..., Any]]],
    spec: dict,
    data: dict[str, torch.Tensor],
    initial: list[torch.Tensor],
) -> Trainer:
    """Build the capstone run in the worker: ``student`` parts from the student's
    functions, ``served`` parts already in the pipeline protocol (grader callbacks), and
    the initial weights the grader drew."""
    parts = {name: student_part(name, fns) for name, fns in student.items()}
    parts.update({name: Part(name, dict(fns)) for name, fns in served.items()})
    missing = [p for p in WORKER_PARTS if p not in parts]
    if missing:
        raise ValueError(f"capstone parts missing: {', '.join(missing)}")
    return Trainer(parts, spec, data, initial)


def capstone_replay_optimizer(adam_cls: Callable[..., Any], initial: list[torch.Tensor], sizes: list[int], lr: float,
                              grads: list[torch.Tensor]) -> list[torch.Tensor]:
    """A fresh ``adam_cls`` on the initial weights, stepped once per gradient vector in
    ``grads`` (flattened as :func:`flatten` does); the weights after every step, flattened.
    The grader replays a run's optimizer this way in a worker that never saw the run."""
    sizes_t = tuple(int(v) for v in sizes)
    part = student_part("optimizers", {"Adam": adam_cls})
    part.start(full_params(initial, sizes_t[1]), {"lr": float(lr)})
    return [flatten(part.step(unflatten(g, sizes_t))) for g in grads]


def capstone_gradients(student: dict[str, dict[str, Callable[..., Any]]], spec: dict, sizes: list[int],
                       params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor, step: int) -> dict[str, Any]:
    """One training step's forward and backward pass with the student's functions, at
    these weights, on this batch, with the dropout of global step ``step``: the gradients
    and the dropout mask, as the run computed them at that step."""
    s = PipelineSpec(**spec)
    pipeline = Pipeline({name: student_part(name, fns) for name, fns in student.items()}, s, tuple(int(v) for v in sizes))
    result = pipeline.step([p.detach().clone() for p in params], x, y, dropout_seed(s, int(step)),
                           (torch.zeros(s.hidden), torch.ones(s.hidden)))
    return {"grads": None if result["grads"] is None else flatten(result["grads"]), "kept": result["kept"]}


def reference_part(name: str, module: Any) -> Part:
    """A part built from a reference module, run in the grader."""
    return student_part(name, {fn: getattr(module, fn) for fn in PART_FUNCTIONS[name]})


def served_functions(name: str, module: Any, spec: PipelineSpec) -> dict[str, Callable[..., Any]]:
    """The reference's part ``name`` as callbacks for a swapped run."""
    return dict(served_part(reference_part(name, module), spec).functions)
