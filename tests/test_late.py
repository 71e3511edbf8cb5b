"""The late policy (grader.late): points off late submissions, per the rubric, in every
output; a submission without a time is flagged, never guessed."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from click.testing import CliRunner

from grader.cli import cli
from grader.errors import RubricError
from grader.late import LatePolicy, parse_late
from grader.rubric import load_rubric
from tests.conftest import HONEST_LOSSES, MINICOURSE, make_submission

DUE = datetime(2026, 12, 1, 23, 59, tzinfo=timezone(timedelta(hours=1)))


def test_per_day_penalties_count_started_days_after_the_grace_period_up_to_the_cap():
    policy = LatePolicy(grace=timedelta(minutes=15), per_day=10.0, cap=25.0)
    assert policy.fraction_off(DUE - timedelta(hours=1), DUE) == 0.0
    assert policy.fraction_off(DUE + timedelta(minutes=15), DUE) == 0.0           # within the grace period
    assert policy.fraction_off(DUE + timedelta(minutes=16), DUE) == pytest.approx(0.1)  # a started day
    assert policy.fraction_off(DUE + timedelta(days=1, minutes=16), DUE) == pytest.approx(0.2)
    assert policy.fraction_off(DUE + timedelta(days=9), DUE) == pytest.approx(0.25)  # the cap


def test_a_timeline_gives_its_credit_until_each_date_and_none_after():
    policy = LatePolicy(timeline=((DUE + timedelta(days=1), 0.8), (DUE + timedelta(days=3), 0.5)))
    assert policy.fraction_off(DUE, DUE) == 0.0
    assert policy.fraction_off(DUE + timedelta(hours=5), DUE) == pytest.approx(0.2)
    assert policy.fraction_off(DUE + timedelta(days=2), DUE) == pytest.approx(0.5)
    assert policy.fraction_off(DUE + timedelta(days=4), DUE) == pytest.approx(1.0)


def test_the_rubric_section_is_checked(tmp_path):
    for data, due, needle in [
        ({"per_day": 10}, None, "needs the rubric's 'due'"),
        ({"per_day": 10, "timeline": []}, DUE, "either per_day or timeline"),
        ({"per_day": 120}, DUE, "from 0 to 100"),
        ({"timeline": [{"until": "2026-12-03T00:00:00Z", "credit": 0.5},
                       {"until": "2026-12-02T00:00:00Z", "credit": 0.8}]}, DUE, "in order"),
        ({"timeline": [{"until": "2026-12-03T00:00:00", "credit": 0.5}]}, DUE, "time zone"),
        ({"per_day": 10, "weekends": False}, DUE, "unknown key"),
        ({"per_day": 10, "extensions": "nowhere.csv"}, DUE, "cannot read the extensions"),
    ]:
        with pytest.raises(RubricError, match=needle):
            parse_late(data, due, "rubric.yaml", tmp_path)
    (tmp_path / "ext.csv").write_text("student,due\nann,+2\nben,2026-12-10T12:00:00Z\n")
    policy = parse_late({"per_day": 10, "extensions": "ext.csv"}, DUE, "rubric.yaml", tmp_path)
    assert policy.due_for("ann", DUE) == DUE + timedelta(days=2) and policy.due_for("cy", DUE) == DUE
    assert policy.due_for("ben", DUE) == datetime(2026, 12, 10, 12, tzinfo=timezone.utc)


def test_late_submissions_lose_points_in_every_output_and_untimed_ones_are_flagged(tmp_path):
    data = yaml.safe_load((MINICOURSE / "reference" / "rubric.yaml").read_text())
    data["due"] = DUE.isoformat()
    data["late"] = {"per_day": 10, "cap": 25, "grace_minutes": 15, "extensions": "ext.csv"}
    (tmp_path / "rubric.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "ext.csv").write_text("student,due\ncarl,+3\n")
    assert load_rubric(tmp_path / "rubric.yaml").late.extensions["carl"] == DUE + timedelta(days=3)
    subs = [make_submission(tmp_path, n, {"losses.py": HONEST_LOSSES}) for n in ("ann", "ben", "carl", "dora")]
    (tmp_path / "times.csv").write_text("student,time\nann,2026-12-01T23:10:00+01:00\n"
                                        "ben,2026-12-03T10:00:00+01:00\ncarl,2026-12-03T10:00:00+01:00\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, [
        "grade", *map(str, subs), "--course", str(MINICOURSE), "--rubric", str(tmp_path / "rubric.yaml"),
        "--device", "cpu", "--quiet", "--submitted-at", str(tmp_path / "times.csv"), "--json", str(out / "r.json"),
        "--csv", str(out / "g.csv"), "--gradescope", str(out / "gs")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    doc = {s["id"]: s for s in json.loads((out / "r.json").read_text())["submissions"]}
    # ann: on time; ben: 1.42 days late, two started days, 20% off 10; carl: within an extension
    assert {sid: s["score"] for sid, s in doc.items()} == {"ann": 10.0, "ben": 8.0, "carl": 10.0, "dora": 10.0}
    (entry,) = [t for t in doc["ben"]["topics"]["losses"]["tests"] if t["id"] == "losses::late_penalty"]
    assert entry["score"] == -2.0 and entry["max_score"] == 0.0 and "20% off" in entry["message"]
    assert doc["dora"]["flags"] == ["no submission time: the late policy was not applied (a time is never guessed)"]
    rows = {r["id"]: r for r in csv.DictReader((out / "g.csv").open())}
    assert rows["ben"]["total"] == "8" and rows["ann"]["total"] == "10"
    assert json.loads((out / "gs" / "ben" / "results.json").read_text())["score"] == 8.0
    res = CliRunner().invoke(cli, ["grade", str(subs[0]), "--course", str(MINICOURSE), "--device", "cpu",
                                   "--submitted-at", str(tmp_path / "times.csv")])
    assert res.exit_code == 2 and "needs a late policy" in res.output
