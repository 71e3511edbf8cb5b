"""nbgrader courses: the course folder, grading collected submissions, the gradebook.

nbgrader keeps what it does well: ``generate_assignment`` and ``release_assignment``,
the exchange (``fetch_assignment``, ``submit``, ``collect``), ``zip_collect`` for LMS
downloads, the gradebook, ``export``, the formgrader and ``release_feedback``. The
grading itself runs here, in the sandbox, instead of ``nbgrader autograde``:

- ``init_course`` writes ``nbgrader_config.py`` and ``source/<topic>/`` for every topic:
  the instructor notebook (solution regions, one grade cell carrying the topic's points)
  and the public self-check tests. The hidden suites and the reference stay in the
  course's ``reference/`` folder, which nbgrader never sees.
- ``collected`` finds ``submitted/<student>/<assignment>/`` folders.
- ``write_grade`` files one graded submission in the gradebook: the topic's score goes
  into the grade cell's ``auto_score`` (never ``manual_score``), and re-running replaces
  the previous automatic score.
- ``write_feedback`` puts an HTML report where ``nbgrader release_feedback`` looks.

Student ids stay exactly nbgrader's in the gradebook (they are its keys); where one names
a file or folder the grader writes (feedback pages) it is made a safe file name first
(:func:`grader.textsafe.safe_filenames`), which leaves every ordinary id as it is.

nbgrader is imported only by the functions that need its gradebook, so the rest of the
grader works without it.
"""

from __future__ import annotations

import re
import shutil
import warnings
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from grader.course import Course
from grader.errors import GraderError, UsageError
from grader.late import late_points
from grader.notebooks import build_notebook, dumps, grade_id
from grader.rubric import load_rubric
from grader.scoring import SubmissionResult, TopicResult
from grader.submission import Submission
from grader.textsafe import safe_filenames, terminal
from grader.topics import TOPICS

CONFIG_NAME = "nbgrader_config.py"
LMS_FEEDBACK = "lms_feedback"
_COURSE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class NbgraderCourse:
    """An nbgrader course folder and the settings the grader needs from its config."""

    root: Path
    course_id: str
    db_url: str
    submitted: str = "submitted"
    feedback: str = "feedback"

    def submitted_dir(self, student: str, assignment: str) -> Path:
        return self.root / self.submitted / student / assignment

    def feedback_dir(self, student: str, assignment: str) -> Path:
        return self.root / self.feedback / self.file_name(student) / assignment

    def file_name(self, student: str) -> str:
        """``student`` as the name of a file or folder the grader writes: the id itself
        when it is a safe file name, else a safe one, distinct from every other
        student's in ``submitted/`` (see :func:`grader.textsafe.safe_filenames`)."""
        base = self.root / self.submitted
        try:
            others = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
        except OSError:
            others = []
        # nbgrader's own folders already tell these ids apart on this file system
        return safe_filenames([*others, student], ignore_case=False)[student]


# -- init ---------------------------------------------------------------------------

_CONFIG = '''\
# nbgrader configuration for the course {course_id!r}, written by `grader nbgrader init`.
# nbgrader's own commands read it; `grader grade --nbgrader` reads the course id, the
# gradebook and the folder names from it. Edit freely: `init` never overwrites it.
import os

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
{exchange}
# Solution regions become this stub in the release (inside function bodies only).
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}

# `nbgrader zip_collect`: files in downloaded/<assignment>/archive/ named like
# <anything>_<student id>_attempt_<timestamp>_<file> (Blackboard's naming). Change the
# pattern to your LMS's; students may hand in the notebook or the .py module.
c.FileNameCollectorPlugin.named_regexp = (
    r".*_(?P<student_id>[A-Za-z0-9.-]+)_attempt_(?P<timestamp>[0-9\\-]+)_(?P<file_id>.*)"
)
c.FileNameCollectorPlugin.valid_ext = [".ipynb", ".py"]

# Grade with `grader grade --nbgrader . --assignment <topic>`, not `nbgrader autograde`:
# autograde runs student code in a kernel that can read this folder, and would
# overwrite the scores the grader wrote with the self-check's pass/fail.
'''


def init_course(
    target: Path, course: Course, course_id: str, topics: tuple[str, ...] = (), exchange: str | None = None,
) -> list[Path]:
    """Write ``nbgrader_config.py`` (unless present) and ``source/<topic>/``; returns what was written."""
    if not _COURSE_ID.match(course_id):
        raise UsageError(f"course id {course_id!r}: use letters, digits, '.', '_' and '-' only")
    chosen = topics or tuple(TOPICS)
    unknown = [t for t in chosen if t not in TOPICS]
    if unknown:
        raise UsageError(f"unknown topic {unknown[0]!r}; topics are: {', '.join(TOPICS)}")
    rubric = load_rubric(course.rubric_path)
    public = course.public_tests_dir / "rubric.yaml"
    public_doc = yaml.safe_load(public.read_text(encoding="utf-8")) if public.is_file() else None
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    config = target / CONFIG_NAME
    if not config.exists():
        line = f"c.Exchange.root = {exchange!r}\n" if exchange else ""
        config.write_text(_CONFIG.format(course_id=course_id, exchange=line), encoding="utf-8")
        written.append(config)
    for topic in chosen:
        ref = course.reference_dir / f"{topic}.py"
        if not ref.is_file():
            raise UsageError(f"{ref}: the course has no reference for {topic!r}")
        points = rubric.topics[topic].points if topic in rubric.topics else 0.0
        folder = target / "source" / topic
        folder.mkdir(parents=True, exist_ok=True)
        nb = build_notebook(topic, ref.read_text(encoding="utf-8"), solutions=True, points=points,
                            title=TOPICS[topic].title, filename=str(ref))
        path = folder / f"{topic}.ipynb"
        path.write_text(dumps(nb), encoding="utf-8")
        written.append(path)
        written.extend(_public_tests(course, folder, topic, public_doc))
    return written


def _public_tests(course: Course, folder: Path, topic: str, public_doc: dict | None) -> list[Path]:
    """The topic's public tests and a rubric for them alone: the self-check's input."""
    test = course.public_tests_dir / f"test_{topic}.py"
    if public_doc is None or not test.is_file() or topic not in (public_doc.get("topics") or {}):
        return []
    dest = folder / "public_tests"
    dest.mkdir(exist_ok=True)
    shutil.copyfile(test, dest / test.name)
    doc = {k: v for k, v in public_doc.items() if k != "topics"}
    doc["topics"] = {topic: public_doc["topics"][topic]}
    rubric = dest / "rubric.yaml"
    rubric.write_text("# Public self-check tests of this topic.\n" + yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return [dest / test.name, rubric]


# -- reading a course -----------------------------------------------------------------

def load_course(root: Path) -> NbgraderCourse:
    """The nbgrader course in ``root``, read from its ``nbgrader_config.py`` the way nbgrader does."""
    config = root / CONFIG_NAME
    if not config.is_file():
        raise UsageError(f"{root}: no {CONFIG_NAME} here; create the course with `grader nbgrader init {root}`")
    try:
        from traitlets.config.loader import PyFileConfigLoader
    except ImportError:
        raise UsageError("nbgrader is not installed: pip install nbgrader") from None
    try:
        cfg = PyFileConfigLoader(CONFIG_NAME, path=str(root)).load_config()
    except Exception as exc:  # the config is instructor code; report it in one line
        raise UsageError(f"{config}: cannot be read ({type(exc).__name__}: {exc})") from None
    cd = cfg.get("CourseDirectory", {})
    course_id = str(cd.get("course_id", "") or "")
    if not course_id:
        raise UsageError(f"{config}: set c.CourseDirectory.course_id")
    base = Path(str(cd.get("root", root) or root))
    db_url = str(cd.get("db_url", "") or f"sqlite:///{(base / 'gradebook.db').resolve()}")
    return NbgraderCourse(
        base.resolve(), course_id, db_url,
        str(cd.get("submitted_directory", "submitted")), str(cd.get("feedback_directory", "feedback")),
    )


def topic_of(assignment: str) -> str:
    """The course topic an assignment grades (``init`` names assignments after topics)."""
    if assignment not in TOPICS:
        raise UsageError(f"assignment {assignment!r} is not a course topic; assignments are named "
                         f"after topics: {', '.join(TOPICS)}")
    return assignment


def collected(course: NbgraderCourse, assignment: str, students: tuple[str, ...] = ()) -> list[Submission]:
    """One submission per ``submitted/<student>/<assignment>/`` folder (all, or the students named)."""
    base = course.root / course.submitted
    if students:
        odd = [s for s in students if not _plain_folder_name(s)]
        if odd:
            raise UsageError(f"--student '{terminal(odd[0])}' is not a student id: ids are folder names "
                             f"in {base}, without '/' or control characters")
        missing = [s for s in students if not course.submitted_dir(s, assignment).is_dir()]
        if missing:
            raise UsageError(f"no collected submission of {assignment!r} for '{terminal(missing[0])}' "
                             f"(looked in {course.submitted_dir(missing[0], assignment)})")
        ids = list(students)
    else:
        ids = sorted(p.parent.name for p in base.glob(f"*/{assignment}") if p.is_dir()) if base.is_dir() else []
    if not ids:
        raise UsageError(f"no collected submissions of {assignment!r} in {base}; run `nbgrader collect "
                         f"{assignment}` or `nbgrader zip_collect {assignment}` first")
    return [Submission(s, course.submitted_dir(s, assignment)) for s in ids]


def _plain_folder_name(name: str) -> bool:
    """One path component: not empty, ``.`` or ``..``; no separator, NUL or control character."""
    return name not in ("", ".", "..") and not any(ch in "/\\" or ord(ch) < 32 or ord(ch) == 127 for ch in name)


def _small_text(path: Path, limit: int = 256) -> str:
    """The start of a regular file the submission controls: never follows a link, never
    waits on a pipe, never reads more than ``limit`` bytes."""
    import os
    import stat

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        return os.read(fd, limit).decode("utf-8")
    finally:
        os.close(fd)


def submission_time(folder: Path) -> datetime | None:
    """nbgrader's ``timestamp.txt`` of a collected submission, as naive UTC; None if absent
    or unreadable. The file comes with the submission, so it is read as a small regular
    file at most (and, as in nbgrader, a student who can write to the exchange can set it:
    ``grader grade --submitted-at`` takes times from the LMS instead)."""
    try:
        text = _small_text(folder / "timestamp.txt").strip()
        from nbgrader.utils import parse_utc

        stamp = parse_utc(text)
    except Exception:  # no file, not text, not a time, or no nbgrader: the gradebook keeps its own
        return None
    if not isinstance(stamp, datetime):
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(timezone.utc).replace(tzinfo=None)
    return stamp


# -- gradebook --------------------------------------------------------------------------

def cell_score(topic: TopicResult | None, max_score: float) -> float:
    """The grade cell's score: the topic's share of its points, scaled to the cell's points."""
    if topic is None or topic.max_score <= 0 or topic.status == "missing":
        return 0.0
    return round(max_score * topic.score / topic.max_score, 4)


@dataclass(frozen=True)
class GradebookEntry:
    student: str
    assignment: str
    auto_score: float
    max_score: float
    manual_score: float | None
    created_submission: bool


def write_grade(gb: Any, course: NbgraderCourse, assignment: str, result: SubmissionResult) -> GradebookEntry:
    """File one result in an open nbgrader ``Gradebook``: auto scores only, idempotent."""
    from nbgrader.api import MissingEntry

    topic = topic_of(assignment)
    student = result.id
    try:
        gb.find_student(student)
    except MissingEntry:
        gb.add_student(student)
    try:
        notebook = gb.find_notebook(topic, assignment)
    except MissingEntry:
        raise UsageError(f"the gradebook has no notebook {topic!r} in {assignment!r}; run "
                         f"`nbgrader generate_assignment {assignment}` first") from None
    created = False
    stamp = submission_time(course.submitted_dir(student, assignment))
    try:
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        with warnings.catch_warnings():  # nbgrader's own add_submission trips SQLAlchemy's autoflush notes
            warnings.simplefilter("ignore")
            submission = gb.add_submission(assignment, student, **({"timestamp": stamp} if stamp else {}))
        created = True
    if stamp is not None and submission.timestamp != stamp:
        submission.timestamp = stamp
    auto = manual = None
    max_score = 0.0
    for cell in notebook.grade_cells:
        grade = gb.find_grade(cell.name, topic, assignment, student)
        if cell.name == grade_id(topic):
            max_score = float(cell.max_score or 0.0)
            # a late penalty goes to nbgrader's own field, so that `nbgrader export` shows
            # raw score, penalty and score as for its own late policy
            graded = result.topics.get(topic)
            late = late_points(graded.tests, topic) if graded is not None else 0.0
            raw = replace(graded, score=graded.score + late) if graded is not None else None
            auto = cell_score(raw, max_score)
            penalty = cell_score(replace(raw, score=late), max_score) if late and raw is not None else 0.0
            gb.find_submission_notebook(topic, assignment, student).late_submission_penalty = penalty
            manual = grade.manual_score
        elif not cell.max_score and grade.manual_score is None:
            grade.auto_score = 0.0  # the zero-point cell that hides the model solution's helpers
            grade.needs_manual_grade = False
            continue
        else:
            continue  # a cell the instructor added: theirs to grade
        grade.auto_score = auto
        grade.needs_manual_grade = False
    if auto is None:
        raise UsageError(f"the gradebook's {assignment!r} notebook has no grade cell {grade_id(topic)!r}; "
                         f"regenerate the source with `grader nbgrader init` and `nbgrader generate_assignment`")
    gb.db.commit()
    return GradebookEntry(student, assignment, auto, max_score, manual, created)


def open_gradebook(course: NbgraderCourse) -> Any:
    """nbgrader's ``Gradebook`` of the course; it must exist (``generate_assignment`` makes it)."""
    try:
        from nbgrader.api import Gradebook
    except ImportError:
        raise UsageError("nbgrader is not installed: pip install nbgrader") from None
    if course.db_url.startswith("sqlite:///"):
        path = Path(course.db_url[len("sqlite:///"):])
        if not path.is_file():
            raise UsageError(f"no gradebook at {path}; run `nbgrader generate_assignment <assignment>` first")
    try:
        return Gradebook(course.db_url, course_id=course.course_id)
    except Exception as exc:
        raise GraderError(f"cannot open the gradebook {course.db_url}: {type(exc).__name__}: {exc}") from None


# -- feedback ---------------------------------------------------------------------------

def write_feedback(course: NbgraderCourse, assignment: str, result: SubmissionResult,
                   due: datetime | None = None, published: bool = False) -> Path:
    """An HTML report where the student will get it; returns its path.

    Exchange submissions (they carry ``submission_secret.txt``) get
    ``feedback/<student>/<assignment>/<topic>.html`` with the timestamp and secret beside
    it, which is what ``nbgrader release_feedback`` delivers. Submissions collected from
    an LMS download have no secret, and ``release_feedback`` would stop at them, so their
    reports go to ``lms_feedback/<assignment>/<student>.html`` for upload to the LMS.
    Both paths name the student by :meth:`NbgraderCourse.file_name`: the id itself for
    every ordinary id, and never a path outside these folders.
    """
    topic = topic_of(assignment)
    submitted = course.submitted_dir(result.id, assignment)
    if (submitted / "submission_secret.txt").is_file():
        folder = course.feedback_dir(result.id, assignment)
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("timestamp.txt", "submission_secret.txt"):
            if (submitted / name).is_file():
                shutil.copyfile(submitted / name, folder / name)
        path = folder / f"{topic}.html"
    else:
        folder = course.root / LMS_FEEDBACK / assignment
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{course.file_name(result.id)}.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(feedback_html(result, topic, due, published), encoding="utf-8")
    tmp.replace(path)
    return path


def feedback_html(result: SubmissionResult, topic: str, due: datetime | None = None, published: bool = False) -> str:
    """A self-contained page for one topic (:func:`grader.feedback.html_page`): the
    summary of every test with its points, then the failing tests' first cases; never
    the tests' source, nor the tests the student may not see yet (grader.visibility)."""
    from grader.feedback import html_page
    from grader.visibility import for_students

    result, _ = for_students(result, due, published)
    t = result.topics.get(topic)
    if t is not None and t.status != "missing" and all(x.status == "passed" for x in t.tests):
        intro = "All tests passed."
    else:
        intro = "Each row is one hidden test; read the first failing cases, fix, and run the self-check again."
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if t is None:
        intro = f"{topic}.ipynb or {topic}.py was not found in your submission."
    return html_page(result, topics=[topic], title=f"{topic}: feedback for {result.id}", stamp=stamp, intro=intro)


