from __future__ import annotations

import csv
import io
import json
import math

from grader.reports import (
    csv_text,
    gradescope_document,
    render_details,
    render_table,
    results_document,
    submission_from_dict,
    submission_to_dict,
    write_gradescope,
    write_json,
)
from grader.scoring import Outcome, score_test, submission_result, topic_result


def _result(sid="alice", flags=()):
    tests = [
        score_test(
            "losses::mse_loss[cpu]",
            Outcome("passed", 1.0, metrics={"max_abs_err": 0.0}, curves={"train_loss": [2.5, 1.0]}),
            2.0,
        ),
        score_test("losses::cross_entropy[large-cpu]", Outcome("failed", 0.0, "cross_entropy(...) is nan", "subtract the max"), 3.0),
    ]
    topics = {
        "losses": topic_result("losses", tests),
        "gradients": topic_result("gradients", [score_test("gradients::x", Outcome("missing", 0.0, "absent"), 5.0)]),
    }
    return submission_result(sid, f"/subs/{sid}", topics, list(flags), {"total_s": 0.5})


def test_json_document_follows_the_contract(tmp_path):
    path = tmp_path / "out" / "results.json"
    write_json(path, [_result()], {"version": "x"})
    doc = json.loads(path.read_text())
    assert doc["schema"] == 1
    sub = doc["submissions"][0]
    assert {"id", "path", "score", "max_score", "topics", "flags"} <= set(sub)
    test = sub["topics"]["losses"]["tests"][1]
    assert test == {
        "id": "losses::cross_entropy[large-cpu]", "score": 0.0, "max_score": 3.0, "status": "failed",
        "message": "cross_entropy(...) is nan", "hint": "subtract the max",
    }
    assert sub["topics"]["losses"]["tests"][0]["metrics"] == {"max_abs_err": 0.0}
    assert sub["topics"]["losses"]["tests"][0]["curves"] == {"train_loss": [2.5, 1.0]}
    assert "curves" not in test
    assert sub["score"] == 2.0 and sub["max_score"] == 10.0
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temporary left


def test_dict_roundtrip():
    r = _result(flags=("forbidden call x",))
    assert submission_from_dict(json.loads(json.dumps(submission_to_dict(r)))) == r


def test_csv_has_a_row_per_student_and_a_column_per_topic():
    rows = list(csv.reader(io.StringIO(csv_text([_result("alice"), _result("bob", ("flag",))]))))
    assert rows[0] == ["id", "losses", "gradients", "total", "max_score", "flags"]
    assert rows[1] == ["alice", "2", "0", "2", "10", "0"]
    assert rows[2][0] == "bob" and rows[2][-1] == "1"


def test_gradescope_groups_cases(tmp_path):
    doc = gradescope_document(_result(flags=("forbidden call x",)))
    names = [t["name"] for t in doc["tests"]]
    assert names == ["losses: mse_loss", "losses: cross_entropy", "gradients: x"]
    ce = doc["tests"][1]
    assert ce["status"] == "failed" and "likely mistake: subtract the max" in ce["output"]
    assert doc["score"] == 2.0 and "forbidden call x" in doc["output"]
    single = write_gradescope(tmp_path / "results.json", [_result()])
    assert json.loads(single[0].read_text())["score"] == 2.0
    many = write_gradescope(tmp_path / "gs", [_result("a"), _result("b")])
    assert sorted(p.parent.name for p in many) == ["a", "b"]


def test_table_and_details():
    table = render_table([_result("alice"), _result("bob", ("flag",))])
    assert "alice" in table and "2/5" in table and "missing" in table and "2/10 !" in table
    details = render_details(_result())
    assert "FAIL losses::cross_entropy[large-cpu] (0/3)" in details
    assert "likely mistake: subtract the max" in details
    assert "gradients: missing" in details
    assert results_document([_result()])["schema"] == 1


def test_nan_metrics_and_curves_are_written_as_null(tmp_path):
    diverged = score_test(
        "training::capstone_digits",
        Outcome("failed", 0.0, "diverged", metrics={"accuracy": float("nan")}, curves={"train_loss": [2.3, float("inf")]}),
        20.0,
    )
    result = submission_result("s", "/subs/s", {"training": topic_result("training", [diverged])}, [], {})
    path = tmp_path / "r.json"
    write_json(path, [result])
    test = json.loads(path.read_text())["submissions"][0]["topics"]["training"]["tests"][0]
    assert test["metrics"] == {"accuracy": None} and test["curves"] == {"train_loss": [2.3, None]}
    back = submission_from_dict(json.loads(json.dumps(submission_to_dict(result))))
    assert math.isnan(back.topics["training"].tests[0].metrics["accuracy"])
