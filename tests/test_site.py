"""``grader report``'s static site (grader.site): the class statistics it shows, that it is
self-contained and safe with hostile ids, and that 300 students take seconds."""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser
from urllib.parse import unquote, urlparse

import pytest
from click.testing import CliRunner

from grader.cli import cli
from grader.site import build_site, common_mistakes, group_stats
from grader.reports import submission_from_dict

HOSTILE = "<script>alert(1)</script>/../x"


def _test(tid, score, max_score=1.0, hint=None, status=None, curves=None, metrics=None):
    t = {"id": tid, "score": score, "max_score": max_score,
         "status": status or ("passed" if score >= max_score else "failed"), "message": "" if score >= max_score
         else "off by 2"}
    if hint:
        t["hint"] = hint
    if curves:
        t["curves"] = curves
    if metrics:
        t["metrics"] = metrics
    return t


def _student(sid, a, b, capstone=None, flags=()):
    """A submission with two tests of losses (a: mse_loss, 2 cases; b: huber_loss) and
    optionally the capstone."""
    tests = [_test("losses::mse_loss[1]", a[0], hint=None if a[0] else "sum instead of mean"),
             _test("losses::mse_loss[2]", a[1], hint=None if a[1] else "sum instead of mean"),
             _test("losses::huber_loss[1]", b, 2.0, hint=None if b == 2 else "delta ignored")]
    topics = {"losses": {"score": sum(a) + b, "max_score": 4.0, "status": "graded", "tests": tests}}
    if capstone is not None:
        acc, swapped = capstone
        topics["training"] = {"score": 0.0, "max_score": 20.0, "status": "graded", "tests": [_test(
            "training::capstone_digits", 0.0, 20.0, hint="look at your init.py",
            curves={"test_accuracy": [0.3, 0.5, acc], "reference_test_accuracy": [0.6, 0.8, 0.95],
                    "train_loss": [2.0, 1.5, 1.2], "reference_train_loss": [1.5, 0.8, 0.4]},
            metrics={"accuracy": acc, **{f"accuracy_with_reference_{k}": v for k, v in swapped.items()}})]}
    total = sum(t["score"] for tp in topics.values() for t in tp["tests"])
    return {"id": sid, "path": sid, "score": total, "max_score": sum(t["max_score"] for t in topics.values()),
            "topics": topics, "flags": list(flags), "timing": {"total_s": 1.5}, "isolation": []}


def _doc(n_extra=0):
    subs = [
        _student("ann", (1, 1), 2),
        _student("ben", (0, 0), 2, capstone=(0.4, {"init": 0.94, "dropout": 0.41})),
        _student(HOSTILE, (1, 0), 0, flags=["forbidden call torch.relu in activations.relu (line 3)"]),
    ]
    for k in range(n_extra):
        subs.append(_student(f"s{k:03d}", (k % 2, 1), 2 * (k % 3 == 0), capstone=(0.5, {"init": 0.6})))
    return {"schema": 1, "submissions": subs}


def test_group_statistics_and_common_mistakes():
    results = [submission_from_dict(d) for d in _doc()["submissions"]]
    groups = {g.group: g for g in group_stats(results)}
    mse, huber = groups["losses::mse_loss"], groups["losses::huber_loss"]
    # mse_loss: ann lost 0, ben 2, the third 1 of 2 points: mean 1, one student full
    assert (mse.max_points, mse.students, mse.full, mse.mean_lost) == (2.0, 3, 1, 1.0)
    assert mse.mistakes == (("sum instead of mean", ("ben", HOSTILE)),)
    assert huber.mean_lost == pytest.approx(2 / 3) and huber.full == 2
    order = [g.group for g in group_stats(results)]
    assert order == ["training::capstone_digits", "losses::mse_loss", "losses::huber_loss"]  # costliest first
    assert common_mistakes(list(groups.values()))[0] == ("sum instead of mean", 2, ["losses::mse_loss"])
    # hints that differ only in a number are one mistake, shown as the first student got it
    doc = _doc()
    doc["submissions"][1]["topics"]["losses"]["tests"][0]["hint"] = "scaled by 1 - p = 0.25"
    doc["submissions"][2]["topics"]["losses"]["tests"][1]["hint"] = "scaled by 1 - p = 0.5"
    again = {g.group: g for g in group_stats([submission_from_dict(d) for d in doc["submissions"]])}
    assert again["losses::mse_loss"].mistakes[0] == ("scaled by 1 - p = 0.25", ("ben", HOSTILE))


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tags, self.lang = [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang")
        for key in ("href", "src"):
            if attrs.get(key):
                self.refs.append(attrs[key])


def test_every_page_is_self_contained_and_every_link_resolves(tmp_path):
    quiz = {"students": [
        {"student": "ann", "quiz": "warmup", "earned": 1.0, "max_points": 1.0, "answers": [
            {"question": "q1", "type": "multiple_choice", "points": 1.0, "given": "a", "parsed": "a", "score": 1.0,
             "earned": 1.0, "format_error": None}]},
        {"student": "ben", "quiz": "warmup", "earned": 0.0, "max_points": 1.0, "answers": [
            {"question": "q1", "type": "multiple_choice", "points": 1.0, "given": "b", "parsed": "b", "score": 0.0,
             "earned": 0.0, "format_error": None}]}]}
    site = build_site(_doc(), tmp_path / "site", [quiz])
    names = sorted(p.relative_to(tmp_path / "site").as_posix() for p in site.pages)
    assert {"index.html", "tests.html", "capstone.html", "quiz-warmup.html"} <= set(names)
    assert len([n for n in names if n.startswith("students/")]) == 3
    for page in site.pages:
        text = page.read_text(encoding="utf-8")
        assert "<script>alert(1)" not in text  # the hostile id is escaped everywhere
        assert not re.search(r"(src|href)=['\"]https?:", text) and "@import" not in text  # nothing from a network
        parser = _Links()
        parser.feed(text)
        assert parser.lang == "en" and "h1" in parser.tags, page
        for ref in parser.refs:
            target = (page.parent / unquote(urlparse(ref).path)).resolve()
            assert target.is_file(), f"{page.name}: {ref} does not resolve"
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert index.count("<svg") == 3 and "forbidden calls: 1 submission(s)" in index  # total, losses, training
    assert "sum instead of mean" in index and "<th" in index
    capstone = (tmp_path / "site" / "capstone.html").read_text(encoding="utf-8")
    assert "<polyline" in capstone and "<td>init</td><td class='num'>1</td>" in capstone
    assert "facility" in (tmp_path / "site" / "quiz-warmup.html").read_text(encoding="utf-8")


def test_three_hundred_students_in_seconds_and_the_cli(tmp_path):
    doc = _doc(300)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    t0 = time.perf_counter()
    res = CliRunner().invoke(cli, ["report", str(path), "-o", str(tmp_path / "site")], catch_exceptions=False)
    elapsed = time.perf_counter() - t0
    assert res.exit_code == 0 and "wrote 306 pages" in res.output, res.output
    assert elapsed < 10, elapsed
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    res = CliRunner().invoke(cli, ["report", str(bad), "-o", str(tmp_path / "x")])
    assert res.exit_code == 2 and "not a results file" in res.output


def test_the_culprit_is_the_module_whose_reference_recovers_the_accuracy():
    from grader.capstone_grading import culprit_hint, culprits

    assert culprits(0.4, {"init": 0.94, "dropout": 0.41}, 0.95) == ["init"]
    assert culprits(0.4, {"init": 0.5, "dropout": 0.45}, 0.95) == ["init"]      # improves most, by > 0.02
    assert culprits(0.4, {"init": 0.41}, 0.95) == []
    assert "init.py" in culprit_hint(0.4, {"init": 0.94, "dropout": 0.41}, 0.95)
