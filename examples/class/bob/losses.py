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


_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_float_tensor(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must have a floating dtype, got {x.dtype}")


def _check_like(ref: torch.Tensor, x: torch.Tensor, ref_name: str, name: str) -> None:
    """x must be a floating tensor with exactly ref's shape, dtype and device."""
    _check_float_tensor(x, name)
    if x.shape != ref.shape:
        raise ValueError(
            f"{name} shape {tuple(x.shape)} must equal {ref_name} shape "
            f"{tuple(ref.shape)} (no broadcasting)"
        )
    if x.dtype != ref.dtype:
        raise ValueError(f"{name} must have {ref_name}'s dtype {ref.dtype}, got {x.dtype}")
    if x.device != ref.device:
        raise ValueError(f"{name} must be on {ref_name}'s device {ref.device}, got {x.device}")


def _check_in_unit_interval(x: torch.Tensor, name: str) -> None:
    # written so that nan also fails
    if not bool(((x >= 0) & (x <= 1)).all()):
        raise ValueError(f"all elements of {name} must be in [0, 1]")


def _check_logits(input: torch.Tensor, name: str = "input") -> None:
    _check_float_tensor(input, name)
    if input.dim() not in (1, 2):
        raise ValueError(
            f"{name} must be 1-D (C,) or 2-D (N, C), got shape {tuple(input.shape)}"
        )
    if input.shape[-1] < 1:
        raise ValueError(
            f"{name} must have at least one class (C >= 1), got shape {tuple(input.shape)}"
        )


def _check_ignore_index(ignore_index: int) -> int:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
        raise ValueError(f"ignore_index must be an int, got {ignore_index!r}")
    return int(ignore_index)


def _check_class_targets(input: torch.Tensor, target: torch.Tensor, ignore_index: int) -> None:
    if not isinstance(target, torch.Tensor):
        raise ValueError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if target.dtype != torch.int64:
        raise ValueError(
            f"target must hold int64 class indices (or, for cross_entropy, float "
            f"probabilities of input's shape), got dtype {target.dtype}"
        )
    expected = tuple(input.shape[:-1])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target of class indices must have shape {expected} for input of shape "
            f"{tuple(input.shape)}, got {tuple(target.shape)}"
        )
    if target.device != input.device:
        raise ValueError(f"target must be on input's device {input.device}, got {target.device}")
    n_classes = input.shape[-1]
    bad = (target != ignore_index) & ((target < 0) | (target >= n_classes))
    if bool(bad.any()):
        first = int(target[bad].reshape(-1)[0])
        raise ValueError(
            f"target contains class index {first} outside [0, {n_classes}) "
            f"that is not ignore_index={ignore_index}"
        )


def _check_real(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    return float(value)


def _check_base(base: float | None) -> None:
    if base is None:
        return
    b = _check_real(base, "base")
    if not (b > 0 and b != 1 and math.isfinite(b)):
        raise ValueError(f"base must be None or a finite number > 0 and != 1, got {base!r}")


def _check_dist(p: torch.Tensor, name: str) -> None:
    _check_float_tensor(p, name)
    if p.dim() < 1:
        raise ValueError(f"{name} must have at least 1 dimension (classes on dim=-1)")
    _check_in_unit_interval(p, name)


def _reduce(losses: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.mean()  # the mean of an empty tensor is nan, as in torch


def _log_softmax_lastdim(x):
    e = torch.exp(x)
    return torch.log(e / e.sum(dim=-1, keepdim=True))


def _nll(logp: torch.Tensor, target: torch.Tensor, ignore_index: int,
         reduction: str) -> torch.Tensor:
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target))  # ignored -> any legal index
    picked = logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    losses = torch.where(valid, -picked, torch.zeros((), dtype=logp.dtype, device=logp.device))
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / valid.sum()  # 0 / 0 = nan when every target is ignored


def mse_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error, as ``torch.nn.functional.mse_loss``.

    loss_i = (input_i - target_i)^2, elementwise; then reduced:
    "mean" = 1/n sum_i loss_i over all n elements (nan when n = 0), "sum" = sum_i loss_i,
    "none" = the elementwise tensor of input's shape.

    Raises ValueError: unknown reduction; input / target not floating tensors of the
    same shape, dtype and device (torch would broadcast (N, 1) against (N,); we refuse).
    """
    _check_reduction(reduction)
    _check_float_tensor(input, "input")
    _check_like(input, target, "input", "target")
    return _reduce((input - target) ** 2, reduction)


def l1_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean absolute error, as ``torch.nn.functional.l1_loss``.

    loss_i = |input_i - target_i|, elementwise; then reduced ("mean" over all elements,
    "sum", or "none" = the elementwise tensor).

    Raises ValueError: unknown reduction; input / target not floating tensors of the
    same shape, dtype and device.
    """
    _check_reduction(reduction)
    _check_float_tensor(input, "input")
    _check_like(input, target, "input", "target")
    return _reduce(torch.abs(input - target), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    _check_reduction(reduction)
    if not delta > 0:
        raise ValueError("delta must be > 0")
    _check_like(input, target, "input", "target")
    z = torch.abs(input - target)
    return _reduce(torch.where(z < delta, 0.5 * z * z / delta, z - 0.5 * delta), reduction)


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
    _check_reduction(reduction)
    _check_float_tensor(input, "input")
    _check_like(input, target, "input", "target")
    _check_in_unit_interval(input, "input")
    _check_in_unit_interval(target, "target")
    log_p = torch.clamp(torch.log(input), min=-100.0)
    log_1mp = torch.clamp(torch.log1p(-input), min=-100.0)
    losses = (target - 1) * log_1mp - target * log_p
    return _reduce(losses, reduction)


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
    _check_reduction(reduction)
    _check_float_tensor(input, "input")
    _check_like(input, target, "input", "target")
    log_sigmoid = torch.clamp(input, max=0.0) - torch.log1p(torch.exp(-torch.abs(input)))
    losses = (1 - target) * input - log_sigmoid
    return _reduce(losses, reduction)


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
    _check_reduction(reduction)
    _check_logits(input)
    ignore_index = _check_ignore_index(ignore_index)
    eps = _check_real(label_smoothing, "label_smoothing")
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    n_classes = input.shape[-1]

    if isinstance(target, torch.Tensor) and target.is_floating_point():
        # class probabilities
        if target.shape != input.shape:
            raise ValueError(
                f"float target (class probabilities) must have input's shape "
                f"{tuple(input.shape)}, got {tuple(target.shape)}; class-index targets "
                f"must be int64"
            )
        _check_like(input, target, "input", "target")
        if ignore_index >= 0:
            raise ValueError(
                f"ignore_index is not supported with probability targets, got {ignore_index}"
            )
        logp = _log_softmax_lastdim(input)
        if eps > 0:
            target = target * (1 - eps) + eps / n_classes
        losses = -(logp * target).sum(dim=-1)
        if reduction == "none":
            return losses
        if reduction == "sum":
            return losses.sum()
        return losses.sum() / (input.numel() // n_classes)

    # class indices
    _check_class_targets(input, target, ignore_index)
    logp = _log_softmax_lastdim(input)
    nll = _nll(logp, target, ignore_index, reduction)
    if eps == 0:
        return nll
    valid = target != ignore_index
    smooth = torch.where(valid, -logp.sum(dim=-1),
                         torch.zeros((), dtype=logp.dtype, device=logp.device))
    if reduction == "sum":
        smooth = smooth.sum()
    elif reduction == "mean":
        smooth = smooth.sum() / valid.sum()
    return (1 - eps) * nll + smooth * (eps / n_classes)


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
    _check_reduction(reduction)
    _check_logits(input)
    ignore_index = _check_ignore_index(ignore_index)
    _check_class_targets(input, target, ignore_index)
    return _nll(input, target, ignore_index, reduction)


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
    _check_dist(p, "p")
    _check_base(base)
    h = -torch.xlogy(p, p).sum(dim=-1)
    return h if base is None else h / math.log(base)


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
    _check_dist(p, "p")
    _check_like(p, q, "p", "q")
    _check_dist(q, "q")
    _check_base(base)
    h = -torch.xlogy(p, q).sum(dim=-1)
    return h if base is None else h / math.log(base)


def kl_divergence(p: torch.Tensor, q: torch.Tensor, base: float | None = None) -> torch.Tensor:
    """Kullback-Leibler divergence KL(p || q) = sum_c p_c (log p_c - log q_c), last dim.

    p, q: probabilities of the same shape (..., C), dtype and device. Returns shape
    p.shape[:-1]; >= 0 and 0 iff p == q. Natural log unless base is given (divide by
    ln(base)). Terms with p_c = 0 contribute 0 (even where q_c = 0); p_c > 0 with
    q_c = 0 gives inf. Compute each term as xlogy(p, p) - xlogy(p, q).

    Raises ValueError: as cross_entropy_dist.
    """
    _check_dist(p, "p")
    _check_like(p, q, "p", "q")
    _check_dist(q, "q")
    _check_base(base)
    kl = (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(dim=-1)
    return kl if base is None else kl / math.log(base)


def perplexity(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Perplexity of q under p: exp(H(p, q)) with H in nats, over the last dim.

    The same number in any base: base ** H_base(p, q) == e ** H_nats(p, q). For a
    uniform q over C classes it is C; for q = p one-hot it is 1. Returns shape
    p.shape[:-1]; zero-probability terms of p contribute 0 (inf if q_c = 0 < p_c).

    Raises ValueError: as cross_entropy_dist.
    """
    return torch.exp(cross_entropy_dist(p, q))
