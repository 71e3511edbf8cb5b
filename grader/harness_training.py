"""Drivers for the training topic, run beside the code under test in the worker.

Each function takes the function or class to drive plus data-only arguments (tensors,
numbers, strings, lists, dicts) and returns data only. The grader calls the same
function on the reference in its own process with the same arguments and compares the
two results, so nothing here is secret and nothing here is trusted.

:func:`run_training` builds the model, the optimizer, the scheduler and an early
stopper from a spec, instruments them, calls ``train`` and returns the history with a
record of how the loop drove the model: the mode and the grad state at every forward,
which training rows every batch held, what the gradients looked like at every
optimizer step, the learning rate of every step, the scheduler calls and the metrics
given to the early stopper.

Those records come from the worker, where a submission can replace anything, so the
suites use them only to name the likely mistake and to add notes; scores come from
what ``train`` computes (the history and the final weights), compared with the
reference's run of the same spec. :func:`build_network` and :func:`stopping_point`
are the grader's own computations for that: the network a spec starts from, and
where the grader's early stopper ends a run given its validation losses.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Callable

import torch

__all__ = [
    "build_network", "collect_minibatches", "run_early_stopping", "run_training", "stopping_point",
    "training_model",
]

OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad")
SCHEDULERS = ("StepLR", "ExponentialLR", "MultiStepLR", "CosineAnnealingLR")
LOSSES = ("cross_entropy", "value_only")
MAX_EVENTS = 20_000  # a loop that runs away stops being recorded here


def _plain(value: Any) -> Any:
    """A number, a bool or None as itself; a one-element tensor or numpy scalar as a
    Python number; anything else as a short description string."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.detach().reshape(()).cpu().item()
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        try:
            return item()
        except Exception:
            pass
    return f"<{type(value).__name__}>"


@contextlib.contextmanager
def _private_rng(*devices: torch.device):
    """Let the run seed torch's global RNG; the previous state comes back after it."""
    # (a device that only says it is CUDA, grader.accelerator's, has no RNG of its own)
    cuda = sorted({d.index or 0 for d in devices if d.type == "cuda"}) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=cuda):
        yield


# ------------------------------------------------------------------ iterate_minibatches


def collect_minibatches(
    fn: Callable[..., Any],
    X: torch.Tensor,
    y: torch.Tensor,
    batch_size: Any,
    shuffle: Any = True,
    generator_seed: int | None = None,
    global_seed: int = 0,
    generator_device: str = "cpu",
) -> list:
    """All batches ``fn(X, y, batch_size=..., shuffle=..., generator=g)`` yields.

    ``g`` is a fresh ``torch.Generator(generator_device)`` seeded with
    ``generator_seed`` (None passes no generator), and torch's global RNG is seeded
    with ``global_seed`` first. Each batch comes back as ``[Xb, yb]`` (or as a
    description string when it is not a pair of tensors).
    """
    with _private_rng(torch.device(generator_device), X.device):
        torch.manual_seed(int(global_seed))
        generator = None
        if generator_seed is not None:
            generator = torch.Generator(device=generator_device).manual_seed(int(generator_seed))
        out: list = []
        for item in fn(X, y, batch_size=batch_size, shuffle=shuffle, generator=generator):
            if isinstance(item, (tuple, list)) and len(item) == 2 and all(
                isinstance(t, torch.Tensor) for t in item
            ):
                out.append([item[0].detach().clone(), item[1].detach().clone()])
            else:
                out.append(f"<{type(item).__name__}>")
            if len(out) > 10 * (X.shape[0] + 1):
                break  # an endless iterator
        return out


# ------------------------------------------------------------------ EarlyStopping


def run_early_stopping(cls: Callable[..., Any], kwargs: dict, metrics: list) -> dict:
    """Build ``cls(**kwargs)`` and call ``step`` once per metric.

    Returns ``best`` and ``best_step`` before the first call and, after every call,
    what ``step`` returned with ``best`` and ``best_step`` (numbers as Python numbers,
    "<missing>" for an absent attribute).
    """
    stopper = cls(**dict(kwargs))

    def attrs() -> dict:
        return {name: _plain(getattr(stopper, name)) if hasattr(stopper, name) else "<missing>"
                for name in ("best", "best_step")}

    initial = attrs()
    calls = []
    for m in metrics:
        result = stopper.step(m)
        calls.append(dict(attrs(), stop=_plain(result)))
    return {"initial": initial, "calls": calls}


# ------------------------------------------------------------------ train


class _GraderStopper:
    """Early stopping with the SPEC's interface, written for the harness: ``train`` is
    graded with this one, independently of the submission's own EarlyStopping."""

    def __init__(self, patience: int, min_delta: float, mode: str, log: Callable[[dict], None]) -> None:
        self.patience, self.min_delta, self.mode = int(patience), float(min_delta), mode
        self.best: float | None = None
        self.best_step: int | None = None
        self._calls = 0
        self._bad = 0
        self._log = log

    def step(self, metric: Any) -> bool:
        value = float(metric)
        if self.best is None:
            better = True
        elif self.mode == "min":
            better = value < self.best - self.min_delta
        else:
            better = value > self.best + self.min_delta
        if better:
            self.best, self.best_step, self._bad = value, self._calls, 0
        else:
            self._bad += 1
        self._calls += 1
        stop = self._bad >= self.patience
        self._log({"ev": "stopper", "metric": value, "stop": stop, "best_step": self.best_step})
        return stop


def stopping_point(metrics: list[float], early_stopping: dict) -> tuple[int, int | None]:
    """Where a loop that steps the grader's stopper with ``metrics`` (one per epoch)
    ends: (the number of epochs it runs, the stopper's best_step then). A loop that
    is never told to stop runs ``len(metrics)`` epochs."""
    es = dict(early_stopping)
    stopper = _GraderStopper(es.get("patience", 5), es.get("min_delta", 0.0), es.get("mode", "min"), lambda e: None)
    for k, metric in enumerate(metrics):
        if stopper.step(metric):
            return k + 1, stopper.best_step
    return len(metrics), stopper.best_step


def training_model(
    sizes: list, dropout: float = 0.0, batchnorm: bool = True, running_stats: bool = True
) -> torch.nn.Sequential:
    """The network of a spec: per hidden layer Linear, BatchNorm1d (optional), ReLU,
    Dropout; then a Linear to the logits.

    ``running_stats=False`` builds BatchNorm without running statistics: it normalises
    with the statistics of the batch in hand in training AND in eval mode, so the
    network's outputs depend on how the rows are grouped into batches but not on the
    mode (with dropout 0)."""
    layers: list[torch.nn.Module] = []
    sizes = [int(s) for s in sizes]
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers.append(torch.nn.Linear(a, b))
        if batchnorm:
            layers.append(torch.nn.BatchNorm1d(b, track_running_stats=bool(running_stats)))
        layers.append(torch.nn.ReLU())
        layers.append(torch.nn.Dropout(float(dropout)))
    layers.append(torch.nn.Linear(sizes[-2], sizes[-1]))
    return torch.nn.Sequential(*layers)


class _Recorder:
    """Everything the instrumented objects observe, in call order."""

    def __init__(self, X: torch.Tensor, X_val: torch.Tensor, net: torch.nn.Module) -> None:
        self.X = X.detach()
        self.X_val = X_val.detach()
        self.net = net
        self.events: list[dict] = []
        self.epoch_states: list[dict] = []
        self.last_kind = None
        self.hook_grad: torch.Tensor | None = None

    def _rows(self, x: torch.Tensor, table: torch.Tensor) -> list[int] | None:
        if x.dim() != 2 or x.shape[1:] != table.shape[1:] or x.dtype != table.dtype or x.device != table.device:
            return None
        match = (x[:, None, :] == table[None, :, :]).all(dim=-1)
        if not bool(match.any(dim=1).all()):
            return None
        return [int(i) for i in match.int().argmax(dim=1).cpu()]

    def forward(self, module: torch.nn.Module, x: Any) -> None:
        if not isinstance(x, torch.Tensor):
            self.log({"ev": "forward", "kind": "other", "training": bool(module.training),
                      "grad": torch.is_grad_enabled(), "n": -1})
            return
        with torch.no_grad():
            rows = self._rows(x, self.X)
            kind = "train"
            if rows is None:
                rows = self._rows(x, self.X_val)
                kind = "val" if rows is not None else "other"
        event = {"ev": "forward", "kind": kind, "training": bool(module.training),
                 "grad": torch.is_grad_enabled(), "n": int(x.shape[0]) if x.dim() else -1}
        if kind == "train":
            event["rows"] = rows
        if kind == "val" and self.last_kind != "val":
            # the first validation forward after training: the weights of this epoch
            self.epoch_states.append({k: v.detach().clone() for k, v in self.net.state_dict().items()})
        self.last_kind = kind
        self.log(event)

    def log(self, event: dict) -> None:
        if len(self.events) < MAX_EVENTS:
            self.events.append(event)


# The recorder of each live model, by id: kept off the module so that a deep copy of
# the model (a valid way to keep the best weights) does not copy the records.
_RECORDERS: dict[int, _Recorder] = {}


class _Model(torch.nn.Module):
    """The network handed to ``train``: it logs every forward, then runs ``net``."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        recorder = _RECORDERS.get(id(self))
        if recorder is not None:
            recorder.forward(self, x)
        return self.net(x)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zeroes rather than None whatever is asked (see :func:`run_training`)."""
        recorder = _RECORDERS.get(id(self))
        if recorder is not None:
            recorder.log({"ev": "zero_grad", "by": "model"})
        super().zero_grad(set_to_none=False)


def _grad_state(p: torch.Tensor, fresh: torch.Tensor | None) -> str:
    """How p.grad relates to the gradient of the latest backward pass."""
    if p.grad is None or not bool(p.grad.any()):
        return "cleared"
    if fresh is not None and torch.equal(p.grad.cpu(), fresh.cpu()):  # (a hook's grad: made by autograd)
        return "fresh"
    return "accumulated"


def _network(spec: dict, device: torch.device, dtype: torch.dtype) -> torch.nn.Sequential:
    """The spec's network, drawn after ``torch.manual_seed(init_seed)``."""
    torch.manual_seed(int(spec.get("init_seed", 0)))
    net = training_model(spec["sizes"], spec.get("dropout", 0.0), spec.get("batchnorm", True),
                         spec.get("running_stats", True))
    return net.to(device=device, dtype=dtype)


def build_network(spec: dict) -> torch.nn.Sequential:
    """The network :func:`run_training` hands to ``train`` for ``spec``, before any
    training: the same weights, for the grader's own computations (in train mode)."""
    device = torch.device(spec.get("device", "cpu"))
    with _private_rng(device), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _network(spec, device, spec.get("dtype", torch.float32))


def _loss_function(kind: str, log: Callable[[dict], None]) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The spec's loss: mean cross-entropy, or (``value_only``) a loss with the same
    value whose gradient is exactly zero for every parameter, so that optimizer
    steps change the weights only through weight decay."""
    if kind not in LOSSES:
        raise ValueError(f"unknown loss {kind!r}")

    def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = torch.nn.functional.cross_entropy(logits, target)
        log({"ev": "loss", "value": float(loss.detach()), "n": int(target.shape[0]),
             "grad": torch.is_grad_enabled()})
        if kind == "value_only":
            loss = loss.detach() + 0.0 * logits.sum()
        return loss

    return loss_fn


def run_training(train_fn: Callable[..., Any], spec: dict) -> dict:
    """Build the model, optimizer, scheduler and stopper of ``spec``, call ``train_fn``.

    spec (data only): ``sizes`` [d, hidden..., C], ``dropout``, ``batchnorm``,
    ``running_stats`` (False: BatchNorm normalises with the batch's statistics in both
    modes), ``loss`` ("cross_entropy", or "value_only": the same values with a zero
    gradient), ``dtype``, ``device``, ``init_seed`` (torch.manual_seed before the model
    is built), ``run_seed`` (torch.manual_seed just before train, for Dropout),
    ``optimizer`` [name, kwargs] from torch.optim, ``scheduler`` None or [name, kwargs]
    from torch.optim.lr_scheduler, ``early_stopping`` None or {patience, min_delta,
    mode}, ``epochs``, ``batch_size``, ``train`` [X, y], ``val`` [X, y],
    ``generator_seed`` (the CPU generator given to train; None gives none),
    ``start_in_eval`` (hand the model over in eval mode).

    ``optimizer.zero_grad()`` and ``model.zero_grad()`` fill the gradients with zeros
    instead of setting them to None. A correct loop computes exactly the same numbers
    either way (backward adds to zeros); a loop that clears the gradients between
    backward and step then still takes its steps (with zero gradients, so weight decay
    and the learning rate still act), which keeps that slip from changing what the
    scheduler and early-stopping probes measure.

    Returns ``history`` (numbers as Python floats), ``returned`` (the type of what
    train returned), ``state`` (the final state_dict), ``epoch_states`` (the state at
    each epoch's first validation forward) and ``events`` (at most MAX_EVENTS):
    forwards (kind train/val/other, training flag, grad enabled, batch size, training
    rows), backward passes (whether the gradients had been cleared), optimizer steps
    (the gradient state -- fresh, accumulated or cleared -- and the learning rate),
    losses, zero_grad and scheduler calls, and early-stopper calls (metric and answer).
    """
    device = torch.device(spec.get("device", "cpu"))
    dtype = spec.get("dtype", torch.float32)
    X, y = (t.to(device) for t in spec["train"])
    X_val, y_val = (t.to(device) for t in spec["val"])
    X, X_val = X.to(dtype), X_val.to(dtype)
    with _private_rng(device), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = _network(spec, device, dtype)
        model = _Model(net)
        recorder = _Recorder(X, X_val, net)
        log = recorder.log

        opt_name, opt_kwargs = spec["optimizer"]
        if opt_name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {opt_name!r}")
        optimizer = getattr(torch.optim, opt_name)(model.parameters(), **dict(opt_kwargs))
        scheduler = None
        if spec.get("scheduler"):
            sched_name, sched_kwargs = spec["scheduler"]
            if sched_name not in SCHEDULERS:
                raise ValueError(f"unknown scheduler {sched_name!r}")
            scheduler = getattr(torch.optim.lr_scheduler, sched_name)(optimizer, **dict(sched_kwargs))

        watched = next(iter(net.parameters()))

        def on_backward(grad: torch.Tensor) -> None:
            recorder.hook_grad = grad.detach().clone()
            log({"ev": "backward", "cleared": watched.grad is None or not bool(watched.grad.any())})

        watched.register_hook(on_backward)

        inner_step = optimizer.step
        inner_zero_grad = optimizer.zero_grad

        def step(*args: Any, **kwargs: Any) -> Any:
            log({"ev": "step", "grads": _grad_state(watched, recorder.hook_grad),
                 "lr": float(optimizer.param_groups[0]["lr"])})
            return inner_step(*args, **kwargs)

        def zero_grad(*args: Any, **kwargs: Any) -> Any:
            log({"ev": "zero_grad", "by": "optimizer"})
            return inner_zero_grad(set_to_none=False)

        optimizer.step = step
        optimizer.zero_grad = zero_grad
        if scheduler is not None:
            inner_sched_step = scheduler.step

            def sched_step(*args: Any, **kwargs: Any) -> Any:
                log({"ev": "scheduler", "args": len(args) + len(kwargs)})
                return inner_sched_step(*args, **kwargs)

            scheduler.step = sched_step

        stopper = None
        if spec.get("early_stopping"):
            es = dict(spec["early_stopping"])
            stopper = _GraderStopper(es.get("patience", 5), es.get("min_delta", 0.0), es.get("mode", "min"), log)

        loss_fn = _loss_function(spec.get("loss", "cross_entropy"), log)

        if spec.get("start_in_eval"):
            model.eval()
        generator = None
        if spec.get("generator_seed") is not None:
            generator = torch.Generator().manual_seed(int(spec["generator_seed"]))
        _RECORDERS[id(model)] = recorder
        torch.manual_seed(int(spec.get("run_seed", 0)))
        try:
            history = train_fn(
                model, loss_fn, optimizer=optimizer, train_data=(X, y), val_data=(X_val, y_val),
                epochs=spec["epochs"], batch_size=spec["batch_size"], scheduler=scheduler,
                early_stopping=stopper, generator=generator,
            )
        finally:
            _RECORDERS.pop(id(model), None)

    out_history: Any
    if isinstance(history, dict):
        out_history = {}
        for key, values in list(history.items())[:16]:
            if isinstance(values, (list, tuple)):
                out_history[str(key)] = [_plain(v) for v in values[:1000]]
            else:
                out_history[str(key)] = _plain(values)
    else:
        out_history = None
    return {
        "history": out_history,
        "returned": type(history).__name__,
        "state": {k: v.detach().clone() for k, v in net.state_dict().items()},
        "epoch_states": recorder.epoch_states[:1000],
        "events": recorder.events,
    }
