"""The grader's judgement of a case on the simulated GPU (grader.device_check), and
``grader validate``'s report of which functions such cases cover."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from grader import harness
from grader.checks import Checker, GradeFailure
from grader.device_check import on_device
from grader.errors import StudentError
from grader.scoring import SubmissionResult, TopicResult
from grader.scoring import TestResult as CaseResult
from grader.validate import device_coverage


class _Harness:
    """A stand-in for ``student.harness``: runs the worker's driver here, or replays
    a report the worker might send (a forged or malformed one included)."""

    def __init__(self, report=None, error=None):
        self.report = report
        self.error = error

    def on_device(self, fn, args, kwargs, generators):
        if self.error is not None:
            raise self.error
        if self.report is not None:
            return self.report
        return harness.on_device(fn, args, kwargs, generators)


class _Student:
    def __init__(self, **kw):
        self.harness = _Harness(**kw)


def test_a_result_on_the_device_passes_through():
    value = on_device(Checker(), _Student(), lambda x: x * 2, torch.ones(2), what="double")
    assert torch.equal(value, torch.full((2,), 2.0))


def test_a_result_left_on_the_cpu_fails_with_where_and_how():
    with pytest.raises(GradeFailure) as failure:
        on_device(Checker(), _Student(), lambda x: (x, x.cpu()), torch.ones(2), what="pair")
    assert "pair on the simulated GPU returned a tensor on the CPU (result[1])" in str(failure.value)
    assert "device=x.device" in failure.value.hint


def test_a_device_error_gets_its_hint_and_others_pass_on():
    err = StudentError("RuntimeError", ["RuntimeError"], "Expected all tensors to be on the same device, but "
                       "found at least two devices, cuda:0 and cpu!", "losses.py:3", call="mse_loss")
    with pytest.raises(GradeFailure) as failure:
        on_device(Checker(), _Student(error=err), None, what="mse_loss")
    assert "mse_loss raised RuntimeError" in str(failure.value) and "torch.zeros_like" in failure.value.hint
    other = StudentError("ValueError", ["ValueError"], "bad reduction", "losses.py:9")
    with pytest.raises(StudentError):  # graded like any error of the student's
        on_device(Checker(), _Student(error=other), None, what="mse_loss")


@pytest.mark.parametrize("report", [None, [], {"value": 1}, {"value": 1, "left": "x"}])
def test_a_malformed_report_fails_the_case(report):
    with pytest.raises(GradeFailure, match="no report"):
        on_device(Checker(), _Student(report=report if report is not None else "nonsense"), None, what="f")


def _result(ids: dict[str, list[str]]) -> SubmissionResult:
    topics = {
        topic: TopicResult(topic, 1.0, 1.0, "graded",
                           tuple(CaseResult(i, 1.0, 1.0, "passed") for i in test_ids))
        for topic, test_ids in ids.items()
    }
    return SubmissionResult("reference", "reference", 1.0, 1.0, topics)


def test_coverage_reads_the_functions_each_case_names(tmp_path: Path):
    (tmp_path / "backprop.py").write_text(
        "def linear_forward(x): ...\ndef linear_backward(d, c): ...\nclass MLP:\n    def forward(self): ...\n")
    result = _result({"backprop": ["backprop::on_device[linear_forward+linear_backward-float32]",
                                   "backprop::linear_forward[cpu]"]})
    check = device_coverage(result, tmp_path)
    assert check.ok and check.name.endswith(": 2 of 3")
    assert check.info == "backprop: 2 of 3; not run there: MLP"


def test_coverage_fails_on_a_case_naming_an_unknown_function(tmp_path: Path):
    (tmp_path / "losses.py").write_text("def mse_loss(a, b): ...\n")
    check = device_coverage(_result({"losses": ["losses::on_device[mse_los]"]}), tmp_path)
    assert not check.ok and "losses.mse_los" in check.detail
