"""Loss functions and information theory by hand: regression, binary and multi-class cross-entropy.

Every loss takes ``reduction`` = ``"mean"`` (average over the loss terms), ``"sum"``
or ``"none"`` (one loss per element / sample) and agrees with the
``torch.nn.functional`` function of the same name. Outputs keep the input's device
and floating dtype (float32 or float64), and no function modifies its inputs.

Bad arguments raise ``ValueError`` whose message names the argument: an unknown
``reduction``; ``input`` and ``target`` of different shapes, dtypes or devices (no
silent broadcasting of ``(N, 1)`` against ``(N,)``, a classic bug); ``delta <= 0``;
``label_smoothing`` outside [0, 1]; a class index out of range (other than
``ignore_index``); class-index targets that are not int64; probabilities outside
[0, 1] where the function takes probabilities.

Write the maths yourself: no torch.nn, torch.optim, torch.func, torch.autograd,
Tensor.backward, nor ready-made sigmoid / softmax / log_softmax / logsumexp. Stable
building blocks: ``log softmax(x) = (x - max x) - log sum exp(x - max x)`` and
``log sigmoid(z) = min(z, 0) - log1p(exp(-|z|))``.
"""

from __future__ import annotations

import math
import numbers

import torch

__all__ = [
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "nll_loss",
    "entropy",
    "cross_entropy_dist",
    "kl_divergence",
    "perplexity",
]


def mse_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error, as ``torch.nn.functional.mse_loss``.

    loss_i = (input_i - target_i)^2, elementwise; then reduced:
    "mean" = 1/n sum_i loss_i over all n elements (nan when n = 0), "sum" = sum_i loss_i,
    "none" = the elementwise tensor of input's shape.

    Raises ValueError: unknown reduction; input / target not floating tensors of the
    same shape, dtype and device (torch would broadcast (N, 1) against (N,); we refuse).
    """
    # YOUR CODE HERE
    raise NotImplementedError("losses.mse_loss: not implemented yet")


def l1_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean absolute error, as ``torch.nn.functional.l1_loss``.

    loss_i = |input_i - target_i|, elementwise; then reduced ("mean" over all elements,
    "sum", or "none" = the elementwise tensor).

    Raises ValueError: unknown reduction; input / target not floating tensors of the
    same shape, dtype and device.
    """
    # YOUR CODE HERE
    raise NotImplementedError("losses.l1_loss: not implemented yet")


def huber_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean",
               delta: float = 1.0) -> torch.Tensor:
    """Huber loss, as ``torch.nn.functional.huber_loss``.

    With r = input - target, elementwise:
        loss = 0.5 * r^2                    if |r| <  delta   (quadratic near 0)
        loss = delta * (|r| - 0.5 * delta)  if |r| >= delta   (linear in the tails)
    Both branches give 0.5 * delta^2 at |r| = delta, so the loss and its slope are
    continuous there. Then reduced ("mean" over all elements, "sum", "none").

    Raises ValueError: unknown reduction; delta not a number > 0; input / target not
    floating tensors of the same shape, dtype and device.
    """
    # YOUR CODE HERE
    raise NotImplementedError("losses.huber_loss: not implemented yet")


def binary_cross_entropy(input: torch.Tensor, target: torch.Tensor,
                         reduction: str = "mean") -> torch.Tensor:
    """Binary cross-entropy on probabilities, as ``torch.nn.functional.binary_cross_entropy``.

    With p = input in [0, 1] and y = target in [0, 1] (soft labels allowed), elementwise:
        loss = -( y * max(log p, -100) + (1 - y) * max(log(1 - p), -100) )
    Each log is clamped at -100 (as torch does) so p = 0 or p = 1 gives a finite
    loss of at most 100 instead of inf; compute log(1 - p) as log1p(-p).
    Then reduced ("mean" over all elements, "sum", "none").

    Raises ValueError: unknown reduction; input or target outside [0, 1] (or nan;
    torch raises RuntimeError there); input / target not floating tensors of the same
    shape, dtype and device.
    """
    # YOUR CODE HERE
    raise NotImplementedError("losses.binary_cross_entropy: not implemented yet")


def binary_cross_entropy_with_logits(input: torch.Tensor, target: torch.Tensor,
                                     reduction: str = "mean") -> torch.Tensor:
    """BCE on logits, as ``torch.nn.functional.binary_cross_entropy_with_logits``.

    With z = input (any real) and y = target, elementwise
        loss = -( y * log sigmoid(z) + (1 - y) * log(1 - sigmoid(z)) )
             = (1 - y) * z - log sigmoid(z),
        log sigmoid(z) = min(z, 0) - log1p(exp(-|z|)).
    exp(-|z|) <= 1 never overflows, so the loss is finite and exact for |z| up to 1e4
    (e.g. z = 1e4, y = 0 gives 1e4; z = 1e4, y = 1 gives 0). Never compute
    sigmoid(z) first and then log it. Then reduced ("mean", "sum", "none").

    Raises ValueError: unknown reduction; input / target not floating tensors of the
    same shape, dtype and device.
    """
    # YOUR CODE HERE
    raise NotImplementedError("losses.binary_cross_entropy_with_logits: not implemented yet")


def cross_entropy(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean",
                  ignore_index: int = -100, label_smoothing: float = 0.0) -> torch.Tensor:
    """Softmax cross-entropy on logits, as ``torch.nn.functional.cross_entropy``.

    input: logits (N, C) or (C,). target: int64 class indices (N,) or () OR float class
    probabilities of input's shape. With logp = log softmax(x_n) computed as
    (x_n - max x_n) - log sum_c exp(x_n,c - max x_n) (no overflow for logits near 1e4):
    - index targets: l_n = -logp[y_n]; "mean" divides the sum by the number of targets
      != ignore_index (nan if all are ignored); ignored targets give 0 under "none".
      With label smoothing e in [0, 1] (C classes):
      loss = (1 - e) * nll + (e / C) * smooth, smooth_n = -sum_c logp_c (0 if ignored),
      each reduced the same way.
    - probability targets t: t <- (1 - e) * t + e / C, l_n = -sum_c t_c * logp_c;
      "mean" divides by N (1 for (C,) input). ignore_index must stay negative here.

    Raises ValueError: unknown reduction; input not 1-D / 2-D floating; label_smoothing
    outside [0, 1]; index target not int64 or not of shape input.shape[:-1]; a class
    index outside [0, C) that is not ignore_index; probability target of another
    shape/dtype/device; ignore_index >= 0 with probability targets.
    """
    # YOUR CODE HERE
    raise NotImplementedError("losses.cross_entropy: not implemented yet")


def nll_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean",
             ignore_index: int = -100) -> torch.Tensor:
    """Negative log-likelihood, as ``torch.nn.functional.nll_loss``.

    input: log-probabilities (N, C) or (C,) (e.g. a log softmax; not checked).
    target: int64 class indices (N,) or (). l_n = -input[n, y_n], and 0 where
    y_n == ignore_index. "mean" = sum_n l_n / #(targets != ignore_index), which is nan
    when every target is ignored; "sum" = sum_n l_n; "none" = (N,) or ().
    cross_entropy(x, y) == nll_loss(log softmax(x), y).

    Raises ValueError: unknown reduction; input not 1-D / 2-D floating; target not
    int64 or not of shape input.shape[:-1]; a class index outside [0, C) that is not
    ignore_index.
    """
    # YOUR CODE HERE
    raise NotImplementedError("losses.nll_loss: not implemented yet")


def entropy(p: torch.Tensor, base: float | None = None) -> torch.Tensor:
    """Shannon entropy of the distributions on the last dim: H(p) = -sum_c p_c log p_c.

    p: probabilities (..., C), each row a distribution (used as given, not
    renormalised). Returns shape p.shape[:-1], no reduction over rows. Natural log
    (nats) unless base is given (base 2: bits): H_base = H_nats / ln(base).
    Zero-probability terms contribute exactly 0 (0 * log 0 := 0, e.g. torch.xlogy),
    not nan.

    Raises ValueError: p not a floating tensor with >= 1 dim; values of p outside
    [0, 1]; base not None and not a finite number > 0, != 1.
    """
    # YOUR CODE HERE
    raise NotImplementedError("losses.entropy: not implemented yet")


def cross_entropy_dist(p: torch.Tensor, q: torch.Tensor,
                       base: float | None = None) -> torch.Tensor:
    """Cross-entropy between distributions on the last dim: H(p, q) = -sum_c p_c log q_c.

    p, q: probabilities of the same shape (..., C), dtype and device. Returns shape
    p.shape[:-1]. Natural log unless base is given (divide by ln(base)). Terms with
    p_c = 0 contribute 0 even where q_c = 0; p_c > 0 with q_c = 0 gives inf.
    H(p, q) = H(p) + KL(p || q) >= H(p).

    Raises ValueError: p / q not floating tensors (>= 1 dim) of the same shape, dtype
    and device; values outside [0, 1]; bad base (see entropy).
    """
    # YOUR CODE HERE
    raise NotImplementedError("losses.cross_entropy_dist: not implemented yet")


def kl_divergence(p: torch.Tensor, q: torch.Tensor, base: float | None = None) -> torch.Tensor:
    """Kullback-Leibler divergence KL(p || q) = sum_c p_c (log p_c - log q_c), last dim.

    p, q: probabilities of the same shape (..., C), dtype and device. Returns shape
    p.shape[:-1]; >= 0 and 0 iff p == q. Natural log unless base is given (divide by
    ln(base)). Terms with p_c = 0 contribute 0 (even where q_c = 0); p_c > 0 with
    q_c = 0 gives inf. Compute each term as xlogy(p, p) - xlogy(p, q).

    Raises ValueError: as cross_entropy_dist.
    """
    # YOUR CODE HERE
    raise NotImplementedError("losses.kl_divergence: not implemented yet")


def perplexity(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Perplexity of q under p: exp(H(p, q)) with H in nats, over the last dim.

    The same number in any base: base ** H_base(p, q) == e ** H_nats(p, q). For a
    uniform q over C classes it is C; for q = p one-hot it is 1. Returns shape
    p.shape[:-1]; zero-probability terms of p contribute 0 (inf if q_c = 0 < p_c).

    Raises ValueError: as cross_entropy_dist.
    """
    # YOUR CODE HERE
    raise NotImplementedError("losses.perplexity: not implemented yet")
