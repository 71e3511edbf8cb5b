"""Hidden suite for gradients.py, part 2: numerical_gradient, relative_error,
gradient_descent and minibatch_sgd.

The functions these take (f, grad_fn) are plain Python functions of torch ops defined
here; the sandbox turns them into callbacks, so every evaluation costs a round trip:
inputs stay small (at most 24 evaluations of f, about 30 of grad_fn per case).
"""

from __future__ import annotations

import pytest
import torch

from grader import harness
from grader.device_check import on_device
from grader.diagnosis import Mistake, specific_error_hint
from grader.errors import StudentError


def _call(check, fn, *args, hint=None, **kwargs):
    """Call the student; an exception other than the stub's becomes a failure with a hint."""
    try:
        return fn(*args, **kwargs)
    except StudentError as err:
        if err.is_a("NotImplementedError") or hint is None:
            raise
        check.fail(err.message[:400], specific_error_hint(err.type_name, err.exc_message) or hint)


# ------------------------------------------------------------------ numerical_gradient

# id -> (shape of x, eps for float64 (None: the default 1e-6), eps for float32)
NUMGRAD_CASES = {
    "quartic-vector": ((6,), None, 1e-2),
    "exp-matrix": ((2, 3), 1e-3, 1e-2),
    "quadratic-cubic": ((4,), 1e-4, 1e-2),
    "python-float-f": ((5,), 1e-3, 1e-2),
    "0-d-x": ((), 1e-3, 1e-2),
    "cross-entropy": ((5,), 1e-3, 1e-2),
    "3-d-x": ((2, 2, 3), 1e-3, 1e-2),
}


def _numgrad_problem(kind, gen, dtype, device):
    """(f, x): f a scalar function of torch ops with sizeable second derivatives."""
    shape = NUMGRAD_CASES[kind][0]
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    if kind == "quartic-vector":
        def f(v):
            return (v ** 4).sum() + v.sum() ** 2
    elif kind == "exp-matrix":
        C = torch.rand(shape, generator=gen, dtype=dtype).add(0.5).to(device)

        def f(v):
            return (torch.exp(1.5 * v) * C).sum()
    elif kind == "quadratic-cubic":
        M = torch.randn(4, 4, generator=gen, dtype=dtype)
        A = (M @ M.T + 2 * torch.eye(4, dtype=dtype)).to(device)

        def f(v):
            return 0.5 * (v @ (A @ v)) + (v ** 3).sum()
    elif kind == "python-float-f":
        def f(v):
            return float((torch.sin(3.0 * v)).sum() + (v ** 3).sum())
    elif kind == "0-d-x":
        def f(v):
            return v ** 3 + torch.exp(2.0 * v)
    elif kind == "cross-entropy":
        x = x * 2.0

        def f(v):
            return torch.logsumexp(v, dim=0) - v[2]
    else:  # 3-d-x
        def f(v):
            return ((v ** 2).sum(dim=-1) ** 2).sum()
    return f, x.to(device=device, dtype=dtype)


def _value(f, point):
    out = f(point.clone())
    return float(out.item()) if isinstance(out, torch.Tensor) else float(out)


def _numgrad_variant(f, x, eps, variant):
    """What the usual slips return: one-sided differences, a coordinate not restored."""
    work = x.detach().clone()
    flat = work.view(-1)
    f0 = _value(f, work) if variant in ("forward", "backward") else None
    out = []
    for i in range(flat.numel()):
        old = flat[i].clone()
        if variant == "forward":
            flat[i] = old + eps
            out.append((_value(f, work) - f0) / eps)
            flat[i] = old
        elif variant == "backward":
            flat[i] = old - eps
            out.append((f0 - _value(f, work)) / eps)
            flat[i] = old
        else:  # "no-restore": x_i stays at x_i - eps for the later coordinates
            flat[i] = old + eps
            fp = _value(f, work)
            flat[i] = old - eps
            out.append((fp - _value(f, work)) / (2 * eps))
    return torch.tensor(out, dtype=x.dtype, device=x.device).reshape(x.shape)


@pytest.mark.parametrize("kind", list(NUMGRAD_CASES))
def test_numerical_gradient(student, reference, check, gen, device, dtype, kind):
    f, x = _numgrad_problem(kind, gen, dtype, device)
    eps = NUMGRAD_CASES[kind][1] if dtype == torch.float64 else NUMGRAD_CASES[kind][2]
    kwargs = {} if eps is None else {"eps": eps}
    h = 1e-6 if eps is None else eps
    expected = reference.gradients.numerical_gradient(f, x, **kwargs)
    before = x.clone()
    record = student.gradients.numerical_gradient.inspect_call(f, x, **kwargs)
    actual = record.value
    x_after = record.args[1] if len(record.args) > 1 else before
    x_changed = not (isinstance(x_after, torch.Tensor) and x_after.shape == before.shape
                     and torch.equal(x_after.to(before.device), before))
    one_sided = ("one-sided difference (error O(eps)): use central differences "
                 "(f(x + eps e_i) - f(x - eps e_i)) / (2 eps), error O(eps^2)")
    check.close(actual, expected, mistakes=[
        Mistake("x itself was changed while the gradient was computed (perturbed in place and not "
                "restored exactly): perturb a clone and reset each coordinate to its saved value",
                when=lambda out: x_changed),
        Mistake(one_sided, value=lambda: _numgrad_variant(f, x, h, "forward")),
        Mistake(one_sided, value=lambda: _numgrad_variant(f, x, h, "backward")),
        Mistake("restore each coordinate after its two evaluations: later coordinates were "
                "evaluated at a point still shifted by -eps",
                value=lambda: _numgrad_variant(f, x, h, "no-restore")),
        Mistake("divide by 2 eps: x + eps and x - eps are 2 eps apart", value=lambda: 2 * expected),
        Mistake("divide by 2 eps, not eps^2 or 2: (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)",
                when=lambda out: isinstance(out, torch.Tensor) and out.shape == expected.shape
                and float(out.abs().max()) > 1e3 * (1.0 + float(expected.abs().max()))),
    ])


@pytest.mark.parametrize("shape", [(5,), (3, 2)], ids=["x(5,)", "x(3,2)"])
def test_numerical_gradient_input_unchanged(student, check, gen, device, dtype, shape):
    x = torch.randn(shape, generator=gen, dtype=dtype).to(device)
    before = x.clone()

    def f(v):
        return (v ** 3).sum() + (v.sum() - 1.0) ** 2

    record = student.gradients.numerical_gradient.inspect_call(f, x, eps=1e-3)
    check.unchanged(before, record.args[1], "x", record.findings)


@pytest.mark.parametrize("eps", [0.0, -1e-3], ids=["eps=0", "eps<0"])
def test_numerical_gradient_argument_checks(student, check, eps):
    x = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    with check.raises(ValueError, match="eps",
                      hint="raise ValueError naming eps when eps <= 0 (a difference quotient "
                           "needs a positive step)"):
        student.gradients.numerical_gradient(lambda v: (v ** 2).sum(), x, eps=eps)


# ---------------------------------------------------------------------- relative_error


def _rel(a, b, mode="spec"):
    a64, b64 = a.detach().cpu().double(), b.detach().cpu().double()
    if a64.numel() == 0:
        return 0.0
    diff = (a64 - b64).abs()
    if mode == "plus":
        return float((diff / (a64.abs() + b64.abs() + 1e-8)).max())
    if mode == "no-floor":
        return float((diff / (a64.abs() + b64.abs())).max())
    if mode == "mean":
        return float((diff / (a64.abs() + b64.abs()).clamp(min=1e-8)).mean())
    if mode == "norm":
        return float(diff.norm() / (a64.norm() + b64.norm()))
    if mode == "max-denominator":
        return float((diff / torch.maximum(a64.abs(), b64.abs()).clamp(min=1e-8)).max())
    return float((diff / (a64.abs() + b64.abs()).clamp(min=1e-8)).max())


def _rel_tol(dtype):
    # float32 inputs may be compared in float32: allow its rounding, no more.
    return {"rtol": 1e-5 if dtype == torch.float32 else 1e-7, "atol": 1e-12}


def _rel_mistakes(a, b):
    """What the usual slips return for these inputs (all Python floats)."""
    floor = ("floor the denominator: |a_i - b_i| / max(1e-8, |a_i| + |b_i|), so entries that "
             "are 0 in both give 0, not 0/0 = nan")
    return [
        Mistake("return a Python float (call .item() on the 0-d result), not a tensor",
                problem="type"),
        Mistake(floor, problem="nan"),
        Mistake(floor, problem="inf"),
        Mistake("take the LARGEST elementwise relative error (max), not the mean",
                value=_rel(a, b, "mean"), rtol=1e-5),
        Mistake("the relative error is elementwise: max_i |a_i - b_i| / max(1e-8, |a_i| + |b_i|), "
                "not a ratio of norms", value=_rel(a, b, "norm"), rtol=1e-5),
        Mistake("the denominator is |a_i| + |b_i| (floored at 1e-8), not max(|a_i|, |b_i|)",
                value=_rel(a, b, "max-denominator"), rtol=1e-5),
        Mistake("the 1e-8 floor is max(1e-8, |a_i| + |b_i|), not |a_i| + |b_i| + 1e-8",
                value=_rel(a, b, "plus"), rtol=1e-5),
        Mistake("no 1e-8 floor: tiny values need |a_i - b_i| / max(1e-8, |a_i| + |b_i|)",
                value=_rel(a, b, "no-floor"), rtol=1e-5),
    ]


@pytest.mark.parametrize("kind,shape", [("close", (3, 4)), ("far", (7,)), ("opposite", (2, 3, 2)),
                                        ("mixed-scale", (10,))],
                         ids=["close", "far", "opposite", "mixed-scale"])
def test_relative_error(student, reference, check, gen, device, dtype, kind, shape):
    a = torch.randn(shape, generator=gen, dtype=torch.float64)
    if kind == "close":
        b = a + 1e-4 * torch.randn(shape, generator=gen, dtype=torch.float64)
    elif kind == "far":
        b = torch.randn(shape, generator=gen, dtype=torch.float64)
    elif kind == "opposite":
        b = -a
    else:
        a = a * 10.0 ** torch.randint(-3, 4, shape, generator=gen).double()
        b = a * (1 + 1e-3 * torch.randn(shape, generator=gen, dtype=torch.float64))
    a, b = a.to(device=device, dtype=dtype), b.to(device=device, dtype=dtype)
    expected = reference.gradients.relative_error(a, b)
    actual = student.gradients.relative_error(a, b)
    check.close(actual, expected, **_rel_tol(dtype), mistakes=_rel_mistakes(a, b))


def _floor_case(kind):
    if kind == "all-zero":
        return [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]
    if kind == "some-zero":
        return [0.0, 1.5, 0.0, -2.0], [0.0, 1.5001, 0.0, -2.0]
    if kind == "tiny":
        return [1e-10, 0.5], [0.0, 0.5]
    if kind == "below-floor":
        return [3e-9, 1.0], [-2e-9, 1.0]
    return [], []


@pytest.mark.parametrize("kind", ["all-zero", "some-zero", "tiny", "below-floor", "empty"])
def test_relative_error_floor(student, reference, check, device, dtype, kind):
    a_list, b_list = _floor_case(kind)
    a = torch.tensor(a_list, dtype=dtype, device=device)
    b = torch.tensor(b_list, dtype=dtype, device=device)
    expected = reference.gradients.relative_error(a, b)
    actual = _call(check, student.gradients.relative_error, a, b,
                   hint="empty tensors have no error: return 0.0 (amax of nothing is undefined)"
                   if kind == "empty" else None)
    check.close(actual, expected, **_rel_tol(dtype), mistakes=_rel_mistakes(a, b))


@pytest.mark.parametrize("shapes", [((3,), (4,)), ((3, 1), (3,)), ((2, 3), (3, 2)), ((5,), (1,))],
                         ids=["(3,)-(4,)", "(3,1)-(3,)", "(2,3)-(3,2)", "(5,)-(1,)"])
def test_relative_error_argument_checks(student, check, shapes):
    a = torch.ones(shapes[0], dtype=torch.float64)
    b = torch.ones(shapes[1], dtype=torch.float64) * 1.5
    with check.raises(ValueError, match=r"shape|\ba\b|\bb\b",
                      hint="a and b of different shapes raise ValueError (do not let them "
                           "broadcast)"):
        student.gradients.relative_error(a, b)


# -------------------------------------------------------------------- gradient_descent


def _quadratic(gen, d, k, dtype, device):
    """grad_fn of 1/2 w^T A w - b^T w (A symmetric positive definite), w of shape (d,) or (d, k)."""
    M = torch.randn(d, d, generator=gen, dtype=dtype)
    A = (M @ M.T / d + 0.5 * torch.eye(d, dtype=dtype)).to(device)
    shape = (d,) if k is None else (d, k)
    b = torch.randn(shape, generator=gen, dtype=dtype).to(device)
    w0 = torch.randn(shape, generator=gen, dtype=dtype).to(device)

    def grad_fn(w):
        return A @ w - b

    return grad_fn, w0


def _descend(grad_fn, w0, lr, steps, sign=-1.0):
    w = w0.clone()
    for _ in range(steps):
        w = w + sign * lr * grad_fn(w)
    return w


GD_CASES = [(3, None, 0.1, 12), (5, None, 0.3, 1), (4, 2, 0.05, 6), (2, None, 0.2, 0), (1, 3, 0.5, 4)]
GD_IDS = ["d3-12steps", "d5-1step", "W(4,2)-6steps", "0steps", "W(1,3)-4steps"]


@pytest.mark.parametrize("d,k,lr,steps", GD_CASES, ids=GD_IDS)
def test_gradient_descent(student, reference, check, gen, device, dtype, d, k, lr, steps):
    grad_fn, w0 = _quadratic(gen, d, k, dtype, device)
    expected = reference.gradients.gradient_descent(grad_fn, w0, lr=lr, steps=steps)
    actual = student.gradients.gradient_descent(grad_fn, w0, lr=lr, steps=steps)
    mistakes = [
        Mistake("step AGAINST the gradient: w <- w - lr * grad_fn(w)",
                value=lambda: _descend(grad_fn, w0, lr, steps, sign=+1.0)),
        Mistake(f"one step too many: take exactly steps = {steps} updates",
                value=lambda: _descend(grad_fn, w0, lr, steps + 1)),
    ]
    if steps > 0:
        mistakes.append(Mistake(f"one step too few: take exactly steps = {steps} updates",
                                value=lambda: _descend(grad_fn, w0, lr, steps - 1)))
    check.close(actual, expected, mistakes=mistakes)


@pytest.mark.parametrize("k", [None, 2], ids=["w(d,)", "W(d,k)"])
def test_gradient_descent_w0_unchanged(student, check, gen, device, dtype, k):
    grad_fn, w0 = _quadratic(gen, 3, k, dtype, device)
    before = w0.clone()
    record = student.gradients.gradient_descent.inspect_call(grad_fn, w0, lr=0.1, steps=3)
    check.unchanged(before, record.args[1], "w0", record.findings)


# ----------------------------------------------------------------------- minibatch_sgd


class _BatchLog:
    """A grad_fn (mean-squared-error gradient) that records which rows of X it was given."""

    def __init__(self, X):
        self.X = X.detach().cpu()
        self.batches: list[list[int]] = []

    def __call__(self, Xb, yb, w):
        rows = Xb.detach().cpu()
        if rows.dim() == 2 and rows.shape[1] == self.X.shape[1] and rows.dtype == self.X.dtype:
            match = (rows[:, None, :] == self.X[None, :, :]).all(dim=-1)
            idx = torch.where(match.any(dim=1), match.float().argmax(dim=1), torch.tensor(-1))
            self.batches.append([int(i) for i in idx])
        else:
            self.batches.append([-1])
        return Xb.T @ (Xb @ w - yb) / Xb.shape[0]

    def epochs(self, n):
        """The visited indices cut into consecutive runs of n (one run per epoch)."""
        flat = [i for b in self.batches for i in b]
        return [flat[i:i + n] for i in range(0, len(flat), n)]


def _sgd_mistakes(student_log, ref_log, n, batch_size, epochs):
    """Name the sampling slip from the batches the student's code asked gradients for."""
    got_sizes = [len(b) for b in student_log.batches]
    want_sizes = [len(b) for b in ref_log.batches]
    got, want = student_log.epochs(n), ref_log.epochs(n)

    def dropped_last(_out):
        per_epoch = n // batch_size
        return (n % batch_size != 0 and len(got_sizes) == epochs * per_epoch
                and all(s == batch_size for s in got_sizes))

    def with_replacement(_out):
        return got_sizes == want_sizes and any(sorted(e) != list(range(n)) for e in got)

    def not_shuffled(_out):
        return bool(got) and got[0] == list(range(n)) and want[0] != list(range(n))

    def own_rng(_out):
        return got_sizes == want_sizes and bool(got) and got[0] != want[0]

    def no_reshuffle(_out):
        return (epochs > 1 and got_sizes == want_sizes and got[0] == want[0]
                and any(e == got[0] for e in got[1:]) and got != want)

    def batches_right(_out):
        return student_log.batches == ref_log.batches

    return [
        Mistake("the last, shorter batch was dropped: when batch_size does not divide N, the "
                "last slice perm[k*B:] is shorter but must still make an update", when=dropped_last),
        Mistake("each epoch must visit every example exactly once: slice a permutation "
                "(torch.randperm), do not sample with replacement", when=with_replacement),
        Mistake("the examples were not shuffled: draw perm = torch.randperm(N, generator=generator) "
                "each epoch", when=not_shuffled),
        Mistake("the batches do not follow the generator: draw the order with "
                "torch.randperm(N, generator=generator) (no other random calls, no global RNG)",
                when=own_rng),
        Mistake("draw a fresh permutation every epoch: the same order was reused", when=no_reshuffle),
        Mistake("the batches were right but the weights are not: the update is "
                "w <- w - lr * grad_fn(X[idx], y[idx], w), starting from a copy of w0",
                when=batches_right),
    ]


# (N, d, batch_size, epochs)
SGD_CASES = [(11, 3, 4, 3), (10, 2, 3, 2), (12, 3, 5, 2), (8, 3, 8, 2), (6, 2, 1, 1), (5, 2, 7, 2),
             (7, 2, 3, 0)]
SGD_IDS = ["N11-B4-3ep", "N10-B3-2ep", "N12-B5-2ep", "full-batch", "B1", "B>N", "0epochs"]


@pytest.mark.parametrize("n,d,batch_size,epochs", SGD_CASES, ids=SGD_IDS)
def test_minibatch_sgd(student, reference, check, gen, device, dtype, n, d, batch_size, epochs):
    X = torch.randn(n, d, generator=gen, dtype=dtype).to(device)
    y = torch.randn(n, generator=gen, dtype=dtype).to(device)
    w0 = torch.randn(d, generator=gen, dtype=dtype).to(device)
    seed = int(torch.randint(0, 2**62, (), generator=gen))
    ref_log, student_log = _BatchLog(X), _BatchLog(X)
    kwargs = {"lr": 0.1, "epochs": epochs, "batch_size": batch_size}
    expected = reference.gradients.minibatch_sgd(
        ref_log, X, y=y, w0=w0, generator=torch.Generator().manual_seed(seed), **kwargs)
    actual = student.gradients.minibatch_sgd(
        student_log, X, y=y, w0=w0, generator=torch.Generator().manual_seed(seed), **kwargs)
    check.close(actual, expected,
                mistakes=_sgd_mistakes(student_log, ref_log, n, batch_size, epochs))


def test_minibatch_sgd_inputs_unchanged(student, check, gen, device, dtype):
    X = torch.randn(9, 3, generator=gen, dtype=dtype).to(device)
    y = torch.randn(9, generator=gen, dtype=dtype).to(device)
    w0 = torch.randn(3, generator=gen, dtype=dtype).to(device)
    before = (X.clone(), y.clone(), w0.clone())
    record = student.gradients.minibatch_sgd.inspect_call(
        _BatchLog(X), X, y=y, w0=w0, lr=0.1, epochs=1, batch_size=4,
        generator=torch.Generator().manual_seed(7))
    check.unchanged(before[2], record.kwargs["w0"], "w0", record.findings)
    check.unchanged(before[0], record.args[1], "X", record.findings)
    check.unchanged(before[1], record.kwargs["y"], "y", record.findings)


# ---------------------------------------------------------------- argument checking


def _descent_bad_calls():
    def gd(**kw):
        return "gradient_descent", (lambda w: 2 * w, torch.ones(3, dtype=torch.float64)), kw

    def sgd(**kw):
        g = torch.Generator().manual_seed(0)
        X = torch.randn(6, 2, generator=g, dtype=torch.float64)
        y = torch.randn(6, generator=g, dtype=torch.float64)
        args = (lambda Xb, yb, w: Xb.T @ (Xb @ w - yb) / Xb.shape[0], X)
        base = {"y": y, "w0": torch.zeros(2, dtype=torch.float64), "lr": 0.1, "epochs": 1,
                "batch_size": 2, "generator": torch.Generator().manual_seed(1)}
        base.update(kw)
        return "minibatch_sgd", args, base

    return [
        ("gd-lr<0", gd(lr=-0.1, steps=2), r"\blr\b"),
        ("gd-steps<0", gd(lr=0.1, steps=-1), r"\bsteps\b"),
        ("gd-steps=2.5", gd(lr=0.1, steps=2.5), r"\bsteps\b"),
        ("sgd-batch_size=0", sgd(batch_size=0), r"batch_size"),
        ("sgd-epochs<0", sgd(epochs=-1), r"\bepochs\b"),
        ("sgd-lr<0", sgd(lr=-0.5), r"\blr\b"),
        ("sgd-batch_size<0", sgd(batch_size=-2), r"batch_size"),
        ("sgd-epochs=1.5", sgd(epochs=1.5), r"\bepochs\b"),
    ]


DESCENT_BAD = _descent_bad_calls()


@pytest.mark.parametrize("case", DESCENT_BAD, ids=[c[0] for c in DESCENT_BAD])
def test_descent_argument_checks(student, check, case):
    _, (name, args, kwargs), match = case
    with check.raises(ValueError, match=match,
                      hint="validate the arguments before the loop and raise ValueError naming "
                           "the bad one (lr >= 0, steps/epochs integers >= 0, batch_size >= 1)"):
        getattr(student.gradients, name)(*args, **kwargs)


# --------------------------------------------------------------------------- on the GPU

DEVICE_CASES = ["linreg_loss", "linreg_grad", "linreg_closed_form", "linreg_closed_form-ridge", "logreg_loss",
                "logreg_grad", "softmax_regression_loss", "softmax_regression_grad", "numerical_gradient",
                "relative_error", "gradient_descent", "minibatch_sgd"]


@pytest.mark.parametrize("case", DEVICE_CASES)
def test_on_device(student, reference, check, gen, case):
    """Every function on the simulated GPU: results stay there (no .cpu(), no identity
    matrix, one-hot table or buffer made without device=) and match the reference's.
    minibatch_sgd gets a CPU generator: its permutation is drawn there and moved to the
    data's device."""
    n, d, k, f64 = 10, 3, 4, torch.float64  # float64: the case is about devices, not rounding
    X = torch.randn(n, d, generator=gen, dtype=f64)
    w = torch.randn(d, generator=gen, dtype=f64)
    W = torch.randn(d, k, generator=gen, dtype=f64)
    y_real = torch.randn(n, generator=gen, dtype=f64)
    y_binary = (torch.rand(n, generator=gen) < 0.5).double()
    y_class = torch.randint(0, k, (n,), generator=gen)
    name = case.split("-")[0]
    generators = True
    if case.startswith("linreg_closed_form"):
        args, kwargs = (X, y_real), (dict(l2=0.1) if case.endswith("ridge") else {})
    elif name.startswith("linreg"):
        args, kwargs = (X, y_real, w), {}
    elif name.startswith("logreg"):
        args, kwargs = (X, y_binary, w), {}
    elif name.startswith("softmax_regression"):
        args, kwargs = (X, y_class, W), {}
    elif name == "numerical_gradient":
        args, kwargs = (student.harness.smooth_scalar, w), dict(eps=1e-6)
    elif name == "relative_error":
        args, kwargs = (W, W + 1e-3 * torch.randn(d, k, generator=gen, dtype=f64)), {}
    else:  # gradient_descent, minibatch_sgd: least squares, the gradient computed beside the data
        minibatch = name == "minibatch_sgd"
        settings = dict(lr=0.1, steps=5) if not minibatch else dict(
            lr=0.1, epochs=2, batch_size=4,
            generator=torch.Generator().manual_seed(int(torch.randint(0, 2**62, (), generator=gen))))
        generators = not minibatch
        actual = on_device(check, student, student.harness.descend, getattr(student.gradients, name), X, y_real, w,
                           settings, minibatch, what=name, generators=generators)
        expected = harness.descend(getattr(reference.gradients, name), X, y_real, w, settings, minibatch)
        check.close(actual, expected, what=name)
        return
    actual = on_device(check, student, getattr(student.gradients, name), *args, what=name, **kwargs)
    if name == "numerical_gradient":
        args = (harness.smooth_scalar, *args[1:])
    expected = getattr(reference.gradients, name)(*args, **kwargs)
    check.close(actual, expected, what=name)
