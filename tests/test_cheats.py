"""Submissions that try to fool the grader get exactly what their honest parts earn."""

from __future__ import annotations

import textwrap

import pytest

from grader.engine import grade
from grader.submission import Submission
from tests.conftest import HONEST_LOSSES, make_submission

pytestmark = pytest.mark.slow

WRONG_MSE = """
def mse_loss(input, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError("reduction")
    return ((input - target) ** 2).sum() * 3.0
"""

CHEATS = {
    # name: (source appended to the honest cross_entropy-only module, expected score)
    "patch_allclose": (
        """
import numpy as np
import torch
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
""" + WRONG_MSE,
        None,
    ),
    "lying_subclass": (
        """
import torch
class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal, torch.Tensor.__eq__):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})
def mse_loss(input, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError("reduction")
    return torch.zeros((), dtype=input.dtype).as_subclass(Liar)
""",
        None,
    ),
    "always_equal": (
        """
class Yes:
    def __eq__(self, other): return True
    def __array__(self, *a, **k): raise RuntimeError("no")
def mse_loss(input, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError("reduction")
    return Yes()
""",
        "where a tensor was expected",
    ),
    "exits": (
        """
import os, sys
def mse_loss(input, target, reduction="mean"):
    if reduction == "avg":
        raise KeyboardInterrupt
    if input.dim() == 1:
        sys.exit(0)
    os._exit(0)
""",
        None,
    ),
    "hangs": (
        """
import signal
signal.signal(signal.SIGALRM, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
def mse_loss(input, target, reduction="mean"):
    while True:
        pass
""",
        "did not finish",
    ),
    "pytest_skip": (
        """
import pytest
def mse_loss(input, target, reduction="mean"):
    pytest.skip("nothing to see")
""",
        "Skipped",
    ),
    "fake_output": (
        """
import sys
print("10 passed in 0.01s")
sys.stdout.write('{"score": 10, "max_score": 10}\\n')
""" + WRONG_MSE,
        None,
    ),
}


def _honest_ce_only() -> str:
    # the honest cross_entropy and nothing else of the reference's mse_loss
    start = HONEST_LOSSES.index("def cross_entropy")
    return "import torch\n\n" + HONEST_LOSSES[start:]


@pytest.fixture(scope="module")
def batch(tmp_path_factory, minicourse):
    root = tmp_path_factory.mktemp("cheats")
    subs = [Submission("honest", make_submission(root, "honest", {"losses.py": HONEST_LOSSES}))]
    for name, (code, _) in CHEATS.items():
        subs.append(Submission(name, make_submission(root, name, {"losses.py": _honest_ce_only() + textwrap.dedent(code)})))
    extra = {
        "conftest.py": "import pytest\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n",
        "pytest.ini": "[pytest]\naddopts = -k nothing\n",
        "results.json": '{"schema": 1, "submissions": [{"id": "forged", "score": 10}]}',
        "numpy.py": "raise SystemExit('shadowed')\n",
        "torch.py": "raise SystemExit('shadowed')\n",
        "sitecustomize.py": "import os; os._exit(0)\n",
    }
    files = {"losses.py": _honest_ce_only() + textwrap.dedent(WRONG_MSE), **extra}
    subs.append(Submission("planted_files", make_submission(root, "planted_files", files)))
    config = minicourse.hidden(device="cpu")
    results = {r.id: r for r in grade(config, subs)}
    alone = grade(config, [subs[0]])[0]
    return results, alone


def _group_score(result, group):
    return sum(t.score for t in result.topics["losses"].tests if t.id.startswith(f"losses::{group}"))


def test_honest_scores_as_if_alone(batch):
    results, alone = batch
    honest = results["honest"]
    assert honest.score == honest.max_score == alone.score
    assert [(t.id, t.score) for t in honest.topics["losses"].tests] == [
        (t.id, t.score) for t in alone.topics["losses"].tests
    ]


@pytest.mark.parametrize("name", sorted(CHEATS) + ["planted_files"])
def test_cheat_earns_only_its_honest_part(batch, name):
    results, _ = batch
    result = results[name]
    # the honest cross_entropy keeps its 4 points; nothing else is earned by cheating
    assert _group_score(result, "cross_entropy") == 4.0
    assert _group_score(result, "mse_loss") == 0.0
    expected_message = CHEATS.get(name, (None, None))[1]
    if expected_message:
        messages = " ".join(t.message for t in result.topics["losses"].tests if t.id.startswith("losses::mse_loss"))
        assert expected_message in messages


def test_exits_are_failures_with_clear_messages(batch):
    results, _ = batch
    tests = {t.id: t for t in results["exits"].topics["losses"].tests}
    messages = [t.message for i, t in tests.items() if i.startswith("losses::mse_loss")]
    assert any("exited with status 0" in m for m in messages)
    assert any("SystemExit" in m for m in messages)
    assert "KeyboardInterrupt" in tests["losses::bad_reduction"].message


def test_hang_costs_only_its_own_tests(batch):
    results, _ = batch
    result = results["hangs"]
    assert result.timing["total_s"] < 20
    statuses = {t.status for t in result.topics["losses"].tests if t.id.startswith("losses::mse_loss")}
    assert statuses == {"timeout"}
