"""Time budgets for the grader's own work (grader.budget), and the one every test of a
submission runs under: the grader's work in a test ends with the submission's wall budget."""

from __future__ import annotations

import shutil
import signal
import textwrap
import time

import pytest
import yaml

from grader.budget import BudgetExceeded, remaining, time_budget
from grader.course import Course
from grader.engine import grade
from grader.submission import Submission
from tests.conftest import MINICOURSE


def test_a_block_over_budget_is_interrupted():
    t0 = time.monotonic()
    with pytest.raises(BudgetExceeded, match="spinning took longer than its budget of 0.2 s"):
        with time_budget(0.2, "spinning"):
            while True:
                pass
    assert time.monotonic() - t0 < 1.0


def test_budgets_nest_and_the_inner_one_cannot_outlast_the_outer():
    with pytest.raises(BudgetExceeded, match="outer"):
        with time_budget(0.2, "outer"):
            with time_budget(30, "inner"):
                assert 0 < remaining() <= 0.2
                time.sleep(2)
    with pytest.raises(BudgetExceeded, match="inner"):
        with time_budget(30, "outer"):
            with time_budget(0.1, "inner"):
                time.sleep(2)


def test_a_block_within_budget_leaves_no_timer_behind():
    with time_budget(5, "quick"):
        pass
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)
    assert remaining() is None
    with time_budget(None, "unlimited"):
        time.sleep(0.01)


def test_an_alarm_that_ends_a_budget_takes_it_off_the_stack():
    """The alarm may land in the block's own cleanup (before it leaves the stack): the
    handler removes the entry it ends, so nothing stale raises into later work."""
    from grader import budget

    with time_budget(30, "outer"):
        entry = budget._Entry(time.monotonic() - 1, object(), "expired", 0.001)
        budget._stack.append(entry)  # as if its block's cleanup had been interrupted
        with pytest.raises(BudgetExceeded, match="expired"):
            budget._on_alarm(signal.SIGALRM, None)
        assert [e.what for e in budget._stack] == ["outer"]
        budget._on_alarm(signal.SIGALRM, None)  # nothing expired: no exception
    assert budget._stack == [] and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_an_alarm_while_a_budget_is_entered_leaves_nothing_behind(monkeypatch):
    """A 1 ms budget entered under load: the alarm rings before the block (and its
    cleanup) starts. The budget must not stay on the stack to ring again later."""
    from grader import budget

    previous = signal.getsignal(signal.SIGALRM)
    real_arm = budget._arm

    def arm_then_ring() -> None:
        real_arm()
        if budget._stack and budget._stack[-1].what == "late":
            time.sleep(0.002)
            budget._on_alarm(signal.SIGALRM, None)

    monkeypatch.setattr(budget, "_arm", arm_then_ring)
    with pytest.raises(BudgetExceeded, match="late"):
        with time_budget(0.001, "late"):
            pass
    assert budget._stack == [] and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is previous  # handed back, too


def test_the_graders_own_work_in_a_test_ends_with_the_submissions_wall_budget(tmp_path):
    """A suite whose own (trusted) computation takes too long costs that submission its
    remaining tests, as a time-out, and the next submission is graded normally."""
    course = tmp_path / "course"
    shutil.copytree(MINICOURSE, course)
    suite = course / "reference" / "suites" / "test_losses.py"
    suite.write_text(suite.read_text() + textwrap.dedent(
        """

        def test_slow_grader(student, check):
            student.losses.mse_loss(torch.ones(2), torch.ones(2))
            import time
            time.sleep(30)  # the grader's own work, however it came to take this long
        """))
    rubric = yaml.safe_load((course / "reference" / "rubric.yaml").read_text())
    rubric["topics"]["losses"]["tests"]["slow_grader"] = 1
    rubric["topics"]["losses"]["points"] = 11
    rubric["limits"]["wall_seconds"] = 3
    (course / "reference" / "rubric.yaml").write_text(yaml.safe_dump(rubric))
    honest = tmp_path / "honest"
    honest.mkdir()
    shutil.copy(MINICOURSE / "reference" / "losses.py", honest / "losses.py")
    t0 = time.monotonic()
    first, second = grade(Course(course).hidden(device="cpu"), [Submission("a", honest), Submission("b", honest)])
    assert time.monotonic() - t0 < 25
    for result in (first, second):
        slow = [t for t in result.topics["losses"].tests if t.id.startswith("losses::slow_grader")]
        assert slow and slow[0].status == "timeout" and "time budget of 3 s" in slow[0].message
        assert not any("internal grader error" in f for f in result.flags)
