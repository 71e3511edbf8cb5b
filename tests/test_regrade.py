"""Safe regrades (grader.regrade): fingerprints in every results file, and the changes
between two results files, per student and per test, with the reason."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from grader.cli import cli
from grader.regrade import diff_results, diff_to_dict, render_diff
from tests.conftest import HONEST_LOSSES, MINICOURSE, make_submission

NO_MAX = HONEST_LOSSES.replace("m = input.amax(dim=-1, keepdim=True)", "m = torch.zeros_like(input[..., :1])")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_a_changed_hidden_test_shows_exactly_the_students_and_tests_it_touched(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(MINICOURSE, course, ignore=shutil.ignore_patterns("__pycache__"))
    good = make_submission(tmp_path, "good", {"losses.py": HONEST_LOSSES})
    nomax = make_submission(tmp_path, "nomax", {"losses.py": NO_MAX})  # nan for logits near 1e3
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    first = run("grade", good, nomax, "--course", course, "--device", "cpu", "--json", old, "--quiet")
    assert first.exit_code == 0, first.output
    # writing over a results file needs a word
    again = run("grade", good, "--course", course, "--device", "cpu", "--json", old, "--quiet")
    assert again.exit_code == 2 and "--overwrite" in again.output and len(again.output.strip().splitlines()) == 1
    # the instructor makes the large-logit case milder: logits of 1e2 do not overflow in float64
    suite = course / "reference" / "suites" / "test_losses.py"
    suite.write_text(suite.read_text().replace("[1.0, 1e3]", "[1.0, 1e2]"))
    res = run("grade", good, nomax, "--course", course, "--device", "cpu", "--json", new, "--compare", old,
              "--quiet")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == "regrade: 1 student(s) changed (1 gained, 0 lost), 1 unchanged"
    assert "  changed since the old results: the losses suite changed" in lines
    changed = [line for line in lines if line.startswith("    ")]
    assert changed and all(line.startswith("    losses::cross_entropy[large-cpu]") for line in changed)
    assert "  nomax: " in res.output and "  good: " not in res.output
    assert "(the losses suite changed)" in changed[0]
    # the same from the two files, as JSON too
    out = tmp_path / "changes.json"
    diffed = run("diff", old, new, "--json", out)
    assert diffed.exit_code == 0 and diffed.output.splitlines()[0] == lines[0]
    data = json.loads(out.read_text())
    assert [s["id"] for s in data["students"]] == ["nomax"]
    assert {t["id"] for t in data["students"][0]["tests"]} == {"losses::cross_entropy[large-cpu]"}
    assert data["causes"] == {"losses": ["the losses suite changed"]}
    # every results file says what produced it
    fp = json.loads(new.read_text())["grader"]["fingerprints"]
    assert set(fp["topics"]["losses"]) == {"suite", "rubric", "reference"} and fp["grader"].startswith("0.")
    assert run("grade", good, "--course", course, "--device", "cpu", "--json", old, "--overwrite",
               "--quiet").exit_code == 0


def _doc(tests: dict[str, tuple[float, str]], fingerprints=None, sid="s1") -> dict:
    doc = {"schema": 1, "submissions": [{
        "id": sid, "path": sid, "score": sum(v[0] for v in tests.values()), "max_score": 9,
        "topics": {"losses": {"score": 0, "max_score": 9, "tests": [
            {"id": tid, "score": score, "max_score": 1.0, "status": "passed", "message": msg}
            for tid, (score, msg) in tests.items()]}}}]}
    if fingerprints is not None:
        doc["grader"] = {"fingerprints": fingerprints}
    return doc


def test_new_removed_rescored_and_reworded_tests_are_each_named():
    fp = {"grader": "1", "shared_suite": "a", "rubric_general": "b", "device": "cpu",
          "topics": {"losses": {"suite": "s", "rubric": "r", "reference": "f"}}}
    old = _doc({"losses::a": (1.0, ""), "losses::b": (0.0, "off by 2"), "losses::gone": (1.0, "")}, fp)
    new_fp = dict(fp, topics={"losses": {"suite": "s", "rubric": "R", "reference": "f"}})
    new = _doc({"losses::a": (0.5, "half"), "losses::b": (0.0, "off by 3"), "losses::fresh": (1.0, "")}, new_fp)
    diff = diff_results(old, new)
    (student,) = diff.students
    kinds = {t.test: t.kind for t in student.tests}
    assert kinds == {"losses::a": "score", "losses::b": "message", "losses::fresh": "new", "losses::gone": "removed"}
    assert diff.why("losses::a") == "the losses rubric changed" and student.delta == -0.5
    assert diff_to_dict(diff)["summary"]["lost"] == 1
    late = diff_results(old, _doc({"losses::a": (0.8, ""), "losses::b": (0.0, "off by 2"), "losses::gone": (1.0, "")},
                                  dict(fp, late="changed")))
    assert late.why("losses::a") == "the due date or the late policy changed"
    # without fingerprints (an older grader's file) the diff still works and says so
    plain = diff_results(_doc({"losses::a": (1.0, "")}), _doc({"losses::a": (0.0, "")}))
    assert "record no fingerprints" in plain.why("losses::a")


def test_students_added_or_dropped_and_hostile_ids_are_reported_safely():
    old = _doc({"losses::a": (1.0, "")}, sid="gone\x1b[2J")
    new = _doc({"losses::a": (1.0, "")}, sid="fresh")
    text = render_diff(diff_results(old, new))
    assert "1 new, 1 no longer graded" in text.splitlines()[0]
    assert "\x1b" not in text and "fresh: new in the new results" in text
