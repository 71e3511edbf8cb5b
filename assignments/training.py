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
    # YOUR CODE HERE
    raise NotImplementedError("training.iterate_minibatches: not implemented yet")


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
        # YOUR CODE HERE
        raise NotImplementedError("training.EarlyStopping.__init__: not implemented yet")

    def step(self, metric: float) -> bool:
        """Record one epoch's metric; True when training should stop."""
        # YOUR CODE HERE
        raise NotImplementedError("training.EarlyStopping.step: not implemented yet")


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
    # YOUR CODE HERE
    raise NotImplementedError("training.train: not implemented yet")
