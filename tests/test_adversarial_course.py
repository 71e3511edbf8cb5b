"""The course corpus (tests/adversarial/course.yaml): hostile submissions against what the
trusted grader decides from the course's own suites, graded in one batch with the wrong
controls they start from and an honest submission.

A case may earn no more than its control in any test group: whatever it patches in its
worker, or makes the grader do, buys nothing. Each control must lose points in the groups
it names, so every case has something to win. The honest submission, in the middle of the
batch and last, scores exactly as it does alone, and the batch ends within its budget
(an attack on the grader's own time would show here).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from grader.course import Course
from grader.engine import grade
from grader.scoring import SubmissionResult
from grader.submission import Submission
from grader.topics import TOPICS
from tests.mutation import ROOT, build_source

pytestmark = pytest.mark.slow

MANIFEST = yaml.safe_load((ROOT / "tests" / "adversarial" / "course.yaml").read_text(encoding="utf-8"))
CONTROLS = {entry["name"]: entry for entry in MANIFEST["controls"]}
CASES = {entry["name"]: entry for entry in MANIFEST["cases"]}
HONEST_TOPICS = ("activations", "dropout", "batchnorm")
CLASSES = {"self-report", "budget", "numbers"}
# A call that runs past this is a timeout; the flood case makes two (one per test case
# before the function is no longer called), so it costs seconds, not the run.
LIMITS = {"call_timeout": 3, "cpu_seconds": 120, "wall_seconds": 300}
CAPSTONE = {"epochs": 4}
BATCH_BUDGET_S = 240.0


def _files(entry: dict) -> dict[str, str]:
    """The submission's sources: the reference for each topic it is graded on and the
    topics their suites call, with the entry's definitions swapped in."""
    topics = set(entry["topics"])
    for topic in list(topics):
        topics.update(TOPICS[topic].needs)
    overrides = entry.get("files") or {}
    out = {}
    for topic in sorted(topics):
        reference = (ROOT / "reference" / f"{topic}.py").read_text(encoding="utf-8")
        out[topic] = build_source(reference, overrides.get(topic, ""))
    return out


def _render(entry: dict, root: Path) -> Submission:
    folder = root / entry["name"]
    folder.mkdir(parents=True)
    for topic, source in _files(entry).items():
        (folder / f"{topic}.py").write_text(source, encoding="utf-8")
    return Submission(entry["name"], folder, topics=tuple(entry["topics"]))


def group_points(result: SubmissionResult, topic: str) -> dict[str, float]:
    points: dict[str, float] = {}
    for test in result.topics[topic].tests:
        group = test.id.split("[", 1)[0].split("::", 1)[1]
        points[group] = points.get(group, 0.0) + test.score
    return points


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("course-corpus")
    rubric = yaml.safe_load((ROOT / "reference" / "rubric.yaml").read_text(encoding="utf-8"))
    rubric["limits"] = {**rubric["limits"], **LIMITS}
    # a shorter capstone (every check of the run is the same, on fewer steps)
    rubric["settings"]["capstone"] = {**rubric["settings"]["capstone"], **CAPSTONE}
    rubric_path = root / "rubric.yaml"
    rubric_path.write_text(yaml.safe_dump(rubric), encoding="utf-8")
    topics = sorted({t for e in [*CONTROLS.values(), *CASES.values()] for t in e["topics"]} | set(HONEST_TOPICS))
    config = Course(ROOT).hidden(topics=tuple(topics), device="cpu", rubric=rubric_path)
    honest = {"name": "honest", "topics": list(HONEST_TOPICS)}
    subs = {e["name"]: _render(e, root) for e in [*CONTROLS.values(), *CASES.values(), honest]}
    names = list(CONTROLS) + list(CASES)
    order = names[: len(names) // 2] + ["honest"] + names[len(names) // 2:] + ["honest_last"]
    subs["honest_last"] = Submission("honest_last", subs["honest"].path, topics=HONEST_TOPICS)
    t0 = time.monotonic()
    results = {r.id: r for r in grade(config, [subs[n] for n in order], jobs=2)}
    seconds = time.monotonic() - t0
    (alone,) = grade(config, [subs["honest"]])
    return {"results": results, "alone": alone, "seconds": seconds}


def test_manifest_is_well_formed():
    assert len(CASES) >= 10
    for name, entry in {**CONTROLS, **CASES}.items():
        assert set(entry["topics"]) <= set(TOPICS), name
        assert entry.get("files"), f"{name}: no code"
    for name, entry in CASES.items():
        assert entry["class"] in CLASSES, name
        assert entry["control"] in CONTROLS, f"{name}: unknown control"
        assert entry["topics"] == CONTROLS[entry["control"]]["topics"], f"{name}: graded unlike its control"
        assert entry.get("attacks"), name
    for name, entry in CONTROLS.items():
        assert entry.get("bites"), f"{name}: say which groups it loses"


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_control_loses_what_the_attack_would_win(batch, name):
    entry = CONTROLS[name]
    result = batch["results"][name]
    for topic in entry["topics"]:
        rubric_points = {t.id.split("[", 1)[0].split("::", 1)[1]: t.max_score for t in result.topics[topic].tests}
        got = group_points(result, topic)
        for group in entry["bites"]:
            if group in got:
                assert got[group] < sum(t.max_score for t in result.topics[topic].tests
                                        if t.id.split("[", 1)[0].endswith("::" + group)), (name, group)
        assert any(group in rubric_points for group in entry["bites"]), f"{name}: no such group"


@pytest.mark.parametrize("name", sorted(CASES))
def test_attack_earns_no_more_than_its_control(batch, name):
    entry = CASES[name]
    result = batch["results"][name]
    control = batch["results"][entry["control"]]
    for topic in entry["topics"]:
        mine, theirs = group_points(result, topic), group_points(control, topic)
        gained = {g: (mine[g], theirs.get(g, 0.0)) for g in mine if mine[g] > theirs.get(g, 0.0) + 1e-9}
        assert not gained, f"{name} earned more than {entry['control']}: {gained}"
        assert result.topics[topic].score <= control.topics[topic].score + 1e-9
    if entry.get("no_flag"):
        assert not any(re.search(entry["no_flag"], f) for f in result.flags), result.flags
    if entry.get("seconds"):
        assert result.timing["total_s"] <= entry["seconds"], f"{name} cost the grader {result.timing['total_s']:.0f} s"
    pattern = entry.get("message")
    if pattern:
        texts = [f"{t.message} {t.hint or ''}" for topic in entry["topics"] for t in result.topics[topic].tests]
        texts += list(result.flags)
        assert any(re.search(pattern, text) for text in texts), f"{name}: no message matches {pattern!r}"


def test_honest_scores_as_if_alone(batch):
    alone = batch["alone"]
    for name in ("honest", "honest_last"):
        result = batch["results"][name]
        assert result.score == alone.score == alone.max_score
        for topic in HONEST_TOPICS:
            assert [(t.id, round(t.score, 9)) for t in result.topics[topic].tests] == [
                (t.id, round(t.score, 9)) for t in alone.topics[topic].tests]  # the batch's came through JSON


def test_batch_within_budget(batch):
    assert batch["seconds"] < BATCH_BUDGET_S, f"the batch took {batch['seconds']:.0f} s"
