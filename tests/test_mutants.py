"""Every realistic wrong submission loses points with a relevant message; every correct
alternative keeps full marks. Mutants live in tests/mutants/<topic>.yaml."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.course import Course
from grader.engine import grade
from grader.submission import Submission
from grader.topics import TOPICS as TOPIC_INFO
from tests.mutation import (
    MUTANT_DIR, ROOT, assert_verdict, load_mutants, must_lose, short_capstone_rubric, write_mutants,
)

TOPICS = sorted(
    os.environ["MUTANT_TOPICS"].split(",") if os.environ.get("MUTANT_TOPICS")
    else (p.stem for p in MUTANT_DIR.glob("*.yaml"))
)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade every mutant of every topic: one run for the self-contained topics, and one
    per topic whose suite calls others (its mutants carry those topics' files, whose
    suites need not run again). The training topic's capstone trains for 4 epochs here
    (``short_capstone_rubric``) unless GRADER_RUBRIC names a rubric. A wrong mutant runs
    only the groups it must lose points in (``must_lose``): nothing else is asserted of
    it; a correct one runs every group."""
    out = {}
    rubric = os.environ.get("GRADER_RUBRIC")
    course = Course(ROOT)
    batches = [tuple(t for t in TOPICS if not TOPIC_INFO[t].needs)]
    batches += [(t,) for t in TOPICS if TOPIC_INFO[t].needs]
    for batch in (b for b in batches if b):
        subs = []
        chosen = Path(rubric) if rubric else None
        if chosen is None and "training" in batch:
            chosen = short_capstone_rubric(tmp_path_factory.mktemp("rubric"))
        config = course.hidden(topics=batch, device="cpu", rubric=chosen)
        for topic in batch:
            mutants = load_mutants(topic)
            folders = write_mutants(topic, mutants, tmp_path_factory.mktemp(topic))
            for m in mutants:
                subs.append((m, Submission(f"{topic}--{m.name}", folders[m.name],
                                           groups=must_lose(m, config.rubric))))
        results = grade(config, [s for _, s in subs], jobs=int(os.environ.get("MUTANT_JOBS", "2")))
        for (m, _), result in zip(subs, results):
            out[(m.topic, m.name)] = (m, result)
    return out


def _cases():
    return [(t, m.name) for t in TOPICS for m in load_mutants(t)]


def test_enough_mutants_per_topic():
    for topic in TOPICS:
        mutants = load_mutants(topic)
        wrong = [m for m in mutants if m.expect == "wrong"]
        correct = [m for m in mutants if m.expect == "correct"]
        assert len(wrong) >= 8, f"{topic}: only {len(wrong)} wrong submissions"
        assert len(correct) >= 2, f"{topic}: only {len(correct)} correct alternatives"


@pytest.mark.parametrize("topic,name", _cases(), ids=lambda v: str(v))
def test_mutant(graded, topic, name):
    mutant, result = graded[(topic, name)]
    assert_verdict(mutant, result)
