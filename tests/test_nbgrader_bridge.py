"""The nbgrader bridge on its own: course folder, release content, gradebook writes, feedback."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from grader import nbgrader_bridge as bridge
from grader.cli import cli
from grader.course import Course
from grader.errors import UsageError
from grader.notebooks import grade_id
from grader.scoring import SubmissionResult, TopicResult
from grader.scoring import TestResult as CaseResult
from grader.topics import TOPICS
from tests.nbgrader_helpers import solution_lines

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)

if os.environ.get("GRADER_REQUIRE_NBGRADER") != "1":
    pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e '.[test]')")


@pytest.fixture
def alembic_on_path(monkeypatch):
    """A new gradebook asks the `alembic` command for its schema version."""
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))


# -- init -----------------------------------------------------------------------------

def test_init_writes_config_and_a_source_folder_per_topic(tmp_path):
    written = bridge.init_course(tmp_path, COURSE, "nn101", ("losses", "dropout"), exchange="/srv/exchange")
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    assert names == {
        "nbgrader_config.py",
        "source/losses/losses.ipynb", "source/losses/public_tests/test_losses.py",
        "source/losses/public_tests/rubric.yaml",
        "source/dropout/dropout.ipynb", "source/dropout/public_tests/test_dropout.py",
        "source/dropout/public_tests/rubric.yaml",
    }
    course = bridge.load_course(tmp_path)
    assert course.course_id == "nn101" and course.root == tmp_path.resolve()
    assert course.db_url == f"sqlite:///{tmp_path.resolve() / 'gradebook.db'}"
    assert "c.Exchange.root = '/srv/exchange'" in (tmp_path / "nbgrader_config.py").read_text()
    rubric = yaml.safe_load((tmp_path / "source/losses/public_tests/rubric.yaml").read_text())
    assert list(rubric["topics"]) == ["losses"]
    nb = json.loads((tmp_path / "source/losses/losses.ipynb").read_text())
    graded = [c["metadata"]["nbgrader"] for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")]
    by_id = {m["grade_id"]: m["points"] for m in graded}
    assert by_id.pop(grade_id("losses")) == 100.0  # the rubric's points
    assert set(by_id.values()) == {0.0}  # the helper cells carry nothing


def test_init_keeps_an_edited_config_and_rewrites_sources(tmp_path):
    bridge.init_course(tmp_path, COURSE, "nn101", ("dropout",))
    config = tmp_path / "nbgrader_config.py"
    config.write_text(config.read_text() + "\nc.Execute.timeout = 5  # mine\n")
    (tmp_path / "source/dropout/dropout.ipynb").write_text("stale")
    written = bridge.init_course(tmp_path, COURSE, "other", ("dropout",))
    assert config not in written and "# mine" in config.read_text()
    assert json.loads((tmp_path / "source/dropout/dropout.ipynb").read_text())["nbformat"] == 4


@pytest.mark.parametrize("course_id", ["", "two words", "../up", "-x"])
def test_init_refuses_a_bad_course_id(tmp_path, course_id):
    with pytest.raises(UsageError, match="course id"):
        bridge.init_course(tmp_path, COURSE, course_id, ("dropout",))
    assert not list(tmp_path.iterdir())


def test_load_course_errors_are_one_line(tmp_path):
    with pytest.raises(UsageError, match="no nbgrader_config.py here"):
        bridge.load_course(tmp_path)
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nraise RuntimeError('typo')\n")
    with pytest.raises(UsageError, match="cannot be read .*typo") as info:
        bridge.load_course(tmp_path)
    assert "\n" not in str(info.value)
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    with pytest.raises(UsageError, match="course_id"):
        bridge.load_course(tmp_path)


@pytest.mark.parametrize("topic", list(TOPICS))
def test_nbgraders_own_release_step_leaves_no_solution_and_runnable_cells(tmp_path, topic):
    """nbgrader's ClearSolutions and ClearHiddenTests, as generate_assignment runs them."""
    nbformat = pytest.importorskip("nbformat")
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    bridge.init_course(tmp_path, COURSE, "nn101", (topic,))
    nb = nbformat.read(tmp_path / "source" / topic / f"{topic}.ipynb", as_version=4)
    nbformat.validate(nb)
    resources = {"language": "python"}
    for step in (ClearSolutions(), ClearHiddenTests()):
        nb, resources = step.preprocess(nb, resources)
    text = "\n".join(c.source for c in nb.cells)
    reference = (ROOT / "reference" / f"{topic}.py").read_text(encoding="utf-8")
    released = {line.strip() for line in text.splitlines()}
    leaked = [line for line in _solution_lines(reference, topic) if line in released]
    assert not leaked, leaked[:3]
    for cell in nb.cells:
        if cell.cell_type == "code":
            compile(cell.source, f"{topic} cell", "exec")  # every released cell still runs
    assert "raise NotImplementedError()" in text


def _solution_lines(reference: str, topic: str) -> list[str]:
    """Distinctive lines of the model solution: inside a region, and not in what students get anyway."""
    return solution_lines(reference, topic)


# -- collected submissions --------------------------------------------------------------

def _course(tmp_path) -> bridge.NbgraderCourse:
    return bridge.NbgraderCourse(tmp_path, "nn101", f"sqlite:///{tmp_path / 'gradebook.db'}")


def test_collected_lists_students_and_names_what_is_missing(tmp_path):
    course = _course(tmp_path)
    with pytest.raises(UsageError, match="nbgrader collect dropout"):
        bridge.collected(course, "dropout")
    for s in ("zoe", "adam"):
        (tmp_path / "submitted" / s / "dropout").mkdir(parents=True)
    (tmp_path / "submitted" / "eve" / "losses").mkdir(parents=True)
    assert [s.id for s in bridge.collected(course, "dropout")] == ["adam", "zoe"]
    assert [s.id for s in bridge.collected(course, "dropout", ("zoe",))] == ["zoe"]
    with pytest.raises(UsageError, match="'eve'"):
        bridge.collected(course, "dropout", ("eve",))


def test_assignments_are_topics():
    assert bridge.topic_of("dropout") == "dropout"
    with pytest.raises(UsageError, match="not a course topic"):
        bridge.topic_of("hw1")


def test_submission_time_reads_nbgraders_timestamp(tmp_path):
    (tmp_path / "timestamp.txt").write_text("2026-11-20 09:00:00.5 UTC")
    stamp = bridge.submission_time(tmp_path)
    assert (stamp.year, stamp.hour, stamp.microsecond, stamp.tzinfo) == (2026, 9, 500000, None)
    (tmp_path / "timestamp.txt").write_text("not a time")
    assert bridge.submission_time(tmp_path) is None
    assert bridge.submission_time(tmp_path / "nowhere") is None
    # the file comes with the submission: a pipe, a link or a huge file costs nothing
    import os

    (tmp_path / "timestamp.txt").unlink()
    os.mkfifo(tmp_path / "timestamp.txt")
    assert bridge.submission_time(tmp_path) is None
    (tmp_path / "timestamp.txt").unlink()
    (tmp_path / "real.txt").write_text("2026-11-20 09:00:00 UTC")
    (tmp_path / "timestamp.txt").symlink_to(tmp_path / "real.txt")
    assert bridge.submission_time(tmp_path) is None
    (tmp_path / "timestamp.txt").unlink()
    (tmp_path / "timestamp.txt").write_text("2026-11-20 09:00:00 UTC" + " " * 10_000_000 + "x")
    assert bridge.submission_time(tmp_path).hour == 9  # only the start is read


# -- gradebook --------------------------------------------------------------------------

def _result(student: str, score: float, max_score: float = 50.0, topic: str = "dropout") -> SubmissionResult:
    test = CaseResult(f"{topic}::t", score, max_score, "passed" if score == max_score else "failed", "msg")
    t = TopicResult(topic, score, max_score, "graded", (test,))
    return SubmissionResult(student, "x", score, max_score, {topic: t})


def test_cell_score_scales_the_topic_to_the_cells_points():
    assert bridge.cell_score(_result("a", 25.0).topics["dropout"], 100.0) == 50.0
    assert bridge.cell_score(None, 100.0) == 0.0
    missing = TopicResult("dropout", 0.0, 50.0, "missing", ())
    assert bridge.cell_score(missing, 100.0) == 0.0


@pytest.fixture
def gradebook(tmp_path, alembic_on_path):
    from nbgrader.api import Gradebook

    course = _course(tmp_path)
    gb = Gradebook(course.db_url, course_id="nn101")
    gb.add_assignment("dropout")
    gb.add_notebook("dropout", "dropout")
    gb.add_grade_cell(grade_id("dropout"), "dropout", "dropout", max_score=100, cell_type="code")
    gb.add_grade_cell("dropout_helpers_3", "dropout", "dropout", max_score=0, cell_type="code")
    gb.add_grade_cell("essay", "dropout", "dropout", max_score=5, cell_type="markdown")
    yield course, gb
    gb.close()


def test_write_grade_files_auto_scores_only_and_is_idempotent(gradebook):
    course, gb = gradebook
    folder = course.submitted_dir("ann", "dropout")
    folder.mkdir(parents=True)
    (folder / "timestamp.txt").write_text("2026-11-21 10:30:00 UTC")
    entry = bridge.write_grade(gb, course, "dropout", _result("ann", 40.0))
    assert entry.created_submission and entry.auto_score == 80.0 and entry.max_score == 100.0
    assert gb.find_submission("dropout", "ann").timestamp.hour == 10
    assert gb.find_grade("dropout_helpers_3", "dropout", "dropout", "ann").auto_score == 0.0
    essay = gb.find_grade("essay", "dropout", "dropout", "ann")
    assert essay.auto_score is None and essay.needs_manual_grade  # the instructor's own cell
    ours = gb.find_grade(grade_id("dropout"), "dropout", "dropout", "ann")
    ours.manual_score = 90.0
    gb.db.commit()
    again = bridge.write_grade(gb, course, "dropout", _result("ann", 45.0))
    assert not again.created_submission and again.manual_score == 90.0 and again.auto_score == 90.0
    assert ours.manual_score == 90.0  # never touched
    assert len(gb.assignment_submissions("dropout")) == 1


def test_a_late_penalty_goes_to_nbgraders_own_field(gradebook):
    """The grade cell keeps the raw score and late_submission_penalty holds the points off,
    so `nbgrader export` shows raw score, penalty and score as for its own late policy."""
    from datetime import datetime, timezone

    from grader.late import LatePolicy, apply_late

    course, gb = gradebook
    due = datetime(2026, 11, 20, tzinfo=timezone.utc)
    late = apply_late(_result("ann", 40.0), LatePolicy(per_day=10.0), due, datetime(2026, 11, 21, 10, 30))
    assert late.score == 32.0  # 1.44 days late: two started days, 20% off 40 of 50
    entry = bridge.write_grade(gb, course, "dropout", late)
    assert entry.auto_score == 80.0  # 40/50 scaled to the cell's 100, before the penalty
    assert gb.find_submission_notebook("dropout", "dropout", "ann").late_submission_penalty == 16.0
    on_time = bridge.write_grade(gb, course, "dropout", _result("ann", 40.0))
    assert on_time.auto_score == 80.0
    assert gb.find_submission_notebook("dropout", "dropout", "ann").late_submission_penalty == 0.0


def test_write_grade_needs_the_generated_assignment(gradebook):
    course, gb = gradebook
    with pytest.raises(UsageError, match="generate_assignment losses"):
        bridge.write_grade(gb, course, "losses", _result("ann", 1.0, topic="losses"))


def test_open_gradebook_never_creates_one(tmp_path):
    with pytest.raises(UsageError, match="no gradebook"):
        bridge.open_gradebook(_course(tmp_path))
    assert not (tmp_path / "gradebook.db").exists()


# -- feedback ---------------------------------------------------------------------------

def test_feedback_goes_where_release_feedback_or_the_lms_takes_it(tmp_path):
    course = _course(tmp_path)
    exchange = course.submitted_dir("ann", "dropout")
    exchange.mkdir(parents=True)
    (exchange / "timestamp.txt").write_text("2026-11-21 10:30:00 UTC")
    (exchange / "submission_secret.txt").write_text("s3cret")
    course.submitted_dir("lms", "dropout").mkdir(parents=True)
    page = bridge.write_feedback(course, "dropout", _result("ann", 40.0))
    assert page == course.feedback_dir("ann", "dropout") / "dropout.html"
    assert (page.parent / "submission_secret.txt").read_text() == "s3cret"
    assert (page.parent / "timestamp.txt").is_file()
    other = bridge.write_feedback(course, "dropout", _result("lms", 50.0))
    assert other == tmp_path / "lms_feedback" / "dropout" / "lms.html"
    assert not list(tmp_path.rglob("*.tmp"))


def test_feedback_html_escapes_what_student_code_controls():
    test = CaseResult("dropout::t", 0.0, 1.0, "error", "<script>alert(1)</script>", hint="a & b")
    r = SubmissionResult("<b>ann</b>", "x", 0.0, 1.0,
                         {"dropout": TopicResult("dropout", 0.0, 1.0, "graded", (test,))}, flags=("<i>flag</i>",))
    page = bridge.feedback_html(r, "dropout")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<b>ann</b>" not in page and "<i>flag</i>" not in page and "a &amp; b" in page


# -- the command line -------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["grade", "--nbgrader", "."], "--nbgrader needs --assignment"),
    (["grade", "x", "--nbgrader", ".", "--assignment", "dropout"], "not both"),
    (["grade", "x", "--student", "ann"], "go with --nbgrader"),
    (["grade"], "at least one SUBMISSION"),
    (["grade", "--nbgrader", "nowhere", "--assignment", "dropout"], "no nbgrader_config.py"),
])
def test_grade_usage_errors(args, message):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_nbgrader_init_command(tmp_path):
    result = CliRunner().invoke(cli, ["nbgrader", "init", str(tmp_path / "c"), "--course-id", "nn101",
                                      "--topic", "dropout"])
    assert result.exit_code == 0, result.output
    assert "wrote source/dropout/dropout.ipynb" in result.output
    assert "nbgrader generate_assignment" in result.output


# -- student ids as file names ----------------------------------------------------------------

def test_feedback_pages_are_named_by_safe_distinct_file_names(tmp_path):
    course = _course(tmp_path)
    odd, plain, lms = "ann b", "ann_b", "x\x1b[31m\r.."
    for student in (odd, plain):
        folder = course.submitted_dir(student, "dropout")
        folder.mkdir(parents=True)
        (folder / "submission_secret.txt").write_text("s3cret")
    course.submitted_dir(lms, "dropout").mkdir(parents=True)
    assert course.file_name(plain) == plain  # an ordinary id is nbgrader's folder name as it is
    odd_page = bridge.write_feedback(course, "dropout", _result(odd, 40.0))
    plain_page = bridge.write_feedback(course, "dropout", _result(plain, 45.0))
    lms_page = bridge.write_feedback(course, "dropout", _result(lms, 50.0))
    assert plain_page == tmp_path / "feedback" / "ann_b" / "dropout" / "dropout.html"
    assert odd_page.parent.parent.parent == tmp_path / "feedback" and odd_page.parts[-3].startswith("ann_b-")
    assert lms_page == tmp_path / "lms_feedback" / "dropout" / "x__31m___.html"
    assert "40" in odd_page.read_text() and "45" in plain_page.read_text()  # neither overwrote the other
    assert course.file_name(odd) == odd_page.parts[-3]  # stable


def test_the_gradebook_keeps_nbgraders_own_id(gradebook):
    course, gb = gradebook
    student = "ann b"
    course.submitted_dir(student, "dropout").mkdir(parents=True)
    entry = bridge.write_grade(gb, course, "dropout", _result(student, 40.0))
    assert entry.student == student and gb.find_student(student).id == student


@pytest.mark.parametrize("student", ["..", "../source", "a/b", "", "x\x1b[2J"])
def test_student_option_must_name_a_folder(tmp_path, student):
    course = _course(tmp_path)
    (tmp_path / "submitted" / "ann" / "dropout").mkdir(parents=True)
    with pytest.raises(UsageError) as err:
        bridge.collected(course, "dropout", (student,))
    assert "\x1b" not in str(err.value) and "\n" not in str(err.value)
