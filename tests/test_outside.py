"""Outside-style submissions reach the verdict a careful grader reaches.

tests/outside/cases.yaml holds code written the way textbooks and course repositories
write it (their conventions, numpy, literal formulas), ported into the course's
signatures with the module's own argument checks as the only glue. A correct one keeps
full marks with no flag; a wrong one loses points in each named test, and one of those
failures says what is wrong.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from grader.course import Course
from grader.engine import grade
from grader.submission import Submission
from grader.topics import TOPICS as TOPIC_INFO
from tests.mutation import ROOT, Mutant, assert_verdict, must_lose, short_capstone_rubric, write_mutants

CASES = yaml.safe_load((Path(__file__).parent / "outside" / "cases.yaml").read_text(encoding="utf-8"))["cases"]
pytestmark = pytest.mark.slow


def _mutant(case: dict) -> Mutant:
    expect = {"correct": "correct", "wrong": "wrong"}[case["verdict"]]
    return Mutant(case["topic"], case["name"], case.get("style", ""), expect, case["code"],
                  tuple(case.get("loses", ())), case.get("message", ""))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One run for the cases of self-contained topics, one per topic whose suite calls
    others (its submissions carry the reference's version of those, not graded again);
    the capstone trains for 4 epochs, as in tests/test_mutants.py."""
    topics = sorted({c["topic"] for c in CASES})
    batches = [tuple(t for t in topics if not TOPIC_INFO[t].needs)] + [(t,) for t in topics if TOPIC_INFO[t].needs]
    out = {}
    for batch in (b for b in batches if b):
        cases = [c for c in CASES if c["topic"] in batch]
        jobs = int(os.environ.get("MUTANT_JOBS", "2"))
        rubric = short_capstone_rubric(tmp_path_factory.mktemp("rubric")) if "training" in batch else None
        config = Course(ROOT).hidden(topics=batch, device="cpu", rubric=rubric)
        subs = []
        for case in cases:  # a wrong case runs only the groups it must lose points in
            mutant = _mutant(case)
            folders = write_mutants(case["topic"], [mutant], tmp_path_factory.mktemp(case["name"]))
            subs.append(Submission(case["name"], folders[case["name"]], groups=must_lose(mutant, config.rubric)))
        results = grade(config, subs, jobs=jobs)
        out.update({c["name"]: r for c, r in zip(cases, results)})
    return out


def test_the_set_is_large_and_well_formed():
    assert len(CASES) >= 15
    assert len({c["name"] for c in CASES}) == len(CASES)
    for case in CASES:
        assert case["verdict"] in ("correct", "wrong") and case.get("style") and case.get("why"), case["name"]
        if case["verdict"] == "wrong":
            assert case.get("loses") and case.get("message"), case["name"]
    assert {c["verdict"] for c in CASES} == {"correct", "wrong"}


@pytest.mark.parametrize("name", [c["name"] for c in CASES])
def test_the_grader_reaches_the_careful_verdict(graded, name):
    case = next(c for c in CASES if c["name"] == name)
    assert_verdict(_mutant(case), graded[name], case["why"])
