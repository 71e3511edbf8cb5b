"""The command line, driven through click's CliRunner."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from grader.cli import cli
from tests.conftest import HONEST_LOSSES, MINICOURSE, make_submission

pytestmark = pytest.mark.slow

BUGGY = HONEST_LOSSES.replace("sq.mean()", "sq.sum()")


@pytest.fixture(scope="module")
def subs(tmp_path_factory):
    root = tmp_path_factory.mktemp("subs")
    return {
        "good": make_submission(root, "good", {"losses.py": HONEST_LOSSES}),
        "buggy": make_submission(root, "buggy", {"losses.py": BUGGY}),
        "empty": make_submission(root, "empty", {"notes.txt": "nothing"}),
    }


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_grade_writes_every_output_format(subs, tmp_path):
    out = tmp_path / "out"
    result = run(
        "grade", subs["good"], subs["buggy"], subs["empty"], "--course", MINICOURSE, "--device", "cpu",
        "--json", out / "r.json", "--csv", out / "r.csv", "--gradescope", out / "gs",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "r.json").read_text())
    scores = {s["id"]: s["score"] for s in doc["submissions"]}
    assert scores == {"good": 10.0, "buggy": 6.0, "empty": 0.0}
    assert doc["submissions"][2]["topics"]["losses"]["status"] == "missing"
    rows = list(csv.DictReader((out / "r.csv").open()))
    assert [r["id"] for r in rows] == ["good", "buggy", "empty"] and rows[1]["losses"] == "6"
    assert json.loads((out / "gs" / "buggy" / "results.json").read_text())["score"] == 6.0
    assert "good" in result.output and "10/10" in result.output


def test_single_submission_shows_failing_cases_with_hints(subs):
    result = run("grade", subs["buggy"], "--course", MINICOURSE, "--device", "cpu")
    assert result.exit_code == 0
    assert "FAIL losses::mse_loss[2d-cpu-float32]" in result.output
    assert "likely mistake: the result is 12 times the expected one" in result.output


def test_usage_errors_exit_2_with_one_line(tmp_path, subs):
    missing = run("grade", tmp_path / "nope", "--course", MINICOURSE)
    assert missing.exit_code == 2 and "no such submission folder" in missing.output
    assert len(missing.output.strip().splitlines()) == 1
    bad_rubric = tmp_path / "rubric.yaml"
    bad_rubric.write_text("schema: 1\ntopics:\n  losses:\n    tests: {mse_loss: lots}\n")
    res = run("grade", subs["good"], "--course", MINICOURSE, "--rubric", bad_rubric)
    assert res.exit_code == 2 and "topics.losses.tests.mse_loss: must be a number" in res.output
    assert run("grade", subs["good"], "--jobs", "0").exit_code == 2
    assert run("grade", subs["good"], "--topic", "nonsense").exit_code == 2


def test_rubric_out_of_step_with_the_suite_is_an_error(tmp_path, subs):
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text("schema: 1\ntopics:\n  losses:\n    tests: {mse_loss: 1, cross_entropy: 1, bad_reduction: 1}\n")
    res = run("grade", subs["good"], "--course", MINICOURSE, "--rubric", rubric)
    assert res.exit_code == 2 and "no entry for test 'inputs_unchanged'" in res.output


def test_check_runs_public_tests_on_a_students_folder(subs):
    res = run("check", "--path", subs["buggy"], "--tests", MINICOURSE / "assignments" / "public_tests", "--device", "cpu")
    assert res.exit_code == 0
    assert "losses: 0/1" in res.output and "likely mistake" in res.output


def test_validate_and_stubs_on_a_consistent_course():
    res = run("validate", "--course", MINICOURSE, "--device", "cpu")
    assert res.exit_code == 0, res.output
    assert res.output.count("ok  ") == 5
    res = run("stubs", "--check", "--course", MINICOURSE)
    assert res.exit_code == 0 and "up to date" in res.output


def test_validate_fails_when_a_stub_earns_points(tmp_path):
    import shutil

    course = tmp_path / "course"
    shutil.copytree(MINICOURSE, course)
    (course / "assignments" / "losses.py").write_text(HONEST_LOSSES)
    res = run("validate", "--course", course, "--device", "cpu")
    assert res.exit_code == 1
    assert "FAIL stubs are generated from the reference" in res.output
    assert "FAIL released stubs earn zero" in res.output


def test_parallel_grading_matches_serial(subs, tmp_path):
    serial, parallel = tmp_path / "s.json", tmp_path / "p.json"
    folders = [subs["good"], subs["buggy"], subs["empty"]]
    assert run("grade", *folders, "--course", MINICOURSE, "--device", "cpu", "--json", serial, "--quiet").exit_code == 0
    assert run("grade", *folders, "--course", MINICOURSE, "--device", "cpu", "--json", parallel, "--jobs", "2", "--quiet").exit_code == 0

    def strip(path):
        doc = json.loads(path.read_text())
        for s in doc["submissions"]:
            s.pop("timing")
        return doc["submissions"]

    assert strip(serial) == strip(parallel)
