from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grader.static_check import check_source, forbidden_reason
from grader.topics import TOPICS

ROOT = Path(__file__).resolve().parent.parent


def names(src: str, topic: str = "losses") -> list[tuple[str, str, int]]:
    return [(f.name, f.function, f.line) for f in check_source(textwrap.dedent(src), topic)]


def test_aliases_and_from_imports_are_resolved():
    found = names(
        """
        import torch
        import torch.nn.functional as F
        from torch.special import expit
        from torch import softmax as sm

        def cross_entropy(x, y):
            a = F.log_softmax(x, dim=-1)
            b = expit(x)
            return sm(x, -1) + torch.logsumexp(x, -1)
        """
    )
    assert ("torch.nn.functional.log_softmax", "cross_entropy", 8) in found
    assert ("torch.special.expit", "cross_entropy", 9) in found
    assert ("torch.softmax", "cross_entropy", 10) in found
    assert ("torch.logsumexp", "cross_entropy", 10) in found


def test_assignments_getattr_and_import_module():
    found = names(
        """
        import torch, importlib
        G = torch.nn.functional
        def f(x):
            s = getattr(torch, "sigmoid")
            m = importlib.import_module("torch.nn.functional")
            return G.relu(x)
        """
    )
    assert {n for n, _, _ in found} >= {"torch.sigmoid", "torch.nn.functional", "torch.nn.functional.relu"}


def test_tensor_methods_and_backward():
    found = names(
        """
        class Model:
            def step(self, x):
                x.sum().backward()
                return x.softmax(-1) + x.relu_()
        """
    )
    assert ("Tensor.backward", "Model.step", 4) in found
    assert ("Tensor.softmax", "Model.step", 5) in found
    assert ("Tensor.relu_", "Model.step", 5) in found


def test_autograd_context_managers_and_elementary_ops_are_allowed():
    assert names(
        """
        import torch
        def f(x):
            with torch.no_grad(), torch.autograd.no_grad(), torch.inference_mode():
                return torch.exp(x) / torch.exp(x).sum() + torch.log1p(x).clamp(min=0).tanh()
        """
    ) == []
    assert [n for n, _, _ in names("import torch\ntorch.autograd.grad(1, 2)\n")] == ["torch.autograd.grad"]


def test_own_functions_with_course_names_are_fine():
    assert names(
        """
        def sigmoid(x):
            return 1 / (1 + (-x).exp())
        def relu(x):
            return x.clamp(min=0)
        def f(layer, x):
            return sigmoid(x) + relu(x) + layer.relu(x)
        """,
        "activations",
    ) == []


def test_autodiff_may_call_its_own_value_methods_and_training_is_exempt():
    src = "def f(v):\n    v.relu().sigmoid().backward()\n"
    assert names(src, "autodiff") == []
    assert names(src, "losses") != []
    assert names("import torch.nn.functional as F\nF.softmax(1)\n", "training") == []


def test_syntax_errors_propagate():
    with pytest.raises(SyntaxError):
        check_source("def f(:\n", "losses")


@pytest.mark.parametrize(
    "dotted,banned",
    [("torch.nn.Linear", True), ("torch.optim.SGD", True), ("torch.func.grad", True), ("torch._C._nn", True),
     ("torch.Tensor.sigmoid_", True), ("torch.special.expit", True), ("torch.exp", False),
     ("torch.autograd.enable_grad", False), ("numpy.exp", False), ("math.exp", False)],
)
def test_forbidden_reason(dotted, banned):
    assert forbidden_reason(dotted) is banned


@pytest.mark.parametrize(
    "topic,src,expected",
    [
        ("init", "import torch.nn.init as I\ndef kaiming_uniform_(t, generator=None):\n    return I.kaiming_uniform_(t)\n",
         ("torch.nn.init.kaiming_uniform_", "kaiming_uniform_", 3)),
        ("init", "from torch.nn.init import xavier_normal_ as xn\ndef xavier_normal_(t, gain=1.0, generator=None):\n    return xn(t)\n",
         ("torch.nn.init.xavier_normal_", "xavier_normal_", 3)),
        ("batchnorm", "from torch.nn import functional as F\ndef batchnorm_forward(x, g, b, m, v):\n    return F.batch_norm(x, m, v, g, b), None\n",
         ("torch.nn.functional.batch_norm", "batchnorm_forward", 3)),
        ("batchnorm", "import torch\ndef layernorm_forward(x, g, b, eps=1e-5):\n    return torch.layer_norm(x, x.shape[-1:], g, b), None\n",
         ("torch.layer_norm", "layernorm_forward", 3)),
        ("dropout", "import torch\ndef dropout(x, p=0.5, training=True, generator=None):\n    return torch.nn.functional.dropout(x, p)\n",
         ("torch.nn.functional.dropout", "dropout", 3)),
        ("backprop", "import torch as T\ndef linear_backward(dout, cache):\n    return T.autograd.grad(cache[0], cache[1], dout)\n",
         ("torch.autograd.grad", "linear_backward", 3)),
        ("backprop", "def linear_backward(dout, cache):\n    cache.out.backward(dout)\n    return cache.x.grad\n",
         ("Tensor.backward", "linear_backward", 2)),
        ("activations", "from torch.func import grad\ndef sigmoid_grad(x):\n    return grad(lambda v: v)(x)\n",
         ("torch.func.grad", "sigmoid_grad", 3)),
        ("activations", "from torch import optim\ndef f(p):\n    return optim.SGD(p, lr=1.0)\n",
         ("torch.optim.SGD", "f", 3)),
    ],
)
def test_manual_topics_forbid_nn_autograd_optim_and_func(topic, src, expected):
    """The issue's list: autograd, torch.nn.functional, torch.nn.init, torch.optim and
    torch.func, through aliases and from-imports, reported with function and line."""
    assert expected in names(src, topic)
    assert names(src, "training") == []


# --------------------------------------------------------------------------- tensor methods


def test_a_tensor_method_is_a_finding_even_when_the_module_defines_that_name():
    """Only the module's own objects may call its methods: ``self.softmax`` in a class
    that defines softmax, not ``x.softmax`` on whatever x is."""
    src = """
        def softmax(x, dim=-1):
            return x.softmax(dim)
        def log_softmax(x, dim=-1):
            return x.log_softmax(dim=dim).relu()
        """
    assert names(src, "activations") == [
        ("Tensor.softmax", "softmax", 3), ("Tensor.log_softmax", "log_softmax", 5), ("Tensor.relu", "log_softmax", 5),
    ]


def test_self_and_cls_may_call_methods_their_module_defines():
    found = names(
        """
        class Layer:
            def softmax(self, x):
                return x
            @classmethod
            def sigmoid(cls, x):
                return x
            def forward(self, x):
                return self.softmax(x) + cls.sigmoid(x) + self.relu()
        """,
        "backprop",
    )
    assert found == [("Tensor.relu", "Layer.forward", 9)]  # Layer defines no relu


def test_a_call_with_arguments_is_not_tensor_relu_or_sigmoid():
    """Tensor.relu() and Tensor.sigmoid() take no argument, so ``layer.relu(x)`` is some
    other object's method; ``x.relu()`` and ``x.sigmoid_()`` are the tensor's."""
    assert names("def f(layer, x):\n    return layer.relu(x) + layer.sigmoid(x, 2)\n") == []
    assert [n for n, _, _ in names("def f(x):\n    return x.relu() + x.sigmoid_()\n")] == ["Tensor.relu", "Tensor.sigmoid_"]
    assert [n for n, _, _ in names("def f(x, a):\n    return x.relu(*a)\n")] == ["Tensor.relu"]


# --------------------------------------------------------------------------- op names


@pytest.mark.parametrize(
    "call,resolved",
    [
        ("torch.ops.aten.softmax.default(x, 1)", "torch.ops.aten.softmax.default"),
        ("torch.ops.aten._softmax.default(x, 1, False)", "torch.ops.aten._softmax.default"),
        ("torch.ops.aten._log_softmax(x, 1, False)", "torch.ops.aten._log_softmax"),
        ("torch.ops.aten.relu.default(x)", "torch.ops.aten.relu.default"),
        ("torch.ops.aten.sigmoid.Tensor(x)", "torch.ops.aten.sigmoid.Tensor"),
        ("torch.ops.aten.native_batch_norm(x, None, None, None, None, True, 0.1, 1e-5)",
         "torch.ops.aten.native_batch_norm"),
        ("torch.ops.aten.native_layer_norm.default(x, [4], None, None, 1e-5)",
         "torch.ops.aten.native_layer_norm.default"),
        ("torch.ops.aten.native_dropout(x, 0.5, True)", "torch.ops.aten.native_dropout"),
        ("torch.ops.aten.logsumexp.default(x, [1])", "torch.ops.aten.logsumexp.default"),
        ("torch.ops.mylib.softmax.int(x, 1)", "torch.ops.mylib.softmax.int"),
        ("torch._log_softmax(x, 1, False)", "torch._log_softmax"),
        ("torch._softmax(x, 1, False)", "torch._softmax"),
        ("torch.relu_(x)", "torch.relu_"),
        ("torch.special.log_softmax(x, 1)", "torch.special.log_softmax"),
        ("A.native_batch_norm(x, None, None, None, None, True, 0.1, 1e-5)", "torch.ops.aten.native_batch_norm"),
    ],
)
def test_ops_underscored_and_native_variants_are_their_ready_made_function(call, resolved):
    found = names(f"import torch\nA = torch.ops.aten\ndef f(x):\n    return {call}\n", "batchnorm")
    assert (resolved, "f", 4) in found


@pytest.mark.parametrize(
    "call",
    ["torch.ops.aten.exp.default(x)", "torch.ops.aten.mm.default(x, x)", "torch._foreach_exp([x])",
     "torch.exp_(x)", "torch.ops.aten.native_norm(x)", "torch.ops.prims.exp.default(x)", "torch.Tensor.exp(x)"],
)
def test_elementary_ops_stay_allowed_in_every_spelling(call):
    assert names(f"import torch\ndef f(x):\n    return {call}\n") == []


@pytest.mark.parametrize(
    "dotted,banned",
    [("torch.ops.aten._softmax.default", True), ("torch.ops.aten.native_batch_norm", True),
     ("torch.ops.aten.native_layer_norm.default", True), ("torch.ops.aten.native_dropout", True),
     ("torch.ops.aten.relu_.default", True), ("torch._log_softmax", True), ("torch.relu_", True),
     ("torch.Tensor.backward", True), ("torch.Tensor.softmax", True), ("torch.Tensor.exp", False),
     ("torch.ops.aten.exp.default", False), ("torch.ops.aten", False), ("torch.special.erf", False)],
)
def test_forbidden_reason_normalises_the_op(dotted, banned):
    assert forbidden_reason(dotted) is banned


def test_unbound_tensor_methods_are_findings():
    found = names(
        """
        import torch
        from torch import Tensor
        def f(x, loss):
            torch.Tensor.backward(loss)
            a = torch.Tensor.softmax(x, 1)
            return Tensor.sigmoid(x) + Tensor.add(x, 1) + torch.Tensor.exp(x)
        """
    )
    assert found == [("torch.Tensor.backward", "f", 5), ("torch.Tensor.softmax", "f", 6),
                     ("torch.Tensor.sigmoid", "f", 7)]


# --------------------------------------------------------------------------- aliases


@pytest.mark.parametrize(
    "binding",
    [
        "F, T = torch.nn.functional, torch",
        "(F, [T]) = (torch.nn.functional, [torch])",
        "[F, (_, T)] = [torch.nn.functional, (1, torch)]",
        "F: object = torch.nn.functional\n    T: object = torch",
        "if (F := torch.nn.functional) and (T := torch):\n        pass",
    ],
)
def test_unpacking_annotated_and_walrus_bindings_make_aliases(binding):
    found = names(f"import torch\ndef f(x):\n    {binding}\n    return F.softmax(x) + T.sigmoid(x)\n")
    assert {n for n, fn, _ in found if fn == "f"} >= {"torch.nn.functional.softmax", "torch.sigmoid"}


def test_default_argument_values_are_aliases_inside_the_function():
    found = names(
        """
        import torch
        def f(x, F=torch.nn.functional, *, S=torch.special):
            return F.softmax(x, -1) + S.expit(x)
        def g(x, F=None):
            return F.relu(x)
        """
    )
    assert ("torch.nn.functional.softmax", "f", 4) in found
    assert ("torch.special.expit", "f", 4) in found
    assert [n for n, fn, _ in found if fn == "g"] == []  # F is whatever the caller passes


def test_a_parameter_shadows_a_module_alias():
    src = "import torch.nn.functional as F\ndef f({params}):\n    return F.relu(x)\n"
    assert names(src.format(params="F, x")) == []  # some object's relu(x), not Tensor.relu()
    assert names(src.format(params="x")) == [("torch.nn.functional.relu", "f", 3)]


def test_function_bodies_see_names_bound_after_them():
    found = names("def f(x):\n    return F.softmax(x)\n\nimport torch.nn.functional as F\n")
    assert ("torch.nn.functional.softmax", "f", 2) in found


# --------------------------------------------------------------------------- module lookups


@pytest.mark.parametrize(
    "prelude,expr,resolved",
    [
        ("import sys", 'sys.modules["torch.autograd"].grad(x, x)', "torch.autograd.grad"),
        ("import sys", 'sys.modules["torch.autograd"]', "torch.autograd"),
        ("import sys", 'sys.modules.get("torch.nn.functional").softmax(x)', "torch.nn.functional.softmax"),
        ("import sys as s", 's.modules["torch.nn.functional"].relu(x)', "torch.nn.functional.relu"),
        ("from sys import modules", 'modules["torch.special"].expit(x)', "torch.special.expit"),
        ("from sys import modules as m", 'm.get("torch.func").grad(x)', "torch.func.grad"),
        ("import torch", 'vars(torch)["nn"].functional.softmax(x)', "torch.nn.functional.softmax"),
        ("import torch", 'vars(torch).get("nn")', "torch.nn"),
        ("import torch", 'torch.__dict__["nn"].functional.dropout(x)', "torch.nn.functional.dropout"),
        ("import torch", 'torch.__dict__.get("special").expit(x)', "torch.special.expit"),
        ("import torch\nv = vars", 'v(torch)["autograd"].grad(x, x)', "torch.autograd.grad"),
        ("import torch\nfrom builtins import vars as w", 'w(torch)["softmax"](x)', "torch.softmax"),
        ("import torch, builtins", 'builtins.vars(torch)["nn"]', "torch.nn"),
    ],
)
def test_module_lookups_by_literal_key(prelude, expr, resolved):
    found = names(f"{prelude}\ndef f(x):\n    return {expr}\n")
    line = prelude.count("\n") + 3
    assert (resolved, "f", line) in found


@pytest.mark.parametrize(
    "prelude,expr",
    [("import sys", 'sys.modules["math"].exp(x)'), ("import sys", "sys.modules[name].softmax_like(x)"),
     ("import torch", 'vars(torch)["exp"](x)'), ("import torch", 'torch.__dict__["erf"](x)'),
     ("import torch", 'vars(x)["nn"]'), ("import torch", 'torch.__dict__.get(name)')],
)
def test_module_lookups_of_allowed_names_are_fine(prelude, expr):
    assert names(f"{prelude}\nname = 'x'\ndef f(x):\n    return {expr}\n") == []


# --------------------------------------------------------------------------- the course's own code


SOURCES = sorted(
    [p for folder in ("reference", "assignments") for p in (ROOT / folder).glob("*.py") if p.stem in TOPICS],
    key=lambda p: (p.parent.name, p.stem),
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_reference_and_released_stubs_have_no_finding(path):
    """The reference solution and the stubs students receive are clean in every manual
    topic (training is not manual and is never checked)."""
    assert check_source(path.read_text(encoding="utf-8"), path.stem) == []


def test_a_global_declaration_binds_at_module_level():
    found = names(
        """
        import torch
        def setup():
            global F
            F = torch.nn.functional
        def f(x):
            return F.log_softmax(x, -1)
        """
    )
    assert ("torch.nn.functional.log_softmax", "f", 7) in found
