"""The command line, driven through click's CliRunner."""

from __future__ import annotations

import csv
import json

import click
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
        "--json", out / "r.json", "--csv", out / "r.csv", "--gradescope", out / "gs", "--feedback", out / "fb",
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
    assert sorted(p.name for p in (out / "fb").iterdir()) == [f"{s}.{ext}" for s in ("buggy", "empty", "good")
                                                            for ext in ("html", "md")]
    page = (out / "fb" / "buggy.html").read_text(encoding="utf-8")
    assert "\u2717 mse_loss" in page and "likely mistake" in page
    assert (out / "fb" / "buggy.md").read_text(encoding="utf-8").startswith("# Feedback for buggy: 6/10")


def test_single_submission_shows_failing_cases_with_hints(subs):
    result = run("grade", subs["buggy"], "--course", MINICOURSE, "--device", "cpu")
    assert result.exit_code == 0
    assert "  \u2717 mse_loss (0/4): 4 of 4 cases fail" in result.output
    assert "    FAIL [2d-cpu-float32]" in result.output
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


def test_validate_and_stubs_on_a_consistent_course():
    res = run("validate", "--course", MINICOURSE, "--device", "cpu")
    assert res.exit_code == 0, res.output
    assert res.output.count("ok  ") == 6
    # a course without on_device cases runs nothing on the simulated GPU, and says so
    assert "ok   functions run on the simulated GPU by the on_device cases: 0 of 2" in res.output
    assert "     losses: 0 of 2; not run there: mse_loss, cross_entropy" in res.output
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


# -- what a hostile submission controls reaches the terminal escaped --------------------------

ESC = "\x1b"
FORGED = "ALL TESTS PASSED"
HOSTILE_MESSAGE = (f"{ESC}[2J{ESC}[H{ESC}]52;c;cm0gLXJmIH4K\x07{ESC}]8;;http://evil.example{ESC}\\here"
                   f"{ESC}]8;;{ESC}\\\x9b31m\r\nalice  10/10  10/10\n{FORGED}\u202e")
HOSTILE_LOSSES = HONEST_LOSSES.replace(
    "    sq = (input - target) ** 2\n",
    f"    raise type('Bad{ESC}[31mError', (Exception,), {{}})({HOSTILE_MESSAGE!r})\n",
)
HOSTILE_NAME = f"eve{ESC}[32m\r{FORGED}"


def _raw_controls(text: str) -> list[str]:
    """What a terminal would act on, beyond the report's own line breaks."""
    return [ch for ch in text if ch in "\x1b\r\x07\x00\u202e" or 0x80 <= ord(ch) <= 0x9f]


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """One class run: a hostile folder name and exception, formula-like names, a zip named ``...zip``."""
    import zipfile

    root = tmp_path_factory.mktemp("hostile")
    subs = root / "subs"
    paths = [
        make_submission(subs, HOSTILE_NAME, {"losses.py": HOSTILE_LOSSES}),
        make_submission(subs, '=HYPERLINK("evil.example","x")', {"losses.py": HONEST_LOSSES}),
        make_submission(subs, "@SUM(A1)", {"losses.py": HONEST_LOSSES}),
        make_submission(subs, "+1", {"losses.py": HONEST_LOSSES}),
        make_submission(subs, "-2+3", {"losses.py": HONEST_LOSSES}),
    ]
    dots = subs / "...zip"
    with zipfile.ZipFile(dots, "w") as zf:
        zf.writestr("losses.py", BUGGY)
    paths.append(dots)
    out = root / "out"
    result = run("grade", *paths, "--course", MINICOURSE, "--device", "cpu", "--details",
                 "--csv", out / "r.csv", "--gradescope", out / "gs", "--json", out / "r.json")
    assert result.exit_code == 0, result.output
    return root, result.output


def test_a_hostile_submission_prints_nothing_a_terminal_acts_on(hostile_run):
    root, output = hostile_run
    assert not _raw_controls(output)
    lines = output.splitlines()
    # the forged lines never start a line of their own: they are visibly inside the message
    assert not any(line.startswith((FORGED, "alice")) for line in lines)
    case = next(line for line in lines if "[2d-cpu-float32]" in line)
    assert case.startswith("    ERR  [2d-cpu-float32]") and "mse_loss raised Bad\\x1b[31mError: \\x1b[2J\\x1b[H" in case
    assert "\\x1b]52;c;cm0gLXJmIH4K\\x07" in case and "\\x1b]8;;http://evil.example\\x1b\\here" in case
    assert f"\\x9b31m\\r\\nalice  10/10  10/10\\n{FORGED}\\u202e" in case
    assert any(line.startswith("eve__32m_ALL_TESTS_PASSED") for line in lines)  # the table row's id


def test_ids_in_the_csv_never_start_a_formula(hostile_run):
    root, _ = hostile_run
    rows = list(csv.DictReader((root / "out" / "r.csv").open(encoding="utf-8")))
    ids = [r["id"] for r in rows]
    assert len(ids) == 6 and not any(i.startswith(("=", "+", "-", "@", "\t", "\r")) for i in ids)
    assert ids[1:5] == ["_HYPERLINK__evil.example___x__", "'@SUM_A1_", "'+1", "_2+3"]


def test_gradescope_folders_stay_inside_the_folder_given(hostile_run):
    root, _ = hostile_run
    gs = root / "out" / "gs"
    files = sorted(p for p in root.rglob("results.json"))
    assert len(files) == 6 and all(p.parent.parent == gs for p in files)
    assert (gs / "__" / "results.json").is_file()  # the zip named ...zip
    assert not (root / "out" / "results.json").exists() and not (root / "results.json").exists()
    assert sorted(p.name for p in (root / "out").iterdir()) == ["gs", "r.csv", "r.json"]
    doc = json.loads((gs / "eve__32m_ALL_TESTS_PASSED" / "results.json").read_text(encoding="utf-8"))
    text = json.dumps(doc, ensure_ascii=False)
    assert ESC not in text and "\r" not in text and "\x9b" not in text and "\u202e" not in text
    # the JSON results keep the student's text exactly: it is data, and JSON escapes it
    sub = json.loads((root / "out" / "r.json").read_text(encoding="utf-8"))["submissions"][0]
    assert HOSTILE_MESSAGE in sub["topics"]["losses"]["tests"][0]["message"]


def test_an_error_naming_a_hostile_path_is_one_escaped_line(tmp_path):
    res = run("grade", tmp_path / f"gone{ESC}]52;c;eA==\x07\nforged", "--course", MINICOURSE)
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert not _raw_controls(res.output) and "gone\\x1b]52;c;eA==\\x07\\nforged" in res.output


# -- no traps for a newcomer ----------------------------------------------------------------

def test_a_folder_of_submissions_grades_each_of_them(tmp_path):
    """`grader grade class/` (not class/*) grades the students inside, and says so."""
    course = tmp_path / "class"
    make_submission(course, "ann", {"losses.py": HONEST_LOSSES})
    make_submission(course, "bob", {"losses.py": BUGGY})
    (course / "notes").mkdir()  # a folder without topic files is not a student
    out = tmp_path / "r.json"
    result = CliRunner().invoke(cli, ["grade", str(course), "--course", str(MINICOURSE), "--device", "cpu",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert [s["id"] for s in json.loads(out.read_text())["submissions"]] == ["ann", "bob"]
    assert "holds no topic files but 2 submission(s): grading each of them (ann, bob)" in result.output


def test_a_topic_typo_suggests_the_topic():
    result = run("grade", ".", "--topic", "losess")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "'--topic' TOPIC" in result.output or "'--topic'" in result.output
    assert "unknown topic 'losess'; did you mean 'losses'?" in result.output
    assert "activations|losses" not in result.output  # the choices are not the argument's name
    result = run("check", "optimiser")
    assert "Invalid value for '[TOPIC]...'" in result.output and "did you mean 'optimizers'?" in result.output


@pytest.mark.parametrize("group", [[], ["nbgrader"], ["quiz"]])
def test_help_lists_every_command_in_full(group):
    text = run(*group, "--help").output
    listing = text.split("Commands:", 1)[1]
    assert "..." not in listing and "\u2026" not in listing


def test_every_option_has_help():
    from grader.cli import cli as group

    def commands(g):
        for c in g.commands.values():
            yield from commands(c) if isinstance(c, click.Group) else [c]

    undocumented = [f"{c.name} {p.opts[0]}" for c in commands(group) for p in c.params
                    if isinstance(p, click.Option) and not p.help]
    assert undocumented == []
    assert "release" not in run("nbgrader", "--help").output.split("Commands:")[0].split("\n\n")[1]


def test_check_names_the_file_says_public_points_and_can_fail_a_script(subs):
    tests = MINICOURSE / "assignments" / "public_tests"
    res = run("check", "--path", subs["buggy"], "--tests", tests, "--device", "cpu", "--strict")
    assert res.exit_code == 1
    assert "buggy: 0/1 public-test points" in res.output and "likely mistake" in res.output
    assert "checking losses.py (saved " in res.output
    assert "your grade comes from the course's hidden tests" in res.output
    res = run("check", "--path", subs["good"], "--tests", tests, "--device", "cpu", "--strict")
    assert res.exit_code == 0
    assert "good: 1/1 public-test points" in res.output
    missing = run("check", "--path", subs["empty"], "--tests", tests, "--strict")
    assert missing.exit_code == 2 and "nothing to check" in missing.output


def test_check_exits_0_on_failing_public_tests_unless_strict(monkeypatch):
    """A failing public test is the report's business; only --strict makes it the exit status."""
    from grader import selfcheck
    from grader.scoring import SubmissionResult

    failing = selfcheck.CheckReport(("checking losses.py",), (SubmissionResult("me", ".", 0.0, 1.0, {}),))
    monkeypatch.setattr(selfcheck, "run_check", lambda *args, **kwargs: failing)
    assert run("check").exit_code == 0
    assert run("check", "--strict").exit_code == 1
