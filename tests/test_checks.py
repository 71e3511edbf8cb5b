from __future__ import annotations

import pytest
import torch

from grader.checks import Checker, GradeFailure, Tier
from grader.errors import StudentError, StudentTimeout


def _checker(**kw):
    return Checker(last_call=lambda: ("mse_loss", (torch.ones(2), torch.zeros(2)), {"reduction": "sum"}), **kw)


def test_failure_message_names_the_call_and_inputs():
    c = _checker()
    with pytest.raises(GradeFailure) as err:
        c.close(torch.tensor(3.0), torch.tensor(2.0))
    msg = err.value.message
    assert msg.startswith("mse_loss(float32 (2,) [1, 1], float32 (2,) [0, 0], reduction='sum')")
    assert "off by up to 1" in msg
    assert "expected" not in msg.split("tolerance")[0]
    assert err.value.metrics["max_abs_err"] == pytest.approx(1.0)


def test_show_expected_adds_the_expected_value():
    with pytest.raises(GradeFailure) as err:
        _checker(show_expected=True).close(torch.tensor(3.0), torch.tensor(2.0))
    assert "expected float32 () [2]" in err.value.message


def test_tiers_turn_near_misses_into_partial_credit():
    c = _checker(tiers=(Tier(10, 0.5), Tier(1000, 0.1)))
    e = torch.tensor([1.0], dtype=torch.float64)
    c.close(e * (1 + 5e-7), e)  # ratio ~5
    assert c.state.credit == 0.5 and "off by" in c.state.message
    c.close(e * (1 + 5e-5), e)  # ratio ~500
    assert c.state.credit == 0.1
    with pytest.raises(GradeFailure):
        c.close(e * 2, e)


def test_tiers_do_not_apply_to_nan_or_shape():
    c = _checker(tiers=(Tier(1e9, 0.5),))
    with pytest.raises(GradeFailure):
        c.close(torch.tensor([float("nan")]), torch.tensor([1.0]))
    with pytest.raises(GradeFailure):
        c.close(torch.zeros(2, 1), torch.zeros(2))


def test_raises_matches_type_and_message():
    c = _checker()
    with c.raises(ValueError, match="reduction"):
        raise StudentError("ValueError", ["ValueError", "Exception"], "reduction must be mean", "", call="mse_loss")
    with pytest.raises(GradeFailure, match="should mention 'delta'"):
        with c.raises(ValueError, match="delta"):
            raise StudentError("ValueError", ["ValueError"], "bad value", "", call="huber_loss")
    with pytest.raises(GradeFailure, match="raised TypeError but should raise ValueError"):
        with c.raises(ValueError):
            raise StudentError("TypeError", ["TypeError"], "x", "", call="f")
    with pytest.raises(GradeFailure, match="returned without raising ValueError"):
        with c.raises(ValueError):
            pass
    with pytest.raises(StudentTimeout):
        with c.raises(ValueError):
            raise StudentTimeout("timed out")


def test_unchanged_is_scored_from_the_source_and_only_noted_from_the_worker():
    from grader.mutation_check import find_mutations

    c = _checker()
    c.unchanged(torch.ones(2), torch.ones(2), "input")
    assert c.state.notes == []
    c.unchanged(torch.ones(2), torch.zeros(2), "input")  # what a worker says it saw: no points either way
    assert len(c.state.notes) == 1 and "not scored" in c.state.notes[0]
    findings = find_mutations("def mse_loss(input, target):\n    input -= target\n    return input\n", "losses")
    with pytest.raises(GradeFailure, match="modifies its argument input in place") as err:
        c.unchanged(torch.ones(2), torch.ones(2), "input", findings["mse_loss"])
    assert "copy" in err.value.hint


def test_notes_are_capped_and_kept_once():
    c = _checker()
    for i in range(10):
        c.note("the same")
        c.note(f"note {i}")
    assert c.state.notes[0] == "the same" and len(c.state.notes) == 5


def test_credit():
    c = _checker()
    c.credit(0.25, "slow convergence")
    assert c.state.credit == 0.25
    with pytest.raises(GradeFailure):
        c.credit(0.0, "no progress")


def test_record_keeps_metrics_and_curves_whatever_the_outcome():
    check = Checker()
    check.record(metrics={"accuracy": 0.5}, curves={"loss": [3, 2.0]})
    check.credit(0.25, "short of the target")
    assert check.state.metrics == {"accuracy": 0.5}
    assert check.state.curves == {"loss": [3.0, 2.0]}
    assert check.state.credit == 0.25
