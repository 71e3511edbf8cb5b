from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import replace

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
    assert names == ["losses: mse_loss", "losses: cross_entropy", "gradients: missing"]
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
    lines = details.splitlines()
    assert lines[0] == "alice: 2/10"
    assert lines[1].split() == ["losses", "2/5"] and lines[2].split() == ["\u2717", "cross_entropy", "0/3", "\u2713",
                                                                          "1", "other", "test", "passes"]
    assert lines[3].split()[:3] == ["gradients", "0/5", "\u2717"] and "gradients.py or gradients.ipynb" in lines[3]
    assert "  \u2717 cross_entropy (0/3)" in lines and "    FAIL [large-cpu] (0/3): cross_entropy(...) is nan" in lines
    assert "         likely mistake: subtract the max" in lines
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


# -- student-controlled text --------------------------------------------------------------

ESC = "\x1b"
HOSTILE = f"{ESC}[2J{ESC}]52;c;cm0gLXJm\x07\x9b31m\rnan\nbob  10/10  10/10\u202e"


def _raw_controls(text: str) -> list[str]:
    """Anything a terminal acts on, besides the report's own line breaks."""
    return [ch for ch in text.replace("\n", "") if ch in "\x1b\r\x07\x00" or 0x80 <= ord(ch) <= 0x9f
            or ch == "\u202e"]


def _hostile(sid=f"eve{ESC}[31m\rbob"):
    bad = score_test("losses::mse_loss[cpu]", Outcome("error", 0.0, f"raised Bad{ESC}[1mError: {HOSTILE}",
                                                     f"hint{ESC}]8;;http://x{ESC}\\"), 2.0)
    noted = score_test("losses::cross_entropy[cpu]",
                       Outcome("passed", 1.0, notes=(f"changed in place{ESC}[2K\rALL TESTS PASSED",)), 3.0)
    topics = {"losses": topic_result("losses", [bad, noted])}
    return submission_result(sid, "/subs/x", topics, [f"forbidden{ESC}[0m\nflag: none"], {})


def test_table_escapes_ids_and_keeps_one_line_per_submission():
    table = render_table([_hostile(), _result("alice")])
    assert not _raw_controls(table)
    assert "eve\\x1b[31m\\rbob" in table
    rows = table.splitlines()
    assert len(rows) == 5 and rows[2].startswith("eve\\x1b[31m\\rbob") and rows[3].startswith("alice")
    widths = {len(r) for r in rows[:4]}
    assert len(widths) == 1  # the escaped id is measured as printed: the columns line up


def test_details_escape_messages_hints_flags_and_notes():
    details = render_details(_hostile())
    assert not _raw_controls(details)
    lines = details.splitlines()
    assert lines[0].startswith("eve\\x1b[31m\\rbob: ")
    message = next(line for line in lines if "FAIL [cpu]" in line or "ERR  [cpu]" in line)
    assert "\\rnan\\nbob  10/10  10/10\\u202e" in message and "Bad\\x1b[1mError" in message
    assert not any(line.startswith("bob") for line in lines)  # the forged row is inside the message
    assert "         likely mistake: hint\\x1b]8;;http://x\\x1b\\" in lines
    case = lines.index("  \u2713 cross_entropy (3/3)")
    assert lines[case + 1].startswith("    PASS [cpu] (3/3)")
    assert lines[case + 2] == "         note: changed in place\\x1b[2K\\rALL TESTS PASSED"
    assert "flag: forbidden\\x1b[0m\\nflag: none" in lines
    assert sum(line.startswith("flag:") for line in lines) == 1


def test_notes_of_failing_cases_follow_the_hint():
    case = score_test("losses::mse_loss[cpu]", Outcome("failed", 0.0, "off", "halve it", notes=("a", "b")), 1.0)
    r = submission_result("s", "/s", {"losses": topic_result("losses", [case])}, [], {})
    lines = render_details(r).splitlines()
    at = lines.index("    FAIL [cpu] (0/1): off")
    assert lines[at + 1:at + 4] == ["         likely mistake: halve it", "         note: a", "         note: b"]
    output = gradescope_document(r)["tests"][0]["output"]
    assert output.splitlines() == ["FAIL [cpu] (0/1): off", "     likely mistake: halve it", "     note: a",
                                   "     note: b"]


def test_csv_guards_formula_ids_but_not_numbers():
    evil = _result('=HYPERLINK("http://evil","x")')
    negative = submission_result("-dash", "/s", {"losses": topic_result("losses", [
        score_test("losses::x", Outcome("passed", 1.0), 2.0)])}, [], {})
    negative = replace(negative, score=-1.5)  # a number the grader wrote
    rows = list(csv.reader(io.StringIO(csv_text([evil, negative, _result("@cmd"), _result("+1"), _result("\tx")]))))
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(\"http://evil\",\"x\")", "'-dash", "'@cmd", "'+1", "'\tx"]
    assert rows[2][rows[0].index("total")] == "-1.5"
    assert rows[1][1:] == ["2", "0", "2", "10", "0"]


def test_gradescope_output_is_escaped():
    doc = gradescope_document(_hostile())
    text = json.dumps(doc, ensure_ascii=False)
    assert ESC not in text and "\r" not in text and "\x9b" not in text and "\u202e" not in text
    (mse, ce) = doc["tests"]
    assert mse["output"].count("\n") == 1  # the case line and its hint; the forged row stays inside
    assert "\\nbob  10/10  10/10" in mse["output"]
    assert ce["status"] == "passed" and "note: changed in place\\x1b[2K\\rALL TESTS PASSED" in ce["output"]
    assert doc["output"].splitlines()[-1] == "Note: forbidden\\x1b[0m\\nflag: none"
    assert doc["output"].startswith("Summary")


def test_gradescope_writes_only_inside_its_folder(tmp_path):
    out = tmp_path / "gs"
    ids = ["..", ".", "...", "", "a/b", "a\\b", "a_b", "../../escape", f"x{ESC}[2J", "/abs"]
    written = write_gradescope(out, [_result(sid) for sid in ids])
    assert len(written) == len(ids) and len({p.parent for p in written}) == len(ids)
    for path in written:
        assert path.parent.parent == out and path.name == "results.json"
        assert path.resolve().is_relative_to(out.resolve())
    assert sorted(p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*") if p.is_file()) == ["gs"] * len(ids)
    assert {json.loads(p.read_text())["score"] for p in written} == {2.0}
    names = {p.parent.name for p in written}
    assert "a_b" in names and "__" in names and not any(n.startswith(".") for n in names)
