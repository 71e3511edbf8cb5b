"""The run loop's per-submission narrowing (Submission.topics, Submission.groups)."""

from __future__ import annotations

import pytest

from grader.course import Course
from grader.engine import grade
from grader.submission import Submission
from tests.conftest import MINICOURSE


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_submission_can_run_only_some_groups(jobs):
    """Only the named groups run and count (in a grading process of its own too, with
    --jobs): the maximum is theirs, and a submission without the field gets them all."""
    reference = MINICOURSE / "reference"
    narrow = Submission("narrow", reference, groups=frozenset({"losses::mse_loss", "losses::bad_reduction"}))
    whole = Submission("whole", reference)
    results = grade(Course(MINICOURSE).hidden(device="cpu"), [narrow, whole], jobs=jobs)
    narrowed = results[0].topics["losses"]
    assert {t.id.split("[")[0] for t in narrowed.tests} == {"losses::mse_loss", "losses::bad_reduction"}
    assert narrowed.score == narrowed.max_score == 5
    assert results[1].topics["losses"].max_score == 10
