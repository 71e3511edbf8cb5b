"""Teaching plots for the topic notebooks, drawn from the student's own functions.

Each plot is a Markdown cell (what to look for) and a code cell. Every code cell:

- runs only under ``if __name__ == "__main__":``, so a graded notebook imports without
  drawing anything, even when a student strips the cell's metadata;
- computes its values first, through ``_call(fn, ...)``, which turns the
  ``NotImplementedError`` of an unfinished stub into one line naming what to implement
  first; then draws with matplotlib, or says in one line that the plot needs it;
- uses only the notebook's own names plus torch, numpy, matplotlib and scikit-learn,
  never downloads anything, and runs in about a second on a CPU;
- calls nothing that :mod:`grader.static_check` forbids in a manual topic (no autograd:
  the optimizer paths use hand-written gradients), so a stripped cell costs no points.
"""

from __future__ import annotations

import textwrap

_SCAFFOLD_HEAD = '''\
if __name__ == "__main__":
    import torch

    class _Unfinished(Exception):
        """A function this plot needs still raises NotImplementedError."""

    def _call(fn, *args, **kwargs):
        """fn(*args, **kwargs), or _Unfinished naming what to implement first."""
        try:
            return fn(*args, **kwargs)
        except NotImplementedError as exc:
            text = str(exc)
            if "not implemented" in text:
                raise _Unfinished(text.split(":")[0].split(".", 1)[-1]) from None
            raise _Unfinished(getattr(fn, "__qualname__", repr(fn)).split("<locals>.")[-1]) from None

    def _pyplot():
        """matplotlib.pyplot, or None after saying the plot needs it."""
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            print("This plot needs matplotlib (pip install matplotlib); the values are computed.")
            return None
        return plt

    def _plot():
'''

_SCAFFOLD_TAIL = '''
    try:
        _plot()
    except _Unfinished as exc:
        print(f"Implement {exc} first, then run this cell again.")
'''

_NOT_RUN_NOTE = "\n\n*This cell only runs in Jupyter; it is not part of your graded module.*"


def _cell(body: str) -> str:
    return _SCAFFOLD_HEAD + textwrap.indent(textwrap.dedent(body).strip("\n"), " " * 8) + "\n" + _SCAFFOLD_TAIL


_ACTIVATIONS = (
    """\
## Plot: each activation and its derivative

Your functions on a grid of pre-activations x. Look for where each derivative is small:
the sigmoid's never exceeds 1/4 and tanh's vanishes for |x| > 3 (saturation), while
ReLU passes gradient 1 for every x > 0 and nothing for x < 0.""",
    """\
    x = torch.linspace(-5.0, 5.0, 401, dtype=torch.float64)
    pairs = [
        ("sigmoid", sigmoid, sigmoid_grad, {}),
        ("tanh", tanh, tanh_grad, {}),
        ("relu", relu, relu_grad, {}),
        ("leaky_relu (slope 0.1)", leaky_relu, leaky_relu_grad, {"negative_slope": 0.1}),
        ("gelu", gelu, gelu_grad, {}),
    ]
    curves = [(name, _call(f, x, **kw), _call(df, x, **kw)) for name, f, df, kw in pairs]
    plt = _pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, len(curves), figsize=(3.2 * len(curves), 3), squeeze=False)
    for ax, (name, y, dy) in zip(axes[0], curves):
        ax.plot(x.numpy(), y.numpy(), label="f(x)")
        ax.plot(x.numpy(), dy.numpy(), "--", label="f'(x)")
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.set_title(name)
        ax.set_xlabel("x")
    axes[0][0].legend()
    fig.tight_layout()
    plt.show()
""",
)

_SOFTMAX = (
    """\
## Plot: softmax and temperature

softmax(z / T) for one vector of logits z. A low temperature T sharpens the
distribution towards the arg max; a high one flattens it towards uniform. The order of
the probabilities never changes.""",
    """\
    z = torch.tensor([2.0, 1.0, 0.5, -0.5, -1.0], dtype=torch.float64)
    temperatures = [0.5, 1.0, 2.0, 5.0]
    probs = [_call(softmax, z / T) for T in temperatures]
    plt = _pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6, 3))
    width = 0.8 / len(temperatures)
    for i, (T, p) in enumerate(zip(temperatures, probs)):
        ax.bar([k + i * width for k in range(len(z))], p.numpy(), width=width, label=f"T = {T:g}")
    ax.set_xlabel("class k")
    ax.set_ylabel("softmax(z / T)_k")
    ax.legend()
    plt.show()
""",
)

_REGRESSION_LOSSES = (
    """\
## Plot: regression losses against the residual

Each loss of one prediction as a function of the residual r = input - target. MSE grows
as r², so one outlier dominates the mean; MAE grows as |r| and has a kink at 0; Huber is
quadratic within `delta` and linear beyond it: smooth at 0, robust to outliers.""",
    """\
    r = torch.linspace(-3.0, 3.0, 301, dtype=torch.float64)
    zero = torch.zeros_like(r)
    curves = [
        ("MSE", _call(mse_loss, r, zero, reduction="none")),
        ("MAE (L1)", _call(l1_loss, r, zero, reduction="none")),
        ("Huber, delta = 1", _call(huber_loss, r, zero, reduction="none", delta=1.0)),
    ]
    plt = _pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, loss in curves:
        ax.plot(r.numpy(), loss.numpy(), label=name)
    ax.set_xlabel("residual r = input - target")
    ax.set_ylabel("loss")
    ax.set_ylim(0.0, 4.5)
    ax.legend()
    plt.show()
""",
)

_BCE = (
    """\
## Plot: binary cross-entropy against the logit

`binary_cross_entropy_with_logits` for a positive (y = 1) and a negative (y = 0) example
as the logit z varies. A confident wrong answer costs about |z| (the loss becomes
linear), a confident right one costs almost nothing, and the curve never saturates:
the gradient sigmoid(z) - y always pushes the wrong way back.""",
    """\
    z = torch.linspace(-8.0, 8.0, 321, dtype=torch.float64)
    curves = [
        (f"y = {y}", _call(binary_cross_entropy_with_logits, z, torch.full_like(z, float(y)), reduction="none"))
        for y in (1, 0)
    ]
    plt = _pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, loss in curves:
        ax.plot(z.numpy(), loss.numpy(), label=name)
    ax.set_xlabel("logit z")
    ax.set_ylabel("BCE")
    ax.legend()
    plt.show()
""",
)

_OPTIMIZER_PATHS = (
    """\
## Plot: optimizer paths on an ill-conditioned valley

Your optimizers on f(x, y) = (x² + 20 y²) / 2, a valley twenty times steeper across
than along (the gradient (x, 20 y) is written out by hand, no autograd). Plain SGD must
keep its step below 2/20 and zig-zags across the valley; momentum builds up speed along
it; Adam and RMSprop rescale each coordinate by its own gradient size, so the valley
looks round to them.""",
    """\
    import numpy as np

    def grad(p):
        return torch.stack([p[0], 20.0 * p[1]])

    runs = [
        ("SGD, lr 0.09", SGD, {"lr": 0.09}),
        ("SGD + momentum 0.9, lr 0.02", SGD, {"lr": 0.02, "momentum": 0.9}),
        ("RMSprop, lr 0.05", RMSprop, {"lr": 0.05}),
        ("Adagrad, lr 0.7", Adagrad, {"lr": 0.7}),
        ("Adam, lr 0.3", Adam, {"lr": 0.3}),
    ]
    paths, missing = {}, []
    for label, cls, kwargs in runs:
        p = torch.tensor([-4.0, 1.0], dtype=torch.float64, requires_grad=True)
        opt = cls([p], **kwargs)
        path = [p.detach().clone()]
        try:
            for _ in range(60):
                p.grad = grad(p.detach())
                _call(opt.step)
                path.append(p.detach().clone())
        except _Unfinished as exc:
            missing.append(str(exc))
            continue
        paths[label] = torch.stack(path)
    if not paths:
        raise _Unfinished(missing[0])
    if missing:
        print("Left out until you implement them: " + ", ".join(dict.fromkeys(missing)))
    plt = _pyplot()
    if plt is None:
        return
    xs, ys = np.meshgrid(np.linspace(-4.5, 4.5, 200), np.linspace(-1.5, 1.5, 120))
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.contour(xs, ys, (xs**2 + 20.0 * ys**2) / 2, levels=20, colors="grey", linewidths=0.5)
    for label, path in paths.items():
        ax.plot(path[:, 0].numpy(), path[:, 1].numpy(), ".-", markersize=3, label=label)
    ax.plot([0.0], [0.0], "k*", markersize=10)
    ax.set_xlim(-4.5, 4.5)
    ax.set_ylim(-1.5, 1.5)
    ax.legend(fontsize=8)
    plt.show()
""",
)

_SCHEDULES = (
    """\
## Plot: learning-rate schedules

Your schedules over 100 steps from lr0 = 0.1 (the warm-up schedule, whose scale is set by
`d_model`, is drawn on its own axis). Step decay drops in stairs, cosine decay is flat at
both ends, and the warm-up rises linearly before decaying as 1/sqrt(t).""",
    """\
    steps = list(range(100))
    curves = {
        "step_decay(step_size=30, gamma=0.3)": [_call(step_decay, t, 0.1, 30, gamma=0.3) for t in steps],
        "exponential_decay(gamma=0.97)": [_call(exponential_decay, t, 0.1, 0.97) for t in steps],
        "linear_decay(lr_end=0.01, K=80)": [_call(linear_decay, t, 0.1, 0.01, 80) for t in steps],
        "cosine_decay(K=100)": [_call(cosine_decay, t, 0.1, 100) for t in steps],
    }
    warmup = [_call(inverse_sqrt_warmup, t, 64, 10) for t in steps]
    plt = _pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), squeeze=False)
    for name, lrs in curves.items():
        axes[0][0].plot(steps, lrs, label=name)
    axes[0][0].set_xlabel("step t")
    axes[0][0].set_ylabel("learning rate")
    axes[0][0].legend(fontsize=8)
    axes[0][1].plot(steps, warmup)
    axes[0][1].set_title("inverse_sqrt_warmup(d_model=64, warmup=10)")
    axes[0][1].set_xlabel("step t")
    plt.show()
""",
)

_GRADIENT_DESCENT = (
    """\
## Plot: gradient descent and the learning rate

`gradient_descent` one step at a time on a linear regression, with learning rates given
as fractions of 1/L, where L is the largest eigenvalue of XᵀX / N (the largest
curvature of the loss). Every rate below 2/L makes the loss fall, larger ones faster
here because most directions are much flatter than the steepest one; just above 2/L
the steps overshoot more and more along the steepest direction and the loss diverges.""",
    """\
    gen = torch.Generator().manual_seed(0)
    f64 = torch.float64
    X = torch.randn(200, 5, generator=gen, dtype=f64) * torch.tensor([3.0, 1.0, 1.0, 0.5, 0.2], dtype=f64)
    w_true = torch.tensor([1.0, -2.0, 0.5, 1.0, 3.0], dtype=f64)
    y = X @ w_true + 0.1 * torch.randn(200, generator=gen, dtype=f64)
    L = float(torch.linalg.eigvalsh(X.T @ X / X.shape[0]).max())
    curves = {}
    for fraction in (0.1, 0.5, 1.0, 1.9, 2.05):
        w = torch.zeros(5, dtype=torch.float64)
        losses = [float(_call(linreg_loss, X, y, w))]
        for _ in range(40):
            w = _call(gradient_descent, lambda v: linreg_grad(X, y, v), w, fraction / L, 1)
            losses.append(float(_call(linreg_loss, X, y, w)))
        curves[f"lr = {fraction:g} / L"] = losses
    plt = _pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, losses in curves.items():
        ax.semilogy(losses, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("linreg_loss")
    ax.legend()
    plt.show()
""",
)

_AUTODIFF = (
    """\
## Plot: derivatives by reverse and forward mode

f(x) = sin(x) · exp(-x²/4) and its derivative computed by your `reverse_grad` and
`forward_grad`, against a central difference. All three should lie on one curve.""",
    """\
    def f(v):
        return v.sin() * (-(v * v) / 4).exp()

    def value_at(x):
        return f(Value(x)).data

    xs = [i / 20 for i in range(-100, 101)]
    values = [_call(value_at, x) for x in xs]
    reverse = [_call(reverse_grad, f, [x])[0] for x in xs]
    forward = [_call(forward_grad, f, [x])[0] for x in xs]
    h = 1e-5
    central = [(_call(value_at, x + h) - _call(value_at, x - h)) / (2 * h) for x in xs]
    plt = _pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(xs, values, label="f(x)")
    ax.plot(xs, reverse, label="reverse_grad")
    ax.plot(xs, forward, "--", label="forward_grad")
    ax.plot(xs[::10], central[::10], "k.", label="central difference")
    ax.set_xlabel("x")
    ax.legend()
    plt.show()
""",
)

_BACKPROP = (
    """\
## Plot: an MLP trained with your backward pass

Your `MLP` on two interleaved half-moons (scikit-learn's `make_moons`, generated, not
downloaded), trained by plain gradient descent with the gradients of your `backward`.
The loss should fall steadily and the decision boundary bend around the moons.""",
    """\
    try:
        from sklearn.datasets import make_moons
    except ImportError:
        print("This plot needs scikit-learn (pip install scikit-learn).")
        return
    points, labels = make_moons(200, noise=0.15, random_state=0)
    X = torch.tensor(points, dtype=torch.float64)
    y = torch.tensor(labels, dtype=torch.int64)
    gen = torch.Generator().manual_seed(0)
    model = _call(MLP, [2, 16, 16, 2], activation="tanh", generator=gen, dtype=torch.float64)
    losses = []
    for _ in range(200):
        logits = _call(model.forward, X)
        loss, dlogits = _call(softmax_cross_entropy, logits, y)
        grads = _call(model.backward, dlogits)
        for p, g in zip(model.params, grads):
            p -= 0.5 * g
        losses.append(float(loss))
    plt = _pyplot()
    if plt is None:
        return
    import numpy as np

    gx, gy = np.meshgrid(np.linspace(-1.5, 2.5, 120), np.linspace(-1.0, 1.5, 80))
    grid = torch.tensor(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=torch.float64)
    classes = _call(model.forward, grid).argmax(dim=1).reshape(gx.shape)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), squeeze=False)
    axes[0][0].plot(losses)
    axes[0][0].set_xlabel("step")
    axes[0][0].set_ylabel("cross-entropy")
    axes[0][1].contourf(gx, gy, classes.numpy(), alpha=0.3)
    axes[0][1].scatter(points[:, 0], points[:, 1], c=labels, s=8)
    axes[0][1].set_title("decision boundary")
    plt.show()
""",
)

_INIT = (
    """\
## Plot: activations through a deep network

The standard deviation of the activations through 20 layers of width 256 for four
initialisations (your initializers; bias-free layers). A fixed scale that is too small
makes the signal vanish geometrically, one that is too large makes it explode; Xavier
(for tanh) and Kaiming (for ReLU) scale the weights by the fan-in and keep it roughly
constant from layer to layer.""",
    """\
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(512, 256, generator=gen)
    schemes = [
        ("normal std 0.01, tanh", lambda W: normal_(W, 0.0, 0.01, generator=gen), torch.tanh),
        ("normal std 0.2, ReLU", lambda W: normal_(W, 0.0, 0.2, generator=gen), lambda h: h.clamp(min=0.0)),
        ("xavier_normal_, tanh", lambda W: xavier_normal_(W, gain=calculate_gain("tanh"), generator=gen),
         torch.tanh),
        ("kaiming_normal_, ReLU", lambda W: kaiming_normal_(W, nonlinearity="relu", generator=gen),
         lambda h: h.clamp(min=0.0)),
    ]
    stds = {}
    for name, fill, act in schemes:
        h, trace = x0, []
        for _ in range(20):
            W = torch.empty(256, 256)
            _call(fill, W)
            h = act(h @ W.T)
            trace.append(float(h.std()))
        stds[name] = trace
    plt = _pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, trace in stds.items():
        ax.semilogy(range(1, 21), trace, ".-", label=name)
    ax.set_xlabel("layer")
    ax.set_ylabel("std of the activations")
    ax.legend(fontsize=8)
    plt.show()
""",
)

_DROPOUT = (
    """\
## Plot: inverted dropout keeps the expectation

For each drop probability p, your `dropout` on 20 000 ones: the fraction of zeros
should follow p, while the mean output stays at 1 because survivors are scaled by
1/(1-p). That scaling is why evaluation needs no correction: there dropout is the
identity.""",
    """\
    gen = torch.Generator().manual_seed(0)
    ones = torch.ones(20000)
    ps = [i / 10 for i in range(10)]
    outs = [_call(dropout, ones, p, training=True, generator=gen) for p in ps]
    zeros = [float((out == 0).float().mean()) for out in outs]
    means = [float(out.mean()) for out in outs]
    evals = [float(_call(dropout, ones, p, training=False).mean()) for p in ps]
    plt = _pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), squeeze=False)
    axes[0][0].plot(ps, zeros, "o-", label="fraction of zeros")
    axes[0][0].plot(ps, ps, "k:", label="p")
    axes[0][0].set_xlabel("p")
    axes[0][0].legend()
    axes[0][1].plot(ps, means, "o-", label="mean output, training")
    axes[0][1].plot(ps, evals, "s--", label="mean output, evaluation")
    axes[0][1].set_ylim(0.0, 1.5)
    axes[0][1].set_xlabel("p")
    axes[0][1].legend()
    plt.show()
""",
)

_BATCHNORM = (
    """\
## Plot: batch normalisation standardises each feature

Four features on very different scales, before and after your `batchnorm_forward` in
training mode (gamma = 1, beta = 0): each feature ends up with mean 0 and standard
deviation 1 over the batch, whatever its original location and scale.""",
    """\
    gen = torch.Generator().manual_seed(0)
    scale = torch.tensor([1.0, 5.0, 0.2, 10.0], dtype=torch.float64)
    shift = torch.tensor([3.0, -2.0, 0.0, 50.0], dtype=torch.float64)
    x = torch.randn(512, 4, generator=gen, dtype=torch.float64) * scale + shift
    ones, zeros = torch.ones(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    out, _ = _call(batchnorm_forward, x, ones, zeros, zeros.clone(), ones.clone(), training=True)
    plt = _pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), squeeze=False)
    for c in range(4):
        axes[0][0].hist(x[:, c].numpy(), bins=40, alpha=0.5, label=f"feature {c}")
        axes[0][1].hist(out[:, c].numpy(), bins=40, alpha=0.5, label=f"feature {c}")
    axes[0][0].set_title("before")
    axes[0][1].set_title("after batchnorm_forward")
    axes[0][0].legend(fontsize=8)
    plt.show()
""",
)

_TRAINING = (
    """\
## Plot: training and validation loss

Your `train` on scikit-learn's bundled 8x8 digits (no download), with only 100 training
images so that the model overfits: the training loss keeps falling towards 0 while the
validation loss turns back up after a few epochs. That turning point is what
`EarlyStopping` watches for.""",
    """\
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print("This plot needs scikit-learn (pip install scikit-learn).")
        return
    digits = load_digits()
    X = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(y), generator=gen)
    train_idx, val_idx = order[:100], order[100:600]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = _call(
        train, model, torch.nn.CrossEntropyLoss(), optimizer, (X[train_idx], y[train_idx]),
        (X[val_idx], y[val_idx]), epochs=40, batch_size=16, generator=gen,
    )
    plt = _pyplot()
    if plt is None:
        return
    epochs = range(1, len(history["train_loss"]) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), squeeze=False)
    axes[0][0].plot(epochs, history["train_loss"], label="train")
    axes[0][0].plot(epochs, history["val_loss"], label="validation")
    axes[0][0].set_xlabel("epoch")
    axes[0][0].set_ylabel("loss per example")
    axes[0][0].legend()
    axes[0][1].plot(epochs, history["val_accuracy"])
    axes[0][1].set_xlabel("epoch")
    axes[0][1].set_ylabel("validation accuracy")
    plt.show()
""",
)

PLOTS: dict[str, tuple[tuple[str, str], ...]] = {
    "activations": (_ACTIVATIONS, _SOFTMAX),
    "losses": (_REGRESSION_LOSSES, _BCE),
    "gradients": (_GRADIENT_DESCENT,),
    "backprop": (_BACKPROP,),
    "autodiff": (_AUTODIFF,),
    "optimizers": (_OPTIMIZER_PATHS, _SCHEDULES),
    "init": (_INIT,),
    "dropout": (_DROPOUT,),
    "batchnorm": (_BATCHNORM,),
    "training": (_TRAINING,),
}


def plot_cells(topic: str) -> list[tuple[str, str]]:
    """(Markdown, code) pairs of the topic's teaching plots; none for a topic without."""
    return [(text + _NOT_RUN_NOTE, _cell(body)) for text, body in PLOTS.get(topic, ())]
