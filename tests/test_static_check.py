from __future__ import annotations

import textwrap

import pytest

from grader.static_check import check_source, forbidden_reason


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
