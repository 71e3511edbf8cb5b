"""Hidden suite for gradients.py, part 1: the models (linear, logistic and softmax
regression: losses, gradients, the closed form) and their argument checks.

Part 2 (test_gradients_tools.py) grades numerical_gradient, relative_error,
gradient_descent and minibatch_sgd.
"""

from __future__ import annotations

import pytest
import torch

from grader.diagnosis import Mistake, specific_error_hint
from grader.errors import StudentError

# (N, d): a single example, tall, wide (N < d), square-ish, a single feature.
SHAPES = [(1, 1), (7, 3), (5, 9), (16, 4), (6, 1)]
SHAPE_IDS = ["N1-d1", "N7-d3", "N5-d9", "N16-d4", "N6-d1"]
# (N, d, k) for softmax regression.
CLASS_SHAPES = [(1, 3, 2), (8, 3, 4), (5, 7, 3), (12, 4, 5)]
CLASS_IDS = ["N1-d3-k2", "N8-d3-k4", "N5-d7-k3", "N12-d4-k5"]


# ----------------------------------------------------------------------------- helpers


def _regression(gen, n, d, dtype, device):
    X = torch.randn(n, d, generator=gen, dtype=dtype)
    y = torch.randn(n, generator=gen, dtype=dtype)
    w = torch.randn(d, generator=gen, dtype=dtype)
    return X.to(device), y.to(device), w.to(device)


def _binary(gen, n, d, dtype, device):
    X = torch.randn(n, d, generator=gen, dtype=dtype)
    y = torch.randint(0, 2, (n,), generator=gen).to(dtype)
    w = torch.randn(d, generator=gen, dtype=dtype)
    return X.to(device), y.to(device), w.to(device)


def _classes(gen, n, d, k, dtype, device):
    X = torch.randn(n, d, generator=gen, dtype=dtype)
    y = torch.randint(0, k, (n,), generator=gen)
    W = torch.randn(d, k, generator=gen, dtype=dtype)
    return X.to(device), y.to(device), W.to(device)


def _sigmoid(z):
    e = torch.exp(-z.abs())
    return torch.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _probs(Z):
    e = torch.exp(Z - Z.amax(dim=1, keepdim=True))
    return e / e.sum(dim=1, keepdim=True)


def _onehot(y, k, like):
    out = torch.zeros(y.shape[0], k, dtype=like.dtype, device=like.device)
    out[torch.arange(y.shape[0], device=y.device), y] = 1.0
    return out


def _same_kind(expected):
    """Predicate: a tensor of the expected shape, dtype and device (a real answer)."""
    return lambda out: (
        isinstance(out, torch.Tensor)
        and out.shape == expected.shape
        and out.dtype == expected.dtype
        and out.device == expected.device
    )


def _call(check, fn, *args, hint=None, **kwargs):
    """Call the student; an exception other than the stub's becomes a failure with a hint."""
    try:
        return fn(*args, **kwargs)
    except StudentError as err:
        if err.is_a("NotImplementedError") or hint is None:
            raise
        check.fail(err.message[:400], specific_error_hint(err.type_name, err.exc_message) or hint)


# ------------------------------------------------------------------- linear regression


@pytest.mark.parametrize("n,d", SHAPES, ids=SHAPE_IDS)
def test_linreg_loss(student, reference, check, gen, device, dtype, n, d):
    X, y, w = _regression(gen, n, d, dtype, device)
    expected = reference.gradients.linreg_loss(X, y, w=w)
    actual = student.gradients.linreg_loss(X, y, w=w)
    sq = ((X @ w - y) ** 2).sum()
    check.close(actual, expected, mistakes=[
        Mistake("the loss is a mean: divide the halved sum of squares by N, 1/(2N) ||Xw - y||^2",
                value=sq / 2),
        Mistake("the loss is halved: 1/(2N) ||Xw - y||^2, not 1/N ||Xw - y||^2", value=sq / n),
        Mistake("the loss is 1/(2N) ||Xw - y||^2: both the 1/2 and the 1/N are missing", value=sq),
        Mistake("square the residuals before summing: 1/(2N) sum_i (x_i . w - y_i)^2",
                value=(X @ w - y).sum() ** 2 / (2 * n)),
    ])


@pytest.mark.parametrize("n,d", SHAPES, ids=SHAPE_IDS)
def test_linreg_grad(student, reference, check, gen, device, dtype, n, d):
    X, y, w = _regression(gen, n, d, dtype, device)
    expected = reference.gradients.linreg_grad(X, y, w=w)
    actual = student.gradients.linreg_grad(X, y, w=w)
    r = X @ w - y
    check.close(actual, expected, mistakes=[
        Mistake("no factor 2: the 2 from the square cancels the 1/2 of the loss, "
                "grad = X^T (Xw - y) / N", value=2 * (X.T @ r) / n),
        Mistake("the loss is a mean: divide X^T (Xw - y) by N", value=X.T @ r),
        Mistake("wrong sign: the residual is prediction minus target, grad = X^T (Xw - y) / N",
                value=X.T @ (-r) / n),
    ])


@pytest.mark.parametrize("n,d", [(10, 2), (15, 5), (30, 3), (8, 1)],
                         ids=["N10-d2", "N15-d5", "N30-d3", "N8-d1"])
def test_linreg_closed_form(student, reference, check, gen, device, dtype, n, d):
    # Tall X of full column rank: the unique least-squares solution (default l2).
    X, y, _ = _regression(gen, n, d, dtype, device)
    expected = reference.gradients.linreg_closed_form(X, y)
    actual = _call(check, student.gradients.linreg_closed_form, X, y,
                   hint="with l2 = 0 solve the normal equations X^T X w = X^T y (or use pinv(X) @ y)")
    scaled = ("scale both sides of the normal equations alike: (X^T X / N) w = X^T y / N, "
              "i.e. X^T X w = X^T y")
    check.close(actual, expected, scale=10.0, mistakes=[
        Mistake(scaled, value=expected * n, rtol=1e-4),
        Mistake(scaled, value=expected / n, rtol=1e-4),
    ])


@pytest.mark.parametrize("n,d,l2", [(12, 3, 0.1), (9, 4, 1.0), (4, 6, 0.5), (20, 5, 0.01)],
                         ids=["N12-d3-l2=0.1", "N9-d4-l2=1", "wide-N4-d6-l2=0.5", "N20-d5-l2=0.01"])
def test_linreg_closed_form_ridge(student, reference, check, gen, device, dtype, n, d, l2):
    X, y, _ = _regression(gen, n, d, dtype, device)
    expected = reference.gradients.linreg_closed_form(X, y, l2=l2)
    actual = _call(check, student.gradients.linreg_closed_form, X, y, l2=l2,
                   hint="with l2 > 0 solve (X^T X + N l2 I) w = X^T y")
    eye = torch.eye(d, dtype=dtype, device=device)
    G, b = X.T @ X, X.T @ y

    def ridge(reg, rhs=b, gram=G):
        return lambda: torch.linalg.solve(gram + reg * eye, rhs)

    check.close(actual, expected, scale=10.0, mistakes=[
        Mistake("the penalty is N l2 I, not l2 I: the loss is a mean, so the normal equations "
                "are (X^T X + N l2 I) w = X^T y", value=ridge(l2), rtol=1e-4),
        Mistake("the penalty is l2/2 ||w||^2, whose gradient is l2 w: use (X^T X + N l2 I), "
                "not 2 N l2 I", value=ridge(2 * n * l2), rtol=1e-4),
        Mistake("the penalty is N l2 I (l2/2 ||w||^2 on a mean loss), not N l2 / 2",
                value=ridge(n * l2 / 2), rtol=1e-4),
        Mistake("scale both sides: (X^T X / N + l2 I) w = X^T y / N, i.e. "
                "(X^T X + N l2 I) w = X^T y", value=ridge(l2, b, G / n), rtol=1e-4),
        Mistake("you returned the unregularised solution: l2 was ignored",
                value=lambda: torch.linalg.pinv(X) @ y, rtol=1e-4),
    ])


def _rank_deficient(gen, kind, dtype, device):
    if kind == "duplicate-column":
        A = torch.randn(12, 3, generator=gen, dtype=torch.float64)
        X = torch.cat([A, A[:, :1]], dim=1)  # rank 3, d = 4
    elif kind == "zero-column":
        A = torch.randn(10, 3, generator=gen, dtype=torch.float64)
        X = torch.cat([A[:, :2], torch.zeros(10, 1, dtype=torch.float64), A[:, 2:]], dim=1)
    elif kind == "scaled-column":
        A = torch.randn(9, 3, generator=gen, dtype=torch.float64)
        X = torch.cat([A, 2.0 * A[:, 1:2]], dim=1)
    else:  # wide: fewer examples than features
        X = torch.randn(4, 7, generator=gen, dtype=torch.float64)
    y = torch.randn(X.shape[0], generator=gen, dtype=torch.float64)
    return X.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


@pytest.mark.parametrize("kind", ["duplicate-column", "zero-column", "scaled-column", "wide"])
def test_linreg_closed_form_min_norm(student, reference, check, gen, device, dtype, kind):
    X, y = _rank_deficient(gen, kind, dtype, device)
    expected = reference.gradients.linreg_closed_form(X, y, l2=0.0)
    hint = ("X^T X is singular here (rank-deficient X, l2 = 0): of the many minimisers return "
            "the minimum-norm one, w = pinv(X) @ y")
    actual = _call(check, student.gradients.linreg_closed_form, X, y, l2=0.0, hint=hint)
    check.close(actual, expected, scale=10.0, mistakes=[
        Mistake(hint, problem="nan"),
        Mistake(hint, problem="inf"),
        Mistake(hint, when=_same_kind(expected)),
    ])


# ----------------------------------------------------------------- logistic regression


@pytest.mark.parametrize("n,d", SHAPES, ids=SHAPE_IDS)
def test_logreg_loss(student, reference, check, gen, device, dtype, n, d):
    X, y, w = _binary(gen, n, d, dtype, device)
    expected = reference.gradients.logreg_loss(X, y, w=w)
    actual = student.gradients.logreg_loss(X, y, w=w)
    z = X @ w
    per = z.clamp(min=0) - y * z + torch.log1p(torch.exp(-z.abs()))
    swapped = z.clamp(min=0) - (1 - y) * z + torch.log1p(torch.exp(-z.abs()))
    check.close(actual, expected, mistakes=[
        Mistake("the loss is a mean over the N examples, not a sum", value=per.sum()),
        Mistake("y and 1 - y are swapped: -y log sigmoid(z) - (1 - y) log(1 - sigmoid(z))",
                value=swapped.mean()),
    ])


@pytest.mark.parametrize("scale", [1e2, 1e3, 3e3, 1e4],
                         ids=["logits1e2", "logits1e3", "logits3e3", "logits1e4"])
def test_logreg_loss_large_logits(student, reference, check, gen, device, dtype, scale):
    X, y, w = _binary(gen, 12, 3, dtype, device)
    w = w * (scale / (X @ w).abs().max())  # the largest |logit| is `scale`
    expected = reference.gradients.logreg_loss(X, y, w=w)
    actual = student.gradients.logreg_loss(X, y, w=w)
    stable = ("log(sigmoid(z)) is log(0) = -inf for large |z|: compute the loss from the logits, "
              "max(z, 0) - y z + log1p(exp(-|z|))")
    check.close(actual, expected, mistakes=[
        Mistake(stable, problem="nan"),
        Mistake(stable, problem="inf"),
        Mistake("the loss is far too small for large logits: clamping the probabilities (or a "
                "saturated sigmoid) caps each term; compute it from the logits, "
                "max(z, 0) - y z + log1p(exp(-|z|))",
                when=lambda out: isinstance(out, torch.Tensor) and float(out) < 0.5 * float(expected)),
    ])


@pytest.mark.parametrize("n,d", SHAPES, ids=SHAPE_IDS)
def test_logreg_grad(student, reference, check, gen, device, dtype, n, d):
    X, y, w = _binary(gen, n, d, dtype, device)
    expected = reference.gradients.logreg_grad(X, y, w=w)
    actual = student.gradients.logreg_grad(X, y, w=w)
    p = _sigmoid(X @ w)
    check.close(actual, expected, mistakes=[
        Mistake("wrong sign: the gradient is X^T (sigmoid(Xw) - y) / N (prediction minus "
                "target); with (y - p) gradient descent climbs the loss", value=X.T @ (y - p) / n),
        Mistake("the loss is a mean: divide X^T (sigmoid(Xw) - y) by N", value=X.T @ (p - y)),
        Mistake("apply sigmoid to the logits: the gradient is X^T (sigmoid(Xw) - y) / N, "
                "not X^T (Xw - y) / N", value=X.T @ (X @ w - y) / n),
    ])


@pytest.mark.parametrize("scale", [1e2, 1e3, 1e4], ids=["logits1e2", "logits1e3", "logits1e4"])
def test_logreg_grad_large_logits(student, reference, check, gen, device, dtype, scale):
    X, y, w = _binary(gen, 10, 4, dtype, device)
    w = w * (scale / (X @ w).abs().max())
    expected = reference.gradients.logreg_grad(X, y, w=w)
    actual = student.gradients.logreg_grad(X, y, w=w)
    p = _sigmoid(X @ w)
    stable = ("sigmoid overflowed (exp of a large logit is inf, inf/inf = nan): use exp(-|z|) and "
              "pick 1/(1+e) for z >= 0, e/(1+e) for z < 0")
    check.close(actual, expected, mistakes=[
        Mistake(stable, problem="nan"),
        Mistake(stable, problem="inf"),
        Mistake("wrong sign: the gradient is X^T (sigmoid(Xw) - y) / N (prediction minus target)",
                value=X.T @ (y - p) / X.shape[0]),
    ])


# ------------------------------------------------------------------ softmax regression


@pytest.mark.parametrize("n,d,k", CLASS_SHAPES, ids=CLASS_IDS)
def test_softmax_regression_loss(student, reference, check, gen, device, dtype, n, d, k):
    X, y, W = _classes(gen, n, d, k, dtype, device)
    expected = reference.gradients.softmax_regression_loss(X, y, W=W)
    actual = student.gradients.softmax_regression_loss(X, y, W=W)
    Z = X @ W
    logp = torch.log(_probs(Z))
    picked = logp[torch.arange(n, device=device), y]
    check.close(actual, expected, mistakes=[
        Mistake("the loss is a mean over the N examples, not a sum", value=-picked.sum()),
        Mistake("cross-entropy is the NEGATIVE mean log-probability of the true class",
                value=picked.mean()),
        Mistake("cross-entropy uses the log-probability of the true class: "
                "logsumexp(z_i) - z_{i, y_i}, not the probability", value=-_probs(Z)[
                    torch.arange(n, device=device), y].mean()),
    ])


@pytest.mark.parametrize("n,d,k", CLASS_SHAPES, ids=CLASS_IDS)
def test_softmax_regression_grad(student, reference, check, gen, device, dtype, n, d, k):
    X, y, W = _classes(gen, n, d, k, dtype, device)
    expected = reference.gradients.softmax_regression_grad(X, y, W=W)
    actual = student.gradients.softmax_regression_grad(X, y, W=W)
    check.close(actual, expected, mistakes=_softmax_grad_mistakes(X, y, W, expected))


def _softmax_grad_mistakes(X, y, W, expected):
    n, k = X.shape[0], W.shape[1]
    P = _probs(X @ W)
    Y = _onehot(y, k, P)

    def rows_do_not_sum_to_zero(out):
        # Each row of X^T (P - Y) sums to 0 over the classes, since P and Y rows sum to 1.
        s = out.to(torch.float64).sum(dim=1).abs().max()
        return bool(s > 1e-3 * (1.0 + float(out.abs().max())))

    return [
        Mistake("subtract the one-hot targets: grad = X^T (softmax(XW) - onehot(y)) / N",
                value=X.T @ P / n),
        Mistake("wrong sign: grad = X^T (softmax(XW) - onehot(y)) / N (probabilities minus "
                "targets)", value=X.T @ (Y - P) / n),
        Mistake("the loss is a mean: divide X^T (softmax(XW) - onehot(y)) by N", value=X.T @ (P - Y)),
        Mistake("each row of the gradient must sum to 0 over the classes (softmax rows and "
                "one-hot rows both sum to 1): check the softmax normalisation and the "
                "-onehot(y) term", when=lambda out: _same_kind(expected)(out)
                and rows_do_not_sum_to_zero(out)),
    ]


@pytest.mark.parametrize("fn", ["loss", "grad"])
@pytest.mark.parametrize("scale", [1e2, 1e3, 1e4], ids=["logits1e2", "logits1e3", "logits1e4"])
def test_softmax_regression_large_logits(student, reference, check, gen, device, dtype, scale, fn):
    X, y, W = _classes(gen, 10, 3, 4, dtype, device)
    W = W * (scale / (X @ W).abs().max())
    name = "softmax_regression_loss" if fn == "loss" else "softmax_regression_grad"
    expected = getattr(reference.gradients, name)(X, y, W=W)
    actual = getattr(student.gradients, name)(X, y, W=W)
    stable = ("exp overflowed for large logits: subtract each row's max before exp "
              "(softmax and logsumexp are unchanged by the shift)")
    mistakes = [Mistake(stable, problem="nan"), Mistake(stable, problem="inf")]
    if fn == "grad":
        mistakes += _softmax_grad_mistakes(X, y, W, expected)
    check.close(actual, expected, scale=scale * 1e-3, mistakes=mistakes)


# ------------------------------------------------------------------ argument checking


def _bad_calls():
    """(id, function, builder of (args, kwargs), regex for the message)."""
    Y = r"\by\b"

    def reg(n=6, d=3, k=None):
        g = torch.Generator().manual_seed(5)
        X = torch.randn(n, d, generator=g)
        if k is None:
            return X, torch.randn(n, generator=g), torch.randn(d, generator=g)
        return X, torch.randint(0, k, (n,), generator=g), torch.randn(d, k, generator=g)

    def linreg_y_column():
        X, y, w = reg()
        return (X, y[:, None]), {"w": w}

    def linreg_grad_w_too_long():
        X, y, w = reg()
        return (X, y), {"w": torch.cat([w, w[:1]])}

    def logreg_y_column():
        X, y, w = reg()
        return (X, (y > 0).float()[:, None]), {"w": w}

    def logreg_grad_w_column():
        X, y, w = reg()
        return (X, (y > 0).float()), {"w": w[:, None]}

    def softmax_index_out_of_range():
        X, y, W = reg(k=3)
        y[2] = 3
        return (X, y), {"W": W}

    def softmax_negative_index():
        X, y, W = reg(k=3)
        y[0] = -1
        return (X, y), {"W": W}

    def softmax_float_targets():
        X, y, W = reg(k=3)
        return (X, y.float()), {"W": W}

    def closed_form_negative_l2():
        X, y, _ = reg(n=8)
        return (X, y), {"l2": -0.5}

    def logreg_y_long():
        X, y, w = reg()
        return (X, torch.cat([y, y[:1]]).gt(0).float()), {"w": w}

    def closed_form_y_short():
        X, y, _ = reg(n=8)
        return (X, y[:-1]), {"l2": 0.1}

    return [
        ("linreg_loss-y(N,1)", "linreg_loss", linreg_y_column, Y),
        ("linreg_grad-w(d+1,)", "linreg_grad", linreg_grad_w_too_long, r"\bw\b"),
        ("logreg_loss-y(N,1)", "logreg_loss", logreg_y_column, Y),
        ("logreg_grad-w(d,1)", "logreg_grad", logreg_grad_w_column, r"\bw\b"),
        ("softmax_loss-index>=k", "softmax_regression_loss", softmax_index_out_of_range, Y),
        ("softmax_grad-index<0", "softmax_regression_grad", softmax_negative_index, Y),
        ("softmax_loss-float-y", "softmax_regression_loss", softmax_float_targets, Y),
        ("logreg_grad-y(N+1,)", "logreg_grad", logreg_y_long, Y),
        ("closed_form-l2<0", "linreg_closed_form", closed_form_negative_l2, r"\bl2\b"),
        ("closed_form-y(N-1,)", "linreg_closed_form", closed_form_y_short, Y),
    ]


BAD_CALLS = _bad_calls()


@pytest.mark.parametrize("case", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_model_argument_checks(student, check, case):
    _, name, build, match = case
    args, kwargs = build()
    with check.raises(ValueError, match=match,
                      hint="check shapes, dtypes and ranges yourself and raise ValueError naming "
                           "the argument: broadcasting (N, 1) against (N,) or an index >= k "
                           "must not pass silently"):
        getattr(student.gradients, name)(*args, **kwargs)
