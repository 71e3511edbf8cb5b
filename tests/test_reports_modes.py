"""Output files follow the umask, as files made with ``open()`` do; the journal stays private.

Results, CSV and Gradescope files are written atomically through a temporary file. A
temporary file made by ``mkstemp`` is 0600, which would lock the other staff out of a
shared course folder; they come out 0644 under a umask of 022 and 0664 under 002. The
resume journal, which ``--resume`` trusts, is 0600 under any umask.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from grader import nbgrader_bridge as bridge
from grader.journal import Journal, journal_path
from grader.quiz import report as quiz_report
from grader.reports import atomic_write, write_csv, write_gradescope, write_json
from grader.scoring import Outcome, score_test, submission_result, topic_result

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _result(sid: str):
    tests = [score_test("losses::mse_loss[cpu]", Outcome("passed", 1.0), 2.0)]
    return submission_result(sid, f"/subs/{sid}", {"losses": topic_result("losses", tests)}, [], {})


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_results_csv_and_gradescope_files_follow_the_umask(tmp_path, umask):
    expected = 0o666 & ~umask
    results = [_result("ann"), _result("bob")]
    write_json(tmp_path / "out" / "results.json", results)
    write_csv(tmp_path / "out" / "grades.csv", results)
    one = write_gradescope(tmp_path / "gs.json", results[:1])
    many = write_gradescope(tmp_path / "gs", results)
    written = [tmp_path / "out" / "results.json", tmp_path / "out" / "grades.csv", *one, *many]
    assert {str(p.relative_to(tmp_path)): oct(_mode(p)) for p in written} == {
        str(p.relative_to(tmp_path)): oct(expected) for p in written
    }
    # no temporary file is left beside them
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["grades.csv", "results.json"]


def test_a_replaced_private_file_comes_back_as_a_new_file_would(tmp_path, umask):
    path = tmp_path / "results.json"
    path.write_text("{}")
    path.chmod(0o600)
    atomic_write(path, "{}\n")
    assert _mode(path) == 0o666 & ~umask and path.read_text() == "{}\n"


def test_the_other_writers_of_staff_files_follow_the_umask_too(tmp_path, umask):
    expected = 0o666 & ~umask
    course = bridge.NbgraderCourse(tmp_path, "nn101", f"sqlite:///{tmp_path / 'gradebook.db'}")
    course.submitted_dir("lms", "dropout").mkdir(parents=True)
    page = bridge.write_feedback(course, "dropout", _result("lms"))
    quiz_json = tmp_path / "quiz.json"
    quiz_report.write_json([], quiz_json)
    assert (oct(_mode(page)), oct(_mode(quiz_json))) == (oct(expected), oct(expected))


def test_the_resume_journal_is_private_whatever_the_umask(tmp_path, umask):
    results = tmp_path / "results.json"
    path = journal_path(results)
    path.write_text("")  # an earlier journal that anyone in the group could write to
    path.chmod(0o666 & ~umask)
    journal = Journal.open(results, "fp", resume=False)
    assert _mode(path) == 0o600
    journal.record(_result("ann"))
    assert _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left
    assert set(Journal.open(results, "fp", resume=True).done) == {"ann"}
    assert _mode(path) == 0o600
    path.unlink()
    journal.record(_result("bob"))  # made anew by an append
    assert _mode(path) == 0o600
