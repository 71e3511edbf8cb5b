"""Hidden suite for backprop.py, part 2: mlp_loss_and_grads and the MLP class.

mlp_loss_and_grads is compared with the reference on depths 1, 2 and 4, every
activation and batch sizes from 1. The MLP class is driven in the worker by
``harness.run_mlp``; its initialisation is graded by bounds and distribution (not by
the random stream), its forward / backward by consistency with the reference run on
the student's own parameters.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from grader.diagnosis import Mistake, error_hint

ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "gelu"]
DEPTH_SIZES = {1: [5, 3], 2: [6, 7, 4], 4: [5, 8, 3, 6, 4]}
BATCHES = [1, 6, 11]

ALIGN = ("grads must align with params: [dW1, db1, ..., dWL, dbL], the gradient of each "
         "parameter at its index, the shape of that parameter")


# ----------------------------------------------------------------------------- helpers


def _act(h, kind, gelu_tanh=False):
    if kind == "sigmoid":
        return torch.sigmoid(h)
    if kind == "tanh":
        return torch.tanh(h)
    if kind == "relu":
        return F.relu(h)
    if kind == "leaky_relu":
        return F.leaky_relu(h, 0.01)
    return F.gelu(h, approximate="tanh" if gelu_tanh else "none")


def _variant(params, X, kind, *, y=None, dlogits=None, last_act=False, gelu_tanh=False,
             sum_loss=False, skip_act_grad=False):
    """(loss or None, grads) of a mistaken MLP, by autograd (used only to name mistakes)."""
    with torch.enable_grad():
        ps = [p.detach().clone().requires_grad_(True) for p in params]
        h = X
        n_layers = len(ps) // 2
        for layer in range(n_layers):
            h = h @ ps[2 * layer].T + ps[2 * layer + 1]
            if layer < n_layers - 1 or last_act:
                a = _act(h, kind, gelu_tanh)
                h = h + (a - h).detach() if skip_act_grad else a
        if y is not None:
            loss = F.cross_entropy(h, y, reduction="sum" if sum_loss else "mean")
            return loss.detach(), list(torch.autograd.grad(loss, ps))
        return h.detach(), list(torch.autograd.grad(h, ps, dlogits))


def _shapes(value):
    if not isinstance(value, (list, tuple)):
        return None
    return [tuple(v.shape) if isinstance(v, torch.Tensor) else None for v in value]


def _order_mistakes(expected):
    shapes = [tuple(e.shape) for e in expected]
    pairs = [shapes[i:i + 2] for i in range(0, len(shapes), 2)]
    reversed_pairs = [s for pair in reversed(pairs) for s in pair]
    grouped = shapes[0::2] + shapes[1::2]
    out = []
    if reversed_pairs != shapes:
        out.append(Mistake(ALIGN + ": the layers came back in reverse order (fill grads[2l], "
                           "grads[2l + 1] while walking backwards, or reverse the list at the end)",
                           when=lambda got: _shapes(got) == reversed_pairs))
    if list(reversed(shapes)) != shapes:
        out.append(Mistake(ALIGN + ": the list came back reversed",
                           when=lambda got: _shapes(got) == list(reversed(shapes))))
    weight_shapes = shapes[0::2]
    if any(a != b for a, b in weight_shapes):
        def transposed_weight(got):
            got_shapes = _shapes(got)
            return got_shapes is not None and len(got_shapes) == len(shapes) and any(
                g == (e[1], e[0]) and g != e for g, e in zip(got_shapes[0::2], weight_shapes))
        out.append(Mistake("a weight gradient came back transposed: dW_l has W_l's shape (out, in), "
                           "dW = dout.T @ x (see linear_backward)", when=transposed_weight))
    if grouped != shapes:
        out.append(Mistake(ALIGN + ": interleave them, [dW1, db1, dW2, db2, ...], not all dW then all db",
                           when=lambda got: _shapes(got) == grouped))
    return out


def _random_params(gen, sizes, dtype, device):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append(torch.randn(fan_out, fan_in, generator=gen, dtype=dtype) * (1.5 / math.sqrt(fan_in)))
        params.append(torch.randn(fan_out, generator=gen, dtype=dtype) * 0.5)
    return [p.to(device) for p in params]


def _pair(check, value, what):
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        check.fail(f"{what} must return a pair, got {type(value).__name__}")
    return value


# ------------------------------------------------------------------- mlp_loss_and_grads


MLP_CASES = [(d, a) for d in DEPTH_SIZES for a in ACTIVATIONS]


@pytest.mark.parametrize("depth,activation", MLP_CASES, ids=[f"depth{d}-{a}" for d, a in MLP_CASES])
def test_mlp_loss_and_grads(student, reference, check, gen, device, dtype, depth, activation):
    sizes = DEPTH_SIZES[depth]
    n = BATCHES[(depth + ACTIVATIONS.index(activation)) % len(BATCHES)]
    params = _random_params(gen, sizes, dtype, device)
    X = torch.randn(n, sizes[0], generator=gen, dtype=dtype).to(device)
    y = torch.randint(0, sizes[-1], (n,), generator=gen).to(device)
    e_loss, e_grads = reference.backprop.mlp_loss_and_grads(params, X, y, activation=activation)
    loss, grads = _pair(check, student.backprop.mlp_loss_and_grads(params, X, y, activation=activation),
                        "mlp_loss_and_grads")

    def variant(**kw):
        return lambda: _variant(params, X, activation, y=y, **kw)

    last = ("no activation after the last layer: the logits z_L go straight into the "
            "softmax cross-entropy")
    tanh = "\"gelu\" is the exact form x Phi(x) (erf) here, forward and backward, not the tanh approximation"
    loss_mistakes = [Mistake(last, value=lambda: variant(last_act=True)()[0])]
    grad_mistakes = [Mistake(last, value=lambda: variant(last_act=True)()[1])]
    if activation == "gelu":
        loss_mistakes.append(Mistake(tanh, value=lambda: variant(gelu_tanh=True)()[0]))
        grad_mistakes.append(Mistake(tanh, value=lambda: variant(gelu_tanh=True)()[1]))
    loss_mistakes.append(Mistake("the loss is the mean over the batch, not the sum",
                                 value=lambda: variant(sum_loss=True)()[0]))
    grad_mistakes += [
        Mistake("the loss is the mean over the batch: dlogits = (softmax - onehot) / N",
                value=lambda: variant(sum_loss=True)()[1]),
        Mistake("the backward pass skipped the activations: call activation_backward on the "
                "gradient before each hidden layer's linear_backward",
                value=lambda: variant(skip_act_grad=True)()[1]),
        *_order_mistakes(e_grads),
    ]
    check.close(loss, e_loss, mistakes=loss_mistakes)
    if isinstance(grads, (list, tuple)) and len(grads) != len(e_grads):
        check.fail(f"mlp_loss_and_grads returned {len(grads)} gradients for {len(params)} params",
                   ALIGN)
    check.close(grads, e_grads, mistakes=grad_mistakes)


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_mlp_inputs_unchanged(student, check, gen, device, depth):
    sizes = DEPTH_SIZES[depth]
    params = _random_params(gen, sizes, torch.float64, device)
    X = torch.randn(7, sizes[0], generator=gen, dtype=torch.float64).to(device)
    y = torch.randint(0, sizes[-1], (7,), generator=gen).to(device)
    record = student.backprop.mlp_loss_and_grads.inspect_call(params, X, y, activation="relu")
    args = record.args
    check.unchanged(params, args[0] if args else None, "params", record.findings)
    check.unchanged(X, args[1] if len(args) > 1 else None, "X", record.findings)
    check.unchanged(y, args[2] if len(args) > 2 else None, "y", record.findings)


# --------------------------------------------------------------------------- MLP class


def run_student_mlp(check, student, sizes, kwargs, seed, steps=()):
    out = student.harness.run_mlp(student.backprop.MLP, list(sizes), dict(kwargs), seed, list(steps))
    if not isinstance(out, dict) or "params" not in out:
        check.fail("MLP: the run returned no result")
    return out


def _record(check, records, i, what):
    """Step i of an MLP run; a step that raised fails the test with its error."""
    if not isinstance(records, list) or i >= len(records) or not isinstance(records[i], dict):
        check.fail(f"{what}: the MLP run stopped before this step")
    record = records[i]
    error = record.get("error")
    if error is not None:
        kind = str(error.get("type", "Exception")) if isinstance(error, dict) else "Exception"
        message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
        check.fail(f"{what} raised {kind}: {message[:300]}", error_hint(kind, message))
    return record


def _check_layout(check, params, sizes, dtype):
    """params is [W1, b1, ..., WL, bL] with torch.nn.Linear's shapes and the dtype asked for."""
    n_layers = len(sizes) - 1
    check.that(
        isinstance(params, (list, tuple)) and len(params) == 2 * n_layers,
        f"MLP({sizes}).params must be a list of {2 * n_layers} tensors [W1, b1, ..., WL, bL], got "
        f"{type(params).__name__}" + (f" of length {len(params)}" if isinstance(params, (list, tuple)) else ""),
        "keep one weight and one bias per layer, in order, in self.params",
    )
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        for j, shape in enumerate([(fan_out, fan_in), (fan_out,)]):
            p = params[2 * layer + j]
            name = f"{'Wb'[j]}{layer + 1} (params[{2 * layer + j}])"
            check.that(
                isinstance(p, torch.Tensor) and tuple(p.shape) == shape,
                f"MLP({sizes}): {name} must have shape {shape}, got "
                f"{tuple(p.shape) if isinstance(p, torch.Tensor) else type(p).__name__}",
                "W_l is (sizes[l], sizes[l-1]) = (out, in) like torch.nn.Linear's weight; "
                "b_l is (sizes[l],)",
            )
            check.that(p.dtype == dtype, f"MLP({sizes}, dtype={dtype}): {name} has dtype {p.dtype}",
                       "create the parameters with dtype=dtype")


def _check_distribution(check, params, sizes):
    """Each W_l and b_l looks like U(-a, a) with a = 1/sqrt(fan_in)."""
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        a = 1.0 / math.sqrt(fan_in)
        for j in range(2):
            p = params[2 * layer + j].detach().to("cpu", torch.float64)
            name = f"{'Wb'[j]}{layer + 1}"
            n = p.numel()
            big = float(p.abs().max())
            where = f"MLP({sizes}): {name} (fan_in = {fan_in})"
            check.that(bool(torch.isfinite(p).all()), f"{where} holds nan or inf")
            constant = float(p.std()) == 0.0 if n > 1 else big == 0.0
            if constant:
                check.fail(f"{where} is constant",
                           "biases are drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) too, as "
                           "torch.nn.Linear does, not set to zeros" if j else
                           "draw the weights at random from U(-1/sqrt(fan_in), 1/sqrt(fan_in))")
            if big > a * (1 + 1e-5):
                if big <= (1 / math.sqrt(fan_out)) * (1 + 1e-5) and fan_out < fan_in:
                    hint = "fan_in is the layer's number of INPUTS (sizes[l-1], W.shape[1]), not its outputs"
                elif big > 2 * a and float(p.std()) > 0.8 * a:
                    hint = "draw from a uniform U(-a, a) with a = 1/sqrt(fan_in), not a normal distribution"
                else:
                    hint = "the interval is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as in torch.nn.Linear"
                check.fail(f"{where} has entries outside [-1/sqrt(fan_in), 1/sqrt(fan_in)]", hint)
            if n >= 40 and big < a * (1 - 20.0 / n):
                if big <= (1.0 / fan_in) * (1 + 1e-5):
                    hint = "the bound is 1/sqrt(fan_in), not 1/fan_in"
                elif big <= (1 / math.sqrt(fan_out)) * (1 + 1e-5):
                    hint = "fan_in is the layer's number of INPUTS (sizes[l-1], W.shape[1]), not its outputs"
                else:
                    hint = "the entries should fill U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as torch.nn.Linear's"
                check.fail(f"{where}: the entries do not spread over [-1/sqrt(fan_in), 1/sqrt(fan_in)] "
                           "(far too small)", hint)
            sd = a / math.sqrt(3)
            if n >= 40:
                mean = float(p.mean())
                check.that(abs(mean) < 6 * sd / math.sqrt(n),
                           f"{where}: the entries are not centred on 0",
                           "U(-a, a) is symmetric: scale torch.rand (in [0, 1)) by 2a and subtract a, "
                           "not just multiply by a")
                rel = float(p.std()) / sd - 1
                check.that(abs(rel) < max(6 * math.sqrt(0.2 / n), 0.02),
                           f"{where}: the spread of the entries does not match U(-1/sqrt(fan_in), "
                           "1/sqrt(fan_in))",
                           "a uniform U(-a, a) has standard deviation a / sqrt(3)")
            if n >= 1000:
                inner = float((p.abs() < a / 2).double().mean())
                check.that(abs(inner - 0.5) < 3 / math.sqrt(n),
                           f"{where}: the entries are not uniformly spread over the interval",
                           "draw from a uniform distribution (torch.rand), not a normal one")


# (sizes, activation, dtype, seeded generator?): the second one draws from generator=None
INIT_CASES = [([300, 200, 50, 10], "relu", torch.float32, True), ([64, 100, 3], "tanh", torch.float64, False)]


@pytest.mark.parametrize("sizes,activation,dtype_,seeded", INIT_CASES,
                         ids=["300-200-50-10-float32", "64-100-3-float64-no-generator"])
def test_mlp_init(student, check, gen, sizes, activation, dtype_, seeded):
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen)) if seeded else None
    kwargs = {"activation": activation, "dtype": dtype_}
    got = run_student_mlp(check, student, sizes, kwargs, seed)
    _check_layout(check, got["params"], sizes, dtype_)
    _check_distribution(check, got["params"], sizes)


def test_mlp_init_generator(student, check, gen):
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    sizes = [20, 30, 4]
    a = run_student_mlp(check, student, sizes, {}, seed)["params"]
    b = run_student_mlp(check, student, sizes, {}, seed)["params"]
    c = run_student_mlp(check, student, sizes, {}, seed + 1)["params"]
    _check_layout(check, a, sizes, torch.float32)
    check.that(
        all(torch.equal(p, q) for p, q in zip(a, b)),
        "MLP built twice with generators seeded alike gave different parameters",
        "draw every parameter from the generator argument (torch.rand(..., generator=generator)), "
        "never from the global random stream",
    )
    check.that(
        not all(torch.equal(p, q) for p, q in zip(a, c)),
        "MLP built with differently seeded generators gave identical parameters",
        "draw every parameter from the generator argument; do not reseed inside MLP",
    )


FB_CASES = [("relu", [5, 7, 3]), ("tanh", [4, 6, 5, 2]), ("gelu", [3, 4]),
            ("leaky_relu", [6, 8, 8, 8, 4]), ("sigmoid", [5, 3, 4])]


@pytest.mark.parametrize("activation,sizes", FB_CASES, ids=[f"{a}-{'-'.join(map(str, s))}" for a, s in FB_CASES])
def test_mlp_forward_backward(student, reference, check, gen, dtype, activation, sizes):
    c = sizes[-1]

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype)

    X1, D1, X2, D2 = randn(5, sizes[0]), randn(5, c), randn(5, sizes[0]), randn(5, c)
    X3, y3 = randn(1, sizes[0]), torch.randint(0, c, (1,), generator=gen)
    steps = [{"x": X1, "dlogits": D1}, {"x": X2, "dlogits": D2}, {"x": X3, "y": y3}]
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    got = run_student_mlp(check, student, sizes, {"activation": activation, "dtype": dtype}, seed, steps)
    params = got["params"]
    _check_layout(check, params, sizes, dtype)
    records = got["steps"]

    ref = reference.backprop.MLP(sizes, activation=activation, dtype=dtype, generator=torch.Generator())
    ref.params = [p.clone() for p in params]  # the student's own parameters
    last = ("no activation after the last layer: forward returns the last linear layer's output "
            "(the logits)")
    for i, (X, D) in enumerate([(X1, D1), (X2, D2)]):
        e_logits = ref.forward(X)
        e_grads = ref.backward(D)
        record = _record(check, records, i, f"MLP forward/backward on batch {i + 1}")
        check.close(record.get("logits"), e_logits, what=f"MLP.forward (batch {i + 1}) logits",
                    mistakes=[Mistake(last, value=lambda e=e_logits: reference.backprop.activation_forward(
                        e, activation)[0])])
        stale = []
        if i == 1:
            stale_model = reference.backprop.MLP(sizes, activation=activation, dtype=dtype,
                                                 generator=torch.Generator())
            stale_model.params = ref.params
            stale_model.forward(X1)
            stale = [Mistake("backward must use the caches of the LAST forward call (store them on "
                             "every forward)", value=stale_model.backward(D))]
        check.close(record.get("grads"), e_grads, what=f"MLP.backward (batch {i + 1}) grads",
                    mistakes=stale + [Mistake(last, value=lambda X=X, D=D: _variant(
                        params, X, activation, dlogits=D, last_act=True)[1])] + _order_mistakes(e_grads))

    # a training-loop step: dlogits of the mean cross-entropy on a batch of 1
    e_logits = ref.forward(X3)
    record = _record(check, records, 2, "MLP forward/backward on a batch of 1")
    check.close(record.get("logits"), e_logits, what="MLP.forward (batch of 1) logits")
    _, e_grads = reference.backprop.mlp_loss_and_grads(params, X3, y3, activation=activation)
    check.close(record.get("grads"), e_grads,
                what="MLP.backward(dlogits of softmax_cross_entropy) grads, against "
                     "mlp_loss_and_grads on the same params",
                mistakes=_order_mistakes(e_grads))


def test_mlp_params_in_use(student, reference, check, gen, dtype):
    sizes = [4, 6, 3]
    X = torch.randn(5, 4, generator=gen, dtype=dtype)
    D = torch.randn(5, 3, generator=gen, dtype=dtype)
    deltas = [torch.randn(*s, generator=gen, dtype=dtype) * 0.1 for s in [(6, 4), (6,), (3, 6), (3,)]]
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    steps = [{"x": X, "dlogits": D}, {"add": deltas}, {"x": X, "dlogits": D}]
    got = run_student_mlp(check, student, sizes, {"activation": "tanh", "dtype": dtype}, seed, steps)
    params = got["params"]
    _check_layout(check, params, sizes, dtype)
    ref = reference.backprop.MLP(sizes, activation="tanh", dtype=dtype, generator=torch.Generator())
    ref.params = [p.clone() for p in params]
    old_logits = ref.forward(X)
    ref.params = [p + d for p, d in zip(params, deltas)]
    e_logits = ref.forward(X)
    e_grads = ref.backward(D)
    records = got["steps"]
    for i, what in enumerate(["MLP forward/backward", "an in-place update of MLP.params",
                              "MLP forward/backward after the update"]):
        record = _record(check, records, i, what)
    stale = ("forward must compute with self.params itself: updating the parameters in place "
             "(p -= lr * g, as an optimizer does) has to change the next forward")
    check.close(record.get("logits"), e_logits,
                what="MLP.forward after an in-place update of MLP.params",
                mistakes=[Mistake(stale, value=old_logits)])
    check.close(record.get("grads"), e_grads,
                what="MLP.backward after an in-place update of MLP.params",
                mistakes=_order_mistakes(e_grads))
