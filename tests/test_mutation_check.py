"""The source-level check of SPEC's rules about arguments (grader/mutation_check.py):
every rule with a case that breaks it and a near miss that does not, then the course's
own code and the realistic submissions of tests/mutants/, then the cost."""

from __future__ import annotations

import ast
import re
import textwrap
import time

import pytest

from grader.mutation_check import TENSOR_PARAMS, MutationFinding, find_mutations
from grader.topics import TOPICS
from tests.mutation import ROOT, build_source, load_mutants

MANUAL = [t for t, info in TOPICS.items() if info.manual]


def found(src: str, topic: str = "activations") -> set[tuple[str, str, str]]:
    """(function, param, kind) of every finding."""
    return {(f.function, f.param, f.kind) for fs in find_mutations(textwrap.dedent(src), topic).values() for f in fs}


def lines(src: str, topic: str = "activations") -> list[tuple[str, int, str]]:
    return sorted((f.function, f.line, f.kind) for fs in find_mutations(textwrap.dedent(src), topic).values() for f in fs)


# --------------------------------------------------------------------------- the API


def test_findings_are_grouped_by_function_with_line_and_source():
    src = "import torch\n\n\ndef relu(x):\n    x[x < 0] = 0\n    return x\n\n\ndef tanh(x):\n    return torch.tanh(x)\n"
    assert find_mutations(src, "activations") == {
        "relu": [MutationFinding(5, "relu", "x", "modifies", "x[x < 0] = 0")]
    }
    assert find_mutations(src, "activations")["relu"][0].describe() == (
        "relu modifies its argument x in place (line 5: x[x < 0] = 0)"
    )


def test_training_and_unknown_topics_give_nothing_and_bad_syntax_raises():
    src = "def relu(x):\n    x[x < 0] = 0\n"
    assert find_mutations(src, "training") == {}
    assert find_mutations(src, "no_such_topic") == {}
    with pytest.raises(SyntaxError):
        find_mutations("def f(:\n", "activations")


def test_detail_is_the_stripped_line_cut_to_80_characters():
    src = "def relu(x):\n    x.add_(" + " + ".join(["1"] * 60) + ")\n"
    (finding,) = find_mutations(src, "activations")["relu"]
    assert finding.detail.startswith("x.add_(1 + 1") and finding.detail.endswith("...") and len(finding.detail) == 80


def test_describe_says_what_to_do_for_every_kind():
    assert MutationFinding(3, "kaiming_uniform_", "t", "not_filled", "def kaiming_uniform_(t):").describe() == (
        "kaiming_uniform_ never writes into t: fill t in place (t.uniform_(...), t.copy_(...)) and return it"
    )
    assert MutationFinding(31, "kaiming_uniform_", "t", "replaces_storage", "t.data = w").describe() == (
        "kaiming_uniform_ replaces t's memory (line 31: t.data = w): views of a larger tensor stay unfilled; "
        "copy into t with t.copy_(w)"
    )
    assert MutationFinding(88, "Adam.step", "p.grad", "modifies_grad", "g.add_(p, alpha=wd)").describe() == (
        "Adam.step modifies p.grad in place (line 88: g.add_(p, alpha=wd)): compute a new tensor instead"
    )
    assert MutationFinding(9, "SGD.step", "p.grad", "modifies_grad", "p.grad = g + wd * p").describe() == (
        "SGD.step replaces p.grad (line 9: p.grad = g + wd * p): leave the gradient as autograd filled it "
        "and compute a new tensor instead"
    )
    assert MutationFinding(9, "f", "x", "modifies", "x[0] = 1").describe() == (
        "f modifies its argument x in place (line 9: x[0] = 1)"
    )


# --------------------------------------------------------------------------- forms of writing


@pytest.mark.parametrize(
    "write",
    ["x[x < 0] = 0", "x[0] += 1.0", "x[..., 1:] *= 2", "x.add_(1)", "x.clamp_(min=0)", "x.mul_(2).div_(3)",
     "x.zero_()", "x.copy_(x * 2)", "x.masked_fill_(x < 0, 0)", "x.set_(x.clone())", "x.__setitem__(0, 1.0)",
     "x.__iadd__(1.0)", "torch.relu_(x)", "T.clamp_(x, min=0)", "exp_(x)", "torch.add(x, 1, out=x)",
     "np.subtract(x, 1, out=x)", "torch.max(x, 0, out=(x, torch.empty(0)))", "x -= x.amax()", "x.data = x.data * 2",
     "del x[0]", "x.data[0] = 1.0", "x.T[0] = 1.0", "x.view(-1)[0] = 1.0"],
)
def test_every_form_of_writing_into_an_argument_is_found(write):
    src = f"import numpy as np\nimport torch\nimport torch as T\nfrom torch import exp_\ndef relu(x):\n    {write}\n    return x\n"
    assert find_mutations(src, "activations")["relu"] == [
        MutationFinding(6, "relu", "x", "modifies", write)
    ]


@pytest.mark.parametrize(
    "code",
    ["y = x + 0", "y = x.add(1)", "x.requires_grad_()", "y = x.clone().add_(1)", "y = x.__add__(1)",
     "y = torch.relu(x)", "y = torch.add(x, 1, out=buf)", "y = x.contiguous()", "y = x[x > 0]; y[0] = 1",
     "y = x[[0, 1]]; y.zero_()", "y = x[i]; y.zero_()", "y = torch.exp(x)\n    y -= 1", "x = x * 2; x.add_(1)"],
)
def test_reading_or_copying_an_argument_is_not_writing_it(code):
    src = f"import torch\ndef relu(x, i=0):\n    buf = torch.empty(3)\n    {code}\n    return x\n"
    assert find_mutations(src, "activations") == {}


# --------------------------------------------------------------------------- aliases


@pytest.mark.parametrize(
    "view",
    ["x", "x.view(-1)", "x.reshape(-1)", "x.view_as(x)", "x.T", "x.mT", "x.t()", "x.transpose(0, 1)",
     "x.permute(1, 0)", "x.squeeze()", "x.unsqueeze(0)", "x.flatten()", "x.expand(2, 2)", "x.narrow(0, 0, 1)",
     "x.select(0, 0)", "x.unflatten(0, (1, 2))", "x.movedim(0, 1)", "x.diagonal()", "x.as_strided((1,), (1,))",
     "x.detach()", "x.data", "x.numpy()", "x[1:]", "x[0]", "x[-1]", "x[..., 0]", "x[:, None]", "x[1:, ::2]",
     "torch.reshape(x, (-1,))", "x.detach().view(-1)[0]"],
)
def test_a_write_through_a_view_or_a_plain_name_is_a_write_into_the_argument(view):
    src = f"import torch\ndef relu(x):\n    v = {view}\n    v[0] = 0.0\n    v -= 1\n    return x\n"
    assert found(src) == {("relu", "x", "modifies")}
    assert {line for _, line, _ in lines(src)} == {4, 5}


def test_a_name_rebound_to_anything_else_is_no_longer_an_alias():
    assert found("def relu(x):\n    w = x\n    w = w * 2\n    w.add_(1)\n    return w\n") == set()
    assert found("def relu(x):\n    x = x.clone()\n    x -= 1\n    return x\n") == set()
    assert found("def relu(x):\n    x, y = x.clone(), x\n    x -= 1\n    return y\n") == set()
    assert found("def relu(x):\n    y, z = x.clone(), x\n    z -= 1\n    return y\n") == {("relu", "x", "modifies")}
    assert found("def relu(x):\n    y = z = x.view(-1)\n    z.zero_()\n    return y\n") == {("relu", "x", "modifies")}


def test_branches_keep_only_the_aliases_of_every_path():
    assert found(
        """
        def relu(x, copy=True):
            if copy:
                x = x.clone()
            x -= 1
            return x
        """
    ) == set()
    assert found(
        """
        def relu(x, flat=True):
            if flat:
                y = x.view(-1)
            else:
                y = x
            y.zero_()
            return x
        """
    ) == {("relu", "x", "modifies")}
    # A branch that leaves the function does not reach the write.
    assert found(
        """
        def relu(x, copy=True):
            if copy:
                return x.clone()
            x.zero_()
            return x
        """
    ) == {("relu", "x", "modifies")}


def test_try_and_match_join_their_paths():
    assert found(
        """
        def relu(x):
            try:
                y = x.clone()
            except RuntimeError:
                y = x
            y.zero_()
            return y
        """
    ) == set()
    assert found(
        """
        def relu(x):
            try:
                y = x
            finally:
                pass
            y.zero_()
            return y
        """
    ) == {("relu", "x", "modifies")}
    assert found(
        """
        def relu(x, mode="a"):
            match mode:
                case "a":
                    y = x.clone()
                case _:
                    y = x
            y.zero_()
            return y
        """
    ) == set()


def test_loops_keep_an_alias_only_if_no_iteration_rebinds_it():
    assert found(
        """
        def gradient_descent(grad_fn, w0, lr, steps):
            w = w0
            for _ in range(steps):
                w -= lr * grad_fn(w)
            return w
        """,
        "gradients",
    ) == {("gradient_descent", "w0", "modifies")}
    assert found(
        """
        def gradient_descent(grad_fn, w0, lr, steps):
            w = w0
            while steps > 0:
                w.sub_(lr * grad_fn(w))
                w = w.clone()
                steps -= 1
            return w
        """,
        "gradients",
    ) == set()


def test_nested_functions_and_lambdas_are_not_looked_into():
    assert found(
        """
        def relu(x):
            def inner():
                x.zero_()
            fix = lambda: x.add_(1)
            inner()
            return x
        """
    ) == set()


def test_comprehension_variables_shadow_arguments():
    assert found("def relu(x, ys):\n    return [x.add_(1) for x in ys]\n") == set()
    assert found("def relu(x):\n    return [x.add_(i) for i in range(3)]\n") == {("relu", "x", "modifies")}


def test_walrus_makes_an_alias():
    assert found("def relu(x):\n    (y := x).zero_()\n    return y\n") == {("relu", "x", "modifies")}
    assert found("def relu(x):\n    (y := x.clone()).zero_()\n    return y\n") == set()
    assert found("def relu(x, c):\n    z = c and (y := x)\n    y.zero_()\n    return y\n") == set()


# --------------------------------------------------------------------------- which arguments


def test_augmented_assignment_on_a_bare_name_writes_only_into_tensors():
    """``P -= m`` updates a tensor in place but rebinds a number: dropout's p is a
    probability, entropy's p a tensor (SPEC's signatures)."""
    assert found("def dropout(x, p=0.5):\n    p -= 0.1\n    return x\n", "dropout") == set()
    assert found("def dropout(x, p=0.5):\n    x -= 0.1\n    return x\n", "dropout") == {("dropout", "x", "modifies")}
    assert found("def entropy(p, base=None):\n    p -= 0.1\n    return p\n", "losses") == {("entropy", "p", "modifies")}
    assert found("def step_decay(t, lr0, step_size, gamma=0.1):\n    t -= 1\n    return lr0\n", "optimizers") == set()
    assert found("def relu(x, n=1):\n    n += 1\n    y = n\n    y -= 1\n    return x\n") == set()
    # A view is a tensor whatever its argument is called.
    assert found("def helper(z):\n    flat = z.view(-1)\n    flat -= 1\n    return z\n") == {("helper", "z", "modifies")}


@pytest.mark.parametrize(
    "topic,expected",
    [("activations", {"x"}), ("dropout", {"x", "dout"}), ("losses", {"input", "target", "p", "q"}),
     ("gradients", {"X", "y", "w", "W", "x", "a", "b", "w0"}), ("init", {"t", "tensor"}),
     ("optimizers", set()), ("autodiff", set())],
)
def test_tensor_parameter_table(topic, expected):
    assert TENSOR_PARAMS[topic] == expected
    assert "p" not in TENSOR_PARAMS["dropout"] and "cache" not in TENSOR_PARAMS["backprop"]


def test_self_varargs_in_place_targets_and_running_statistics_may_be_written():
    assert found(
        """
        class MLP:
            def forward(self, x):
                self.data[0] = 1
                return x
        def relu(*args, **kwargs):
            args[0].zero_()
            kwargs["x"].zero_()
        def clamp_(t, bound):
            t.clamp_(-bound, bound)
            bound.zero_()
            return t
        """,
        "backprop",
    ) == {("clamp_", "bound", "modifies")}
    src = """
        def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
            running_mean.mul_(1 - momentum)
            running_var.copy_(running_var * 2)
            gamma.mul_(2)
            return x, None
        def layernorm_forward(x, gamma, beta, running_mean=None):
            running_mean.zero_()
            return x, None
        """
    assert found(src, "batchnorm") == {("batchnorm_forward", "gamma", "modifies"),
                                       ("layernorm_forward", "running_mean", "modifies")}


def test_optimizer_methods_are_not_checked_but_module_functions_are():
    assert found(
        """
        class Optimizer:
            def __init__(self, params, defaults):
                params[0].zero_()
        class SGD(Optimizer):
            def __init__(self, params, lr):
                params.sort()
                params[0] = 1
        def clip_grad_value_(params, clip_value):
            for p in params:
                p.grad.clamp_(-clip_value, clip_value)
        def _norms(grads, out):
            out[0] = 1
        def clip_grad_norm_(params, max_norm, norm_type=2.0):
            max_norm[0] = 2
        """,
        "optimizers",
    ) == {("clip_grad_norm_", "max_norm", "modifies"), ("_norms", "out", "modifies")}


# --------------------------------------------------------------------------- across calls


def test_an_argument_handed_to_a_helper_that_writes_it_is_written():
    src = """
        def _shift(z, dim):
            z -= z.amax(dim=dim, keepdim=True)
            return z
        def _normalise(v, dim):
            return _shift(v, dim=dim)
        def softmax(x, dim=-1):
            e = _normalise(x, dim).exp()
            return e / e.sum(dim=dim, keepdim=True)
        """
    assert found(src) == {("_shift", "z", "modifies"), ("_normalise", "v", "modifies"), ("softmax", "x", "modifies")}
    # A helper that only ever gets the caller's own copies holds nobody's argument.
    assert found(src.replace("_normalise(x, dim)", "_normalise(x.clone(), dim)")) == set()


def test_a_helper_used_as_a_value_keeps_its_arguments_protected():
    src = """
        def _relu(z):
            z.clamp_(min=0)
            return z
        _TABLE = {"relu": _relu}
        def relu(x):
            return _TABLE["relu"](x.clone())
        """
    assert found(src) == {("_relu", "z", "modifies")}


def test_a_private_method_called_through_self_receives_the_callers_arguments():
    src = """
        class MLP:
            def _relu(self, z, copy):
                z.clamp_(min=0)
                return z
            def forward(self, x):
                return self._relu(x, copy=False) + self._relu(x.clone(), True)
        """
    assert found(src, "backprop") == {("MLP._relu", "z", "modifies"), ("MLP.forward", "x", "modifies")}


# --------------------------------------------------------------------------- optimizer step


def step_source(code: str) -> str:
    """An optimizer whose step() runs ``code`` for every parameter p."""
    return (
        "import torch\n"
        "def add_decay_(g, p, wd):\n    g.add_(p, alpha=wd)\n"
        "class Adam:\n"
        "    def zero_grad(self):\n        for p in self.params:\n            p.grad = None\n"
        "    def step(self):\n"
        "        wd = self.param_groups[0]['weight_decay']\n"
        "        for p in self.params:\n"
        + textwrap.indent(code, " " * 12) + "\n"
        "            p.add_(p.grad, alpha=-1)\n"
    )


@pytest.mark.parametrize(
    "code",
    ["p.grad.add_(wd * p)", "p.grad += wd * p", "p.grad[...] = 0", "g = p.grad\ng.add_(p)", "g = p.grad\ng += p",
     "g = p.grad\ng.mul_(2)", "torch.add(p.grad, p, out=p.grad)", "p.grad = p.grad + wd * p",
     "g = p.grad.view(-1)\ng[0] = 0", "p.grad.data.zero_()", "add_decay_(p.grad, p, wd)",
     "g = p.grad\nadd_decay_(g, p, wd)"],
)
def test_step_never_modifies_p_grad(code):
    assert found(step_source(code), "optimizers") == {("Adam.step", "p.grad", "modifies_grad")}


@pytest.mark.parametrize(
    "code",
    ["g = p.grad.clone()\ng.add_(p)", "g = p.grad + wd * p\ng.mul_(2)", "g = p.grad\ng = g.add(p, alpha=wd)\ng.mul_(2)",
     "g = p.grad\nif wd:\n    g = g + wd * p\ng.mul_(2)", "add_decay_(p.grad.clone(), p, wd)",
     "state = self.state[p]\nstate['m'].add_(p.grad)", "p.data = p.data - p.grad"],
)
def test_step_may_read_p_grad_and_update_its_own_state(code):
    """zero_grad() sets p.grad = None: only step() is bound by the rule."""
    assert found(step_source(code), "optimizers") == set()


# --------------------------------------------------------------------------- init


def test_an_initializer_that_never_writes_its_tensor_is_not_filled():
    src = """
        import torch
        def _fill_uniform(t, low, high, generator):
            return torch.empty_like(t).uniform_(low, high, generator=generator)
        def _bound(t):
            return 1.0 / t.shape[1] ** 0.5
        def kaiming_uniform_(t, a=0, generator=None):
            b = _bound(t)
            return _fill_uniform(t, -b, b, generator)
        def zeros_(t):
            return torch.zeros_like(t)
        def ones_(t):
            return t
        """
    assert found(src, "init") == {("_fill_uniform", "t", "not_filled"), ("kaiming_uniform_", "t", "not_filled"),
                                  ("zeros_", "t", "not_filled"), ("ones_", "t", "not_filled")}


@pytest.mark.parametrize(
    "fill",
    ["t.uniform_(-1, 1)", "t.copy_(torch.rand(t.shape))", "t[...] = torch.rand(t.shape)",
     "with torch.no_grad():\n        t.fill_(0)", "zero_rows_(t)", "torch.nn.init.uniform_(t)", "other_library.fill(t)",
     "for row in t:\n        row.normal_()", "rows = t.unbind(0)", "self_made = [t]", "t.data.copy_(t * 0)",
     "raise NotImplementedError('init.zeros_')"],
)
def test_an_initializer_that_writes_or_may_write_its_tensor_is_fine(fill):
    src = f"import torch\nimport other_library\ndef zero_rows_(z):\n    z.zero_()\ndef zeros_(t):\n    {fill}\n    return t\n"
    assert find_mutations(src, "init") == {}


def test_replacing_the_storage_of_the_tensor_to_fill():
    src = """
        import torch
        def _fill_uniform(t, low, high, generator):
            t.data = torch.empty_like(t).uniform_(low, high, generator=generator)
            return t
        def uniform_(t, a=0.0, b=1.0, generator=None):
            return _fill_uniform(t, a, b, generator)
        def constant_(t, val):
            w = t.view(-1)
            w.set_(torch.full_like(t, val))
            return t
        """
    assert found(src, "init") == {("_fill_uniform", "t", "replaces_storage"), ("uniform_", "t", "replaces_storage"),
                                  ("constant_", "t", "replaces_storage")}


# --------------------------------------------------------------------------- the course's own code


@pytest.mark.parametrize("folder", ["reference", "assignments"])
@pytest.mark.parametrize("topic", MANUAL)
def test_reference_and_stubs_have_no_finding(folder, topic):
    assert find_mutations((ROOT / folder / f"{topic}.py").read_text(encoding="utf-8"), topic) == {}


# (function, kind) each wrong mutant that writes into an argument must be charged with.
EXPECTED = {
    ("activations", "relu_in_place"): {("relu", "modifies")},
    ("activations", "leaky_relu_in_place"): {("leaky_relu", "modifies")},
    ("activations", "softmax_shifts_input_in_place"): {("softmax", "modifies")},
    ("backprop", "relu_forward_in_place"): {("activation_forward", "modifies")},
    ("backprop", "backward_modifies_dout"): {("activation_backward", "modifies")},
    ("batchnorm", "bn_centres_x_in_place"): {("_normalize", "modifies"), ("batchnorm_forward", "modifies"),
                                             ("layernorm_forward", "modifies")},
    ("dropout", "mutates_x_in_place"): {("dropout_forward", "modifies"), ("dropout", "modifies")},
    ("gradients", "numgrad_perturbs_x_in_place"): {("numerical_gradient", "modifies")},
    ("gradients", "gd_updates_w0_in_place"): {("gradient_descent", "modifies")},
    ("gradients", "sgd_updates_w0_in_place"): {("minibatch_sgd", "modifies")},
    ("losses", "ce_shifts_logits_in_place"): {("_log_softmax_lastdim", "modifies"), ("cross_entropy", "modifies")},
    ("optimizers", "sgd_grad_modified_in_place"): {("SGD.step", "modifies_grad")},
    ("init", "returns_a_new_tensor"): {(f, "not_filled") for f in (
        "_fill_uniform", "_fill_normal", "uniform_", "normal_", "fan_in_uniform_", "xavier_uniform_",
        "xavier_normal_", "kaiming_uniform_", "kaiming_normal_")},
    ("init", "data_assignment"): {(f, "replaces_storage") for f in (
        "_fill_uniform", "_fill_normal", "uniform_", "normal_", "fan_in_uniform_", "xavier_uniform_",
        "xavier_normal_", "kaiming_uniform_", "kaiming_normal_")},
}
MUTANTS = [m for topic in MANUAL for m in load_mutants(topic)]


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: f"{m.topic}/{m.name}")
def test_realistic_submissions(mutant):
    """The mutants that write into an argument are charged in the function that does it
    (and in the callers it is reached from); every other submission, correct or wrong
    for another reason, is charged with nothing."""
    reference = (ROOT / "reference" / f"{mutant.topic}.py").read_text(encoding="utf-8")
    findings = find_mutations(build_source(reference, mutant.code), mutant.topic)
    charged = {(f.function, f.kind) for fs in findings.values() for f in fs}
    assert charged == EXPECTED.get((mutant.topic, mutant.name), set())


def test_the_capstones_companion_initializer_is_not_filled():
    (mutant,) = [m for m in load_mutants("training") if m.name == "capstone_init_not_in_place"]
    source = build_source((ROOT / "reference" / "init.py").read_text(encoding="utf-8"), mutant.companions["init"])
    assert ("_fill_uniform", "t", "not_filled") in found(source, "init")


# --------------------------------------------------------------------------- cost


def generated_source(size: int) -> str:
    """Copies of the reference modules, their functions and classes renamed per copy
    (by a prefix, which keeps a trailing ``_``), until the text reaches ``size`` characters."""
    bases = []
    for topic in MANUAL:
        text = (ROOT / "reference" / f"{topic}.py").read_text(encoding="utf-8")
        names = [n.name for n in ast.parse(text).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        bases.append((text, re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, names)) + r")\b")))
    parts, total, copy = [], 0, 0
    while total < size:
        for text, pattern in bases:
            parts.append(pattern.sub(lambda m: f"c{copy}{m.group(1)}", text))
            total += len(parts[-1])
        copy += 1
    return "\n\n".join(parts)


def test_two_megabytes_are_analysed_in_under_two_seconds():
    source = generated_source(2_000_000)
    assert len(source) >= 2_000_000
    started = time.process_time()  # CPU time: the machine is shared
    find_mutations(source, "batchnorm")
    assert time.process_time() - started < 2.0
