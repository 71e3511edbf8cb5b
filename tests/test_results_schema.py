"""docs/results.schema.json describes what ``grader grade --json`` writes, field by field."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from grader.cli import cli
from grader.reports import write_json
from grader.scoring import Outcome, penalty_test, score_test, submission_result, topic_result
from tests.mutation import ROOT

SCHEMA = json.loads((ROOT / "docs" / "results.schema.json").read_text(encoding="utf-8"))
OPTIONAL_TEST_FIELDS = {"hint", "metrics", "curves", "notes"}


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(SCHEMA)
    return Draft202012Validator(SCHEMA)


def _errors(validator: Draft202012Validator, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def _handmade(tmp_path) -> dict:
    """A document through write_json from results holding every optional field."""
    tests = [
        score_test(
            "training::capstone_digits[cpu]",
            Outcome("passed", 0.75, "reaches 0.91 (reference 0.97)", "look at your optimizers.py",
                    metrics={"accuracy": 0.91, "loss": math.nan, "gap": math.inf},
                    curves={"train_loss": [2.3, math.nan, 0.4], "test_accuracy": [0.1, 0.9]},
                    notes=("the worker reports an argument changed in place",)),
            120.0,
        ),
        score_test("training::train_history[cpu]", Outcome("timeout", 0.0, "timed out after 10 s"), 2.0),
        score_test("training::iterate[cpu]", Outcome("passed", 1.0), 1.0),
    ]
    tests.append(penalty_test("training", sum(t.score for t in tests), 5.0, ["torch.optim.Adam at line 3"]))
    topics = {
        "training": topic_result("training", tests),
        "losses": topic_result("losses", [score_test("losses::mse_loss[cpu]", Outcome("missing", 0.0, "absent"), 3.0)]),
        "init": topic_result("init", [score_test("init::x[cpu]", Outcome("error", 0.0, "SyntaxError"), 4.0)], "error"),
    }
    result = submission_result("ali\u00e7e <x>", "/subs/alice.zip", topics, ["forbidden import: torch.optim"],
                               {"total_s": 1.5, "student_calls": 12})
    result = replace(result, isolation=("process", "seccomp"))
    meta = {"version": "0.1.0", "device": "cpu", "python": "3.11.7", "seconds": 2.5, "fingerprint": "0123456789abcdef"}
    path = tmp_path / "results.json"
    write_json(path, [result, submission_result("carol", "/subs/carol", {}, [], {})], meta)
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_schema_is_a_valid_draft_2020_12_schema():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)


def test_a_document_with_every_optional_field_validates(validator, tmp_path):
    doc = _handmade(tmp_path)
    assert _errors(validator, doc) == []
    tests = [t for s in doc["submissions"] for topic in s["topics"].values() for t in topic["tests"]]
    assert OPTIONAL_TEST_FIELDS <= {key for t in tests for key in t}  # every optional field was exercised
    capstone = tests[0]
    assert capstone["metrics"]["loss"] is None and capstone["curves"]["train_loss"][1] is None
    assert any(t["score"] < 0 for t in tests)  # the forbidden-calls penalty
    assert {topic["status"] for topic in doc["submissions"][0]["topics"].values()} == {"graded", "missing", "error"}
    assert "fingerprint" in doc["grader"]
    assert set(tests[-1]) >= {"id", "score", "max_score", "status", "message"}


def _broken(doc: dict, how: str) -> dict:
    doc = copy.deepcopy(doc)
    sub = doc["submissions"][0]
    test = sub["topics"]["training"]["tests"][0]
    if how == "missing submission score":
        del sub["score"]
    elif how == "string submission score":
        sub["score"] = "95"
    elif how == "missing test score":
        del test["score"]
    elif how == "string test score":
        test["score"] = "0.5"
    elif how == "unknown status":
        test["status"] = "ok"
    elif how == "nan written as a string":
        test["metrics"]["loss"] = "nan"
    elif how == "an undocumented field":
        test["extra"] = 1
    elif how == "missing topics":
        del sub["topics"]
    elif how == "another schema version":
        doc["schema"] = 2
    elif how == "negative max_score":
        sub["topics"]["training"]["max_score"] = -1
    elif how == "empty hint":
        test["hint"] = ""
    return doc


@pytest.mark.parametrize(
    "how",
    ["missing submission score", "string submission score", "missing test score", "string test score",
     "unknown status", "nan written as a string", "an undocumented field", "missing topics",
     "another schema version", "negative max_score", "empty hint"],
)
def test_a_broken_document_fails(validator, tmp_path, how):
    assert _errors(validator, _broken(_handmade(tmp_path), how)), how


@pytest.mark.slow
def test_real_grading_output_validates(validator, tmp_path):
    """One fast topic of the demo's buggy submission, through `grader grade --json`."""
    out = tmp_path / "results.json"
    res = CliRunner().invoke(
        cli,
        ["grade", str(ROOT / "examples" / "class" / "bob"), "--topic", "activations", "--course", str(ROOT),
         "--device", "cpu", "--json", str(out), "--quiet", "--allow-weak-isolation"],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert _errors(validator, doc) == []
    (bob,) = doc["submissions"]
    tests = bob["topics"]["activations"]["tests"]
    assert 0 < bob["score"] < bob["max_score"] and len(tests) > 20
    assert any("hint" in t and "metrics" in t for t in tests)  # a real failure carries both
    assert doc["grader"]["device"] == "cpu" and "fingerprint" in doc["grader"]
    assert set(doc["grader"]["fingerprints"]["topics"]) == {"activations"}
    unfinished = copy.deepcopy(doc)
    del unfinished["grader"]["fingerprints"]["topics"]["activations"]["suite"]
    assert _errors(validator, unfinished)
    broken = copy.deepcopy(doc)
    del broken["submissions"][0]["topics"]["activations"]["tests"][0]["score"]
    assert _errors(validator, broken)
