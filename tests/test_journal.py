"""Grades are never lost: the journal of a class run, and --resume after a SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.errors import UsageError
from grader.journal import Journal, journal_path, run_fingerprint
from grader.rubric import parse_rubric
from grader.scoring import Outcome, score_test, submission_result, topic_result
from tests.conftest import HONEST_LOSSES, MINICOURSE, make_submission

ROOT = Path(__file__).resolve().parent.parent


def _result(sid: str, score: float = 1.0):
    test = score_test("losses::mse_loss[cpu]", Outcome("passed" if score else "failed", score), 1.0)
    return submission_result(sid, f"/subs/{sid}", {"losses": topic_result("losses", [test])}, [], {})


def test_results_survive_and_a_torn_line_is_dropped(tmp_path):
    out = tmp_path / "r.json"
    journal = Journal.open(out, "f1", resume=False)
    journal.record(_result("alice"))
    journal.record(_result("bob", 0.0))
    with open(journal_path(out), "a", encoding="utf-8") as fh:
        fh.write('{"result": {"id": "carol", "pa')  # killed in the middle of a write
    again = Journal.open(out, "f1", resume=True)
    assert sorted(again.done) == ["alice", "bob"]
    assert again.done["bob"].score == 0.0
    # reopening rewrote the journal: the torn line is gone and nothing is duplicated
    lines = journal_path(out).read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line) for line in lines)
    again.record(_result("alice"))  # graded again: the later result replaces the earlier
    assert sorted(Journal.open(out, "f1", resume=True).done) == ["alice", "bob"]


def test_resume_refuses_results_of_another_rubric(tmp_path):
    out = tmp_path / "r.json"
    Journal.open(out, "f1", resume=False).record(_result("alice"))
    with pytest.raises(UsageError, match="another rubric, topics or device"):
        Journal.open(out, "f2", resume=True)
    journal_path(out).write_text("garbage\n")
    with pytest.raises(UsageError, match="not a grading journal"):
        Journal.open(out, "f1", resume=True)


def test_without_resume_the_journal_starts_empty(tmp_path):
    out = tmp_path / "r.json"
    Journal.open(out, "f1", resume=False).record(_result("alice"))
    assert Journal.open(out, "f1", resume=False).done == {}


def test_fingerprint_follows_rubric_topics_and_device():
    a = parse_rubric({"schema": 1, "topics": {"losses": {"tests": {"mse_loss": 2}}}})
    b = parse_rubric({"schema": 1, "topics": {"losses": {"tests": {"mse_loss": 3}}}})
    assert run_fingerprint(a, (), "cpu") == run_fingerprint(a, (), "cpu")
    assert run_fingerprint(a, (), "cpu") != run_fingerprint(b, (), "cpu")
    assert run_fingerprint(a, (), "cpu") != run_fingerprint(a, ("losses",), "cpu")
    assert run_fingerprint(a, (), "cpu") != run_fingerprint(a, (), "auto")


def _grade_cmd(subs: list[Path], out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "grader", "grade", *map(str, subs), "--course", str(MINICOURSE),
        "--device", "cpu", "--json", str(out), "--quiet", *extra,
    ]


@pytest.mark.slow
def test_a_class_run_killed_with_sigkill_resumes_without_regrading(tmp_path):
    """SIGKILL the grader mid-class (as a power cut would), then --resume: the finished
    submissions are kept, not graded again, nothing is duplicated, and the scores equal
    those of an uninterrupted run."""
    pause = "\nimport time\ntime.sleep(0.5)  # each import takes half a second: time to interrupt\n"
    slow = HONEST_LOSSES + pause
    buggy = HONEST_LOSSES.replace("sq.mean()", "sq.sum()") + pause
    subs = [
        make_submission(tmp_path / "class", f"s{i}", {"losses.py": buggy if i % 2 else slow}) for i in range(6)
    ]
    out = tmp_path / "out" / "results.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(_grade_cmd(subs, out), cwd=ROOT, env=env, start_new_session=True)
    journal = journal_path(out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if journal.is_file() and len(journal.read_text().splitlines()) >= 3:  # header + 2 results
            break
        if proc.poll() is not None:
            pytest.fail("the grader finished before it could be interrupted")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # the final file is written only at the end
    kept = {}
    for line in journal.read_text().splitlines()[1:]:
        try:
            entry = json.loads(line)["result"]
        except ValueError:
            continue  # a line torn by the kill
        kept[entry["id"]] = entry
    assert 2 <= len(kept) < 6

    resumed = subprocess.run(
        _grade_cmd(subs, out, "--resume"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads(out.read_text())
    ids = [s["id"] for s in doc["submissions"]]
    assert ids == [f"s{i}" for i in range(6)]  # each once, in the order given
    assert not journal.exists()
    for entry in doc["submissions"]:
        if entry["id"] in kept:  # taken from the journal as it was, timings included: not graded again
            assert entry == kept[entry["id"]]

    # the scores an uninterrupted run gives: full marks, and the summed MSE's 4 points lost
    assert {s["id"]: s["score"] for s in doc["submissions"]} == {f"s{i}": 6.0 if i % 2 else 10.0 for i in range(6)}


@pytest.mark.slow
def test_resume_needs_json(tmp_path):
    sub = make_submission(tmp_path, "s", {"losses.py": HONEST_LOSSES})
    res = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(sub), "--course", str(MINICOURSE), "--resume"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 2 and "--resume needs --json FILE" in res.stderr
