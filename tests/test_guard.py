"""The run-time forbidden-call guard (grader.guard), in this process: who a call counts
against, and that torch's and the grader's own use of the wrapped functions never does."""

from __future__ import annotations

import importlib.util
import sys
import textwrap

import pytest
import torch

from grader import guard as G

LOSSES = textwrap.dedent(
    """
    import torch
    import torch.nn.functional as F

    def direct(x):
        return F.softmax(x, dim=0)

    def computed(x):
        return getattr(torch, "soft" + "max")(x, 0)

    def method(x):
        return x.sigmoid()

    def module(x):
        return torch.nn.Linear(2, 2)

    def optimizer(x):
        return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)

    def autograd(x):
        x = x.clone().requires_grad_(True)
        (x * x).sum().backward()
        return x.grad

    def function(x):
        class Square(torch.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                return a * a

            @staticmethod
            def backward(ctx, g):
                return g

        return Square.apply(x)

    def via_exec(x):
        ns = {}
        exec("import torch.nn.functional as F\\ndef f(x): return F.relu(x)", ns)
        return ns["f"](x)

    def elementary(x):
        return torch.exp(x) / (1 + torch.exp(x)) + torch.logaddexp(x, x)

    def distribution(x):
        return torch.distributions.Bernoulli(logits=x).probs
    """
)
TRAINING = "import torch\n\ndef helper(x):\n    return torch.nn.functional.relu(x)\n"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """The guard installed on this process's torch for the test, then removed."""
    folder = tmp_path_factory.mktemp("submission")
    (folder / "losses.py").write_text(LOSSES)
    (folder / "training.py").write_text(TRAINING)
    saved = _snapshot()
    seen: list[dict] = []
    guard = G.install(G.Guard(str(folder), {"losses"}, {"losses", "training"}, seen.append))
    modules = {}
    for name in ("losses", "training"):
        spec = importlib.util.spec_from_file_location(f"guarded_{name}", folder / f"{name}.py")
        modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[name])
    yield guard, modules, seen
    _restore(saved)
    import torch.nn.functional as F

    assert not getattr(F.softmax, "__grader_guarded__", False)
    assert not getattr(torch.Tensor.sigmoid, "__grader_guarded__", False)


def _snapshot() -> list:
    import torch.autograd
    import torch.func
    import torch.nn.functional as F
    import torch.nn.init
    import torch.optim
    import torch.special

    owners = [F, torch.nn.init, torch.func, torch.autograd, torch.autograd.functional, torch, torch.special]
    saved = [(owner, dict(vars(owner))) for owner in owners]
    saved.append((torch.Tensor, {a: torch.Tensor.__dict__.get(a, _INHERITED) for a in G.TENSOR_METHODS}))
    saved.append((torch.nn.Module, {"__init__": torch.nn.Module.__dict__["__init__"]}))
    saved.append((torch.optim.Optimizer, {"__init__": torch.optim.Optimizer.__dict__["__init__"]}))
    saved.append((torch.autograd.Function, {"apply": torch.autograd.Function.__dict__["apply"]}))
    return saved


_INHERITED = object()  # the attribute came from a base class: remove the wrapper set on the class


def _restore(saved: list) -> None:
    for owner, attrs in saved:
        for name, value in attrs.items():
            if value is _INHERITED:
                if name in vars(owner):
                    delattr(owner, name)
            elif vars(owner).get(name) is not value:
                try:
                    setattr(owner, name, value)
                except (AttributeError, TypeError):
                    pass


def _names(seen: list[dict]) -> list[str]:
    return [s["name"] for s in seen]


@pytest.mark.parametrize("fn,name", [
    ("direct", "torch.nn.functional.softmax"),
    ("computed", "torch.softmax"),
    ("method", "Tensor.sigmoid"),
    ("module", "torch.nn (Linear)"),
    ("optimizer", "torch.optim (SGD)"),
    ("autograd", "Tensor.backward"),
    ("function", "torch.autograd.Function"),
    ("via_exec", "torch.nn.functional.relu"),
])
def test_a_manual_topic_using_a_forbidden_function_is_announced(guarded, fn, name):
    guard, modules, seen = guarded
    seen.clear()
    guard.seen.clear()
    guard.topic = "losses"
    getattr(modules["losses"], fn)(torch.randn(3))
    assert name in _names(seen)
    assert all(s["topic"] == "losses" and s["kind"] == "forbidden" for s in seen)


def test_elementary_operations_and_torch_internals_are_not(guarded):
    guard, modules, seen = guarded
    seen.clear()
    guard.seen.clear()
    guard.topic = "losses"
    modules["losses"].elementary(torch.randn(3))
    modules["losses"].distribution(torch.randn(3))  # torch calls sigmoid itself: not the student's call
    assert seen == []


def test_another_topics_file_counts_against_the_manual_topic_being_graded(guarded):
    guard, modules, seen = guarded
    seen.clear()
    guard.seen.clear()
    guard.topic = "training"  # training may use torch.nn
    modules["training"].helper(torch.randn(3))
    assert seen == []
    guard.topic = "losses"  # the same helper, called while losses is graded
    modules["training"].helper(torch.randn(3))
    assert _names(seen) == ["torch.nn.functional.relu"]


def test_each_name_is_announced_once_per_topic(guarded):
    guard, modules, seen = guarded
    seen.clear()
    guard.seen.clear()
    guard.topic = "losses"
    for _ in range(3):
        modules["losses"].direct(torch.randn(3))
    assert _names(seen) == ["torch.nn.functional.softmax"]


def test_the_wrapped_functions_still_work(guarded):
    guard, modules, _ = guarded
    guard.topic = "losses"
    x = torch.randn(4)
    assert torch.allclose(modules["losses"].direct(x), torch.exp(x) / torch.exp(x).sum())
    assert torch.equal(modules["losses"].autograd(x), 2 * x)
