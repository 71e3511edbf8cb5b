"""Test visibility (grader.visibility): a withheld test's points count, and its name and
message reach no student-facing output until the rubric allows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from click.testing import CliRunner

from grader.cli import cli
from grader.errors import RubricError
from grader.nbgrader_bridge import feedback_html
from grader.reports import submission_from_dict
from grader.rubric import parse_rubric
from grader.visibility import for_students, is_shown
from tests.conftest import HONEST_LOSSES, MINICOURSE, make_submission

# wrong in every graded way: mse sums, cross-entropy overflows, a bad reduction passes
WRONG = (HONEST_LOSSES.replace("sq.mean()", "sq.sum()")
         .replace("m = input.amax(dim=-1, keepdim=True)", "m = torch.zeros_like(input[..., :1])"))


def _rubric(tmp_path, due: datetime):
    data = yaml.safe_load((MINICOURSE / "reference" / "rubric.yaml").read_text())
    data["due"] = due.isoformat()
    tests = data["topics"]["losses"]["tests"]
    tests["mse_loss"] = {"points": tests["mse_loss"], "visibility": "after_published"}
    tests["cross_entropy"]["visibility"] = "after_due_date"
    tests["bad_reduction"] = {"points": tests["bad_reduction"], "visibility": "hidden"}
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_rubric_reads_visibility_and_a_due_date_with_its_time_zone():
    rubric = parse_rubric({"due": "2026-12-01T23:59:00+01:00", "topics": {"losses": {
        "visibility": "after_published", "tests": {"a": 1, "b": {"points": 1, "visibility": "hidden"}}}}})
    assert rubric.due == datetime(2026, 12, 1, 22, 59, tzinfo=timezone.utc)
    assert {g.name: g.visibility for g in rubric.topics["losses"].groups.values()} == {
        "a": "after_published", "b": "hidden"}
    for bad, needle in [
        ({"due": "2026-12-01T23:59:00", "topics": {}}, "needs a time zone"),
        ({"due": "tomorrow", "topics": {}}, "must be a date and time"),
        ({"topics": {"losses": {"tests": {"a": {"points": 1, "visibility": "secret"}}}}}, "must be one of"),
        ({"topics": {"losses": {"tests": {"a": {"points": 1, "visibility": "after_due_date"}}}}}, "'due' date"),
    ]:
        with pytest.raises(RubricError, match=needle):
            parse_rubric(bad)


def test_when_each_visibility_shows():
    now = datetime(2026, 12, 2, tzinfo=timezone.utc)
    assert is_shown("visible", now, None, False) and not is_shown("hidden", now, now, True)
    assert is_shown("after_due_date", now, now - timedelta(seconds=1), False)
    assert not is_shown("after_due_date", now, now + timedelta(seconds=1), True)
    assert not is_shown("after_due_date", now, None, True)
    assert is_shown("after_published", now, None, True) and not is_shown("after_published", now, None, False)


def _names(page: str, name: str) -> bool:
    """Whether a page names a test, as HTML and text do or as Markdown escapes it."""
    return name in page or name.replace("_", "\\_") in page


def _grade(tmp_path, rubric, sub, *extra):
    out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
    res = CliRunner().invoke(cli, [
        "grade", str(sub), "--course", str(MINICOURSE), "--rubric", str(rubric), "--device", "cpu", "--quiet",
        "--json", str(out / "r.json"), "--gradescope", str(out / "gs.json"), "--feedback", str(out / "fb"),
        *extra], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    student = [(out / "fb" / f"{sub.name}{s}").read_text(encoding="utf-8") for s in (".html", ".md")]
    gs = json.loads((out / "gs.json").read_text(encoding="utf-8"))
    return json.loads((out / "r.json").read_text(encoding="utf-8")), student, gs


def test_withheld_tests_count_but_reach_no_student_facing_output_until_allowed(tmp_path):
    sub = make_submission(tmp_path, "wrong", {"losses.py": WRONG})
    future = _rubric(tmp_path, datetime.now(timezone.utc) + timedelta(days=3))
    results, pages, gs = _grade(tmp_path, future, sub)
    tests = results["submissions"][0]["topics"]["losses"]["tests"]
    # the results file, for instructors, keeps everything and says when each test shows
    assert {t["id"].split("[")[0]: t.get("visibility", "visible") for t in tests} == {
        "losses::mse_loss": "after_published", "losses::cross_entropy": "after_due_date",
        "losses::bad_reduction": "hidden", "losses::inputs_unchanged": "visible"}
    score = results["submissions"][0]["score"]
    assert score == pytest.approx(sum(t["score"] for t in tests))  # withheld points still count
    for page in pages + [gs["output"]]:
        for name in ("mse_loss", "cross_entropy", "bad_reduction"):
            assert not _names(page, name), (name, page[:300])
        assert "not shown" in page
    assert gs["score"] == pytest.approx(score)
    entries = {e["name"].split(": ")[1]: e["visibility"] for e in gs["tests"]}
    assert entries["bad_reduction"] == "hidden" and entries["cross_entropy"] == "after_due_date"
    # published: the after_published test shows; the due date has not passed; hidden stays hidden
    _, pages, gs = _grade(tmp_path, future, sub, "--published")
    assert all(_names(p, "mse_loss") and not _names(p, "cross_entropy") and not _names(p, "bad_reduction")
               for p in pages)
    # after the due date
    past = _rubric(tmp_path, datetime.now(timezone.utc) - timedelta(minutes=1))
    _, pages, _ = _grade(tmp_path, past, sub)
    assert all(_names(p, "cross_entropy") and not _names(p, "mse_loss") and not _names(p, "bad_reduction")
               for p in pages)


def test_the_nbgrader_page_and_a_parallel_run_honour_it_too(tmp_path):
    subs = [make_submission(tmp_path, n, {"losses.py": WRONG}) for n in ("w1", "w2")]
    rubric = _rubric(tmp_path, datetime.now(timezone.utc) + timedelta(days=1))
    out = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["grade", *map(str, subs), "--course", str(MINICOURSE), "--rubric", str(rubric),
                                   "--device", "cpu", "--quiet", "--jobs", "2", "--json", str(out)],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    result = submission_from_dict(doc["submissions"][0])
    assert {t.visibility for t in result.topics["losses"].tests} >= {"hidden", "after_due_date", "after_published"}
    page = feedback_html(result, "losses")
    assert not _names(page, "bad_reduction") and not _names(page, "mse_loss") and "not shown here yet" in page
    shown, withheld = for_students(result)
    assert withheld == sum(1 for t in result.topics["losses"].tests if t.visibility != "visible")
    assert shown.score == result.score and shown.topics["losses"].score == result.topics["losses"].score
