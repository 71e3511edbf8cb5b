"""The training loop: mini-batches, early stopping and ``train``.

This topic uses PyTorch's own machinery: ``torch.nn`` models and losses, autograd
(``loss.backward()``) and ``torch.optim`` optimizers and schedulers are all allowed.
What you write is the loop around them, and every detail of it is graded:

* mini-batches follow ``torch.randperm(N, generator=generator)`` (a fresh permutation
  every epoch, the generator is the only source of randomness, the last batch may be
  shorter);
* the model is in training mode (``model.train()``) for the training batches and in
  evaluation mode (``model.eval()``) for validation, which runs under
  ``torch.no_grad()``: Dropout and BatchNorm behave differently in the two modes, and
  evaluation must neither build an autograd graph nor update BatchNorm's running
  statistics;
* per batch: ``optimizer.zero_grad()``, forward, loss, ``loss.backward()``,
  ``optimizer.step()`` -- gradients accumulate in ``.grad`` until they are cleared;
* the learning-rate scheduler steps once per epoch, after the epoch's batches;
* early stopping watches the validation loss and the best epoch's weights are restored
  at the end.

Bad arguments raise ``ValueError`` whose message names the argument.
"""

from __future__ import annotations

import copy
import math
import numbers
from typing import Any, Callable, Iterator

import torch

__all__ = ["iterate_minibatches", "EarlyStopping", "train"]


### BEGIN SOLUTION
def _check_int(name: str, value: Any, minimum: int) -> int:
    """ValueError unless value is an int (bool rejected) >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_generator(generator: Any) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )


def _check_xy(X: Any, y: Any, x_name: str = "X", y_name: str = "y") -> None:
    if not isinstance(X, torch.Tensor) or X.dim() < 1:
        raise ValueError(f"{x_name} must be a torch.Tensor with at least one dimension")
    if not isinstance(y, torch.Tensor) or y.dim() < 1 or y.shape[0] != X.shape[0]:
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(
            f"{y_name} must be a torch.Tensor with {X.shape[0]} rows to match {x_name}, got {got}"
        )
    if y.device != X.device:
        raise ValueError(f"{y_name} must be on {x_name}'s device {X.device}, got {y.device}")


def _check_data(data: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A (X, y) pair of tensors: X (N, ...) with N >= 1, y int64 class indices (N,)."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(f"{name} must be a pair (X, y) of tensors")
    X, y = data
    _check_xy(X, y, f"{name}[0]", f"{name}[1]")
    if X.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one example")
    if y.dim() != 1 or y.dtype != torch.int64:
        raise ValueError(f"{name}[1] must be a 1-D int64 tensor of class indices")
    return X, y


### END SOLUTION


def iterate_minibatches(
    X: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield the mini-batches ``(X[idx], y[idx])`` of one pass over the data (one epoch).

    With ``shuffle`` the row order is ``perm = torch.randperm(N, generator=generator)``,
    drawn on the generator's device (the CPU when ``generator`` is None) and moved to
    X's device; the batches are the consecutive slices ``perm[0:B]``, ``perm[B:2B]``, ...
    of ``B = batch_size`` rows, and the last one is shorter when B does not divide N
    (it is kept, not dropped). Without ``shuffle`` the rows come in their order
    0, 1, ..., N-1. ``generator`` is the only source of randomness: with the same
    generator state the batches are the same whatever torch's global random state.
    Every call draws a new permutation, so calling this once per epoch reshuffles.

    X: (N, ...), y: (N, ...) on X's device. Raises ValueError (naming the argument) for
    batch_size < 1, X and y of different lengths, or a generator that is not a
    torch.Generator.
    """
    ### BEGIN SOLUTION
    _check_xy(X, y)
    batch_size = _check_int("batch_size", batch_size, 1)
    _check_generator(generator)
    n = X.shape[0]
    if shuffle:
        perm_device = generator.device if generator is not None else torch.device("cpu")
        order = torch.randperm(n, generator=generator, device=perm_device).to(X.device)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            yield X[idx], y[idx]
    else:
        for start in range(0, n, batch_size):
            yield X[start:start + batch_size], y[start:start + batch_size]
    ### END SOLUTION


class EarlyStopping:
    """Stop training once the monitored metric has stopped improving.

    ``step(metric)`` is called once per epoch with the metric of that epoch (the
    validation loss with ``mode="min"``, an accuracy with ``mode="max"``). A call is an
    improvement when it beats the best value so far by MORE than ``min_delta``:

        mode "min":  metric < best - min_delta        mode "max":  metric > best + min_delta

    The first call is always an improvement. Only an improvement updates ``best`` (the
    metric) and ``best_step`` (the 0-based index of that call); both are None before the
    first call. ``step`` returns True once ``patience`` calls IN A ROW brought no
    improvement (the count restarts at every improvement), False otherwise.

    The answer is not latched: each call says whether the last ``patience`` calls
    brought no improvement. If training goes on after a True (a loop that ignores it),
    a later improvement restarts the count and ``step`` returns False again; a training
    loop stops at the first True.

    Example with patience=2, min_delta=0: metrics 1.0, 0.8, 0.8, 0.9 return False, False,
    False, True (0.8 again is no improvement), and best = 0.8, best_step = 1.

    Raises ValueError for patience < 0, min_delta < 0 (or not a finite number), or a mode
    other than "min" and "max".
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0, mode: str = "min") -> None:
        ### BEGIN SOLUTION
        self.patience = _check_int("patience", patience, 0)
        if (isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real)
                or not math.isfinite(min_delta) or min_delta < 0):
            raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.min_delta = float(min_delta)
        self.mode = mode
        self.best: float | None = None
        self.best_step: int | None = None
        self.num_calls = 0
        self.num_bad = 0
        ### END SOLUTION

    def step(self, metric: float) -> bool:
        """Record one epoch's metric; True when training should stop."""
        ### BEGIN SOLUTION
        value = float(metric)
        if self.best is None:
            improved = True
        elif self.mode == "min":
            improved = value < self.best - self.min_delta
        else:
            improved = value > self.best + self.min_delta
        if improved:
            self.best = value
            self.best_step = self.num_calls
            self.num_bad = 0
        else:
            self.num_bad += 1
        self.num_calls += 1
        return self.num_bad >= self.patience
        ### END SOLUTION


### BEGIN SOLUTION
def _run_epoch(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    X: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator | None,
) -> float:
    """One pass over the training data; returns the mean loss per example."""
    model.train()
    total, count = 0.0, 0
    for Xb, yb in iterate_minibatches(X, y, batch_size, shuffle=True, generator=generator):
        optimizer.zero_grad()
        loss = loss_fn(model(Xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * yb.shape[0]
        count += yb.shape[0]
    return total / count


def _evaluate(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    X: torch.Tensor,
    y: torch.Tensor,
) -> tuple[float, float]:
    """Mean loss per example and argmax accuracy on (X, y), in eval mode under no_grad."""
    model.eval()
    with torch.no_grad():
        logits = model(X)
        loss = loss_fn(logits, y).item()
        accuracy = (logits.argmax(dim=1) == y).sum().item() / y.shape[0]
    return loss, accuracy


def _state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the weights and buffers that later training steps cannot change."""
    return copy.deepcopy(model.state_dict())


### END SOLUTION


def train(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    train_data: tuple[torch.Tensor, torch.Tensor],
    val_data: tuple[torch.Tensor, torch.Tensor],
    epochs: int,
    batch_size: int,
    scheduler: Any = None,
    early_stopping: EarlyStopping | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, list[float]]:
    """Train ``model`` for up to ``epochs`` epochs; returns the history.

    ``train_data`` and ``val_data`` are pairs ``(X, y)`` with y int64 class indices; the
    model maps X to logits (N, C) and ``loss_fn(logits, y)`` returns the MEAN loss over
    the batch (like ``torch.nn.CrossEntropyLoss()``). Each epoch:

    1. ``model.train()``; for each batch of
       ``iterate_minibatches(X, y, batch_size, shuffle=True, generator=generator)``:
       ``optimizer.zero_grad()``, ``loss = loss_fn(model(Xb), yb)``, ``loss.backward()``,
       ``optimizer.step()``;
    2. ``scheduler.step()`` (no argument) when a scheduler is given -- once per epoch;
    3. ``model.eval()`` and, under ``torch.no_grad()``, the loss and the accuracy on the
       whole validation set (in one pass or in batches);
    4. with ``early_stopping``: ``stop = early_stopping.step(val_loss)``; keep a copy of
       the weights (``model.state_dict()``, BatchNorm's running statistics included)
       whenever ``early_stopping.best_step`` is this epoch's index, and end the loop when
       ``stop`` is True.

    At the end, with ``early_stopping``, load the weights of its ``best_step`` epoch back
    into the model (whether or not the loop ended early). Careful: ``state_dict()``
    returns the live tensors, which later steps keep changing -- store a deep copy.

    Returns ``{"train_loss": [...], "val_loss": [...], "val_accuracy": [...]}``, one
    Python float per epoch run: the training loss as the mean per EXAMPLE over the
    epoch (a shorter last batch weighs less: sum loss * batch size, divide by N, do not
    average the batch means), the validation loss (mean per example) and the fraction
    of validation examples whose argmax logit is the label.

    Raises ValueError for epochs < 0, batch_size < 1, or train_data / val_data that are
    not (X, y) pairs with matching lengths, at least one example and int64 labels.
    """
    ### BEGIN SOLUTION
    X, y = _check_data(train_data, "train_data")
    X_val, y_val = _check_data(val_data, "val_data")
    epochs = _check_int("epochs", epochs, 0)
    batch_size = _check_int("batch_size", batch_size, 1)
    _check_generator(generator)
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_accuracy": []}
    best_state = None
    for epoch in range(epochs):
        train_loss = _run_epoch(model, loss_fn, optimizer, X, y, batch_size, generator)
        if scheduler is not None:
            scheduler.step()
        val_loss, val_accuracy = _evaluate(model, loss_fn, X_val, y_val)
        history["train_loss"].append(train_loss)
        history["val_loss"].append(val_loss)
        history["val_accuracy"].append(val_accuracy)
        if early_stopping is not None:
            stop = early_stopping.step(val_loss)
            if early_stopping.best_step == epoch:
                best_state = _state_copy(model)
            if stop:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
    ### END SOLUTION
