"""Quiz item analysis (grader.quiz.analysis) against values computed by hand.

Four students, three items: A (1 point, multiple choice), B (1 point; student 4's answer
was unreadable) and C (2 points). Marks and totals:

    student   A  B  C   total
    s1        1  1  2   4
    s2        1  0  2   3
    s3        0  1  0   1
    s4        0  0  0   0      (B: a format error)

Item A: x = (1, 1, 0, 0), rest of the quiz X - x = (3, 2, 1, 0). mean(x) = 1/2, so the
facility is 50 %; V(x) = 4 (1/4) / 3 = 1/3, SD = sqrt(1/3) = 57.735 %; mean(rest) = 3/2,
C(x, rest) = (3/4 + 1/4 + 1/4 + 3/4) / 3 = 2/3, V(rest) = (9/4 + 1/4 + 1/4 + 9/4) / 3 = 5/3,
r = (2/3) / sqrt(1/3 * 5/3) = 2 / sqrt(5) = 0.894427: discrimination 89.443 %. Sorted
together the pairs are the same, so Cmax = 2/3 and the efficiency is 100 %.

Item B: x = (1, 0, 1, 0), rest = (3, 3, 0, 0): C = (3/4 - 3/4 - 3/4 + 3/4) / 3 = 0, so the
discrimination and the efficiency are 0 (Cmax of the sorted lists is 1).

Item C: x = (2, 2, 0, 0) out of 2, rest = (2, 1, 1, 0): facility 50 %, V(x) = 4/3, SD =
sqrt(4/3) / 2 = 57.735 %; C = (1 + 0 + 0 + 1) / 3 = 2/3, V(rest) = 2/3,
r = (2/3) / sqrt(4/3 * 2/3) = 1 / sqrt(2) = 0.707107: 70.711 %; efficiency 100 %.

Item A's choices (s1, s2: b; s3: a; s4: c), against totals T = (4, 3, 1, 0), mean 2,
V(T) = 10/3: for b, I = (1, 1, 0, 0), C(I, T) = (1 + 1/2 + 1/2 + 1) / 3 = 1, V(I) = 1/3,
r = 1 / sqrt(10/9) = 3 / sqrt(10) = 0.948683; for a, I = (0, 0, 1, 0),
C = (-1/2 - 1/4 - 3/4 + 1/2) / 3 = -1/3, V(I) = 1/4, r = (-1/3) / sqrt(10/12) = -0.365148.
"""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from grader.cli import cli
from grader.quiz.analysis import analyse, analysis_to_dict, render_analysis

MARKS = {"s1": (1, 1, 2), "s2": (1, 0, 2), "s3": (0, 1, 0), "s4": (0, 0, 0)}
CHOICE = {"s1": "b", "s2": "b", "s3": "a", "s4": "c"}


def _records():
    out = []
    for sid, (a, b, c) in MARKS.items():
        answers = [
            {"question": "A", "type": "multiple_choice", "points": 1.0, "given": CHOICE[sid], "parsed": CHOICE[sid],
             "score": float(a), "earned": float(a), "format_error": None},
            {"question": "B", "type": "numeric", "points": 1.0, "given": "?" if sid == "s4" else "1",
             "parsed": None if sid == "s4" else 1.0, "score": float(b), "earned": float(b),
             "format_error": "expected a number" if sid == "s4" else None},
            {"question": "C", "type": "numeric", "points": 2.0, "given": "2", "parsed": 2.0, "score": c / 2,
             "earned": float(c), "format_error": None},
        ]
        out.append({"student": sid, "quiz": "q", "earned": float(a + b + c), "max_points": 4.0, "error": None,
                    "answers": answers})
    out.append({"student": "unreadable", "quiz": "q", "earned": 0.0, "max_points": 4.0, "error": "bad YAML",
                "answers": []})
    return out


def test_item_statistics_match_the_hand_computed_values():
    analysis = analyse(_records())
    assert analysis.students == 4 and analysis.mean_total == 2.0
    a, b, c = analysis.items
    assert a.facility == pytest.approx(50.0) and a.sd == pytest.approx(100 * math.sqrt(1 / 3))
    assert a.discrimination == pytest.approx(100 * 2 / math.sqrt(5)) and a.efficiency == pytest.approx(100.0)
    assert b.discrimination == pytest.approx(0.0) and b.efficiency == pytest.approx(0.0)
    assert c.facility == pytest.approx(50.0) and c.sd == pytest.approx(100 * math.sqrt(4 / 3) / 2)
    assert c.discrimination == pytest.approx(100 / math.sqrt(2)) and c.efficiency == pytest.approx(100.0)
    # a format error is 0 points in the statistics, but is not counted as a wrong answer
    assert (b.full_marks, b.wrong, b.format_errors, b.blank) == (2, 1, 1, 0)


def test_choices_get_counts_and_point_biserials():
    (a, _, _) = analyse(_records()).items
    by_label = {c.label: c for c in a.choices}
    assert by_label["b"].chosen == 2 and by_label["b"].share == pytest.approx(0.5)
    assert by_label["b"].point_biserial == pytest.approx(3 / math.sqrt(10))
    assert by_label["a"].point_biserial == pytest.approx((-1 / 3) / math.sqrt(10 / 12))
    assert by_label["c"].chosen == 1


def test_negative_discrimination_and_attractive_distractors_are_flagged():
    records = _records()
    for r in records[:4]:  # a wrong key: the strong students "fail" A, the weak ones "pass" it
        first = r["answers"][0]
        first["score"] = first["earned"] = 1.0 - first["earned"]
        r["earned"] = sum(x["earned"] for x in r["answers"])

    class Quiz:
        class Q:
            id, type = "A", "multiple_choice"
            choices = [type("C", (), {"key": k, "correct": k == "a"})() for k in "abcd"]
        questions = [Q]

    (a, _, _) = analyse(records, Quiz).items
    assert a.discrimination < 0 and any("negative discrimination" in f for f in a.flags)
    assert any(f.startswith("choice b is wrong but chosen more by students with higher totals") for f in a.flags)
    assert [c.label for c in a.choices] == ["a", "b", "c", "d"] and a.choices[3].chosen == 0
    assert "! A: negative discrimination" in render_analysis(analyse(records, Quiz))
    assert analysis_to_dict(analyse(records, Quiz))["items"][0]["choices"][0]["correct"] is True


def test_too_few_students_give_no_statistic_rather_than_a_wrong_one():
    (a, _, c) = analyse(_records()[:1]).items
    assert a.sd is None and a.discrimination is None and a.efficiency is None and a.facility == 100.0


def test_cli_reads_quiz_grade_output(tmp_path):
    path = tmp_path / "quiz.json"
    path.write_text(json.dumps({"students": _records()}))
    out = tmp_path / "items.json"
    res = CliRunner().invoke(cli, ["quiz", "analyse", str(path), "--json", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "q: 4 students, mean total 2/4" in res.output and "89.4" in res.output
    assert json.loads(out.read_text())["items"][2]["discrimination"] == pytest.approx(100 / math.sqrt(2))
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    res = CliRunner().invoke(cli, ["quiz", "analyse", str(bad)])
    assert res.exit_code == 2 and "not the output of grader quiz grade --json" in res.output
