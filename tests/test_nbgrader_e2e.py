"""A term in miniature through the real nbgrader command line, no mocks.

One course folder from ``grader nbgrader init``; nbgrader generates and releases the
dropout assignment; two students fetch it through a local exchange, one fills it in
correctly and one forgets inverted dropout's 1/(1 - p), both submit; the instructor
collects, adds two LMS downloads with ``zip_collect`` (a notebook and a ``.py``), grades
with ``grader grade --nbgrader``, exports, and releases feedback that a student fetches.
"""

from __future__ import annotations

import csv
import html
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.stubgen import strip_markers
from tests.nbgrader_helpers import solution_lines as solution_lines_of

if os.environ.get("GRADER_REQUIRE_NBGRADER") != "1":  # `make test` requires it: no silent skip in CI
    pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e '.[test]')")
pytestmark = [pytest.mark.slow, pytest.mark.nbgrader_e2e]

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "dropout"
BUG = ("scale = 1.0 / (1.0 - p)", "scale = 1.0")  # the classic: no inverted scaling


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # nbgrader runs `alembic` from the environment's bin folder
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("GRADER_COURSE", None)
    return env


def _run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def nbgrader(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "nbgrader", *args], cwd, check)


def together(commands: list[tuple[str, ...]], folders: list[Path]) -> None:
    """Students work at the same time: run their nbgrader commands concurrently."""
    procs = [
        (args, subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        for args, cwd in zip(commands, folders)
    ]
    for args, proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"nbgrader {' '.join(args)} exited {proc.returncode}:\n{out[-3000:]}"


def grader(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "grader", *args], cwd, check)


def fill(source: Path, released: Path, bug: tuple[str, str] | None = None) -> str:
    """A student's notebook: the released one with the model code typed into its solution cells."""
    src = json.loads(source.read_text(encoding="utf-8"))
    rel = json.loads(released.read_text(encoding="utf-8"))
    solutions = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in src["cells"]
                 if c["metadata"].get("nbgrader", {}).get("solution")}
    helpers = "\n\n".join(
        "".join(c["source"]).split("### BEGIN HIDDEN TESTS\n")[1].split("\n### END HIDDEN TESTS")[0]
        for c in src["cells"] if "### BEGIN HIDDEN TESTS" in "".join(c["source"])
    )
    first = True
    for cell in rel["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in solutions and not gid.startswith(f"{TOPIC}_my_helpers"):
            code = strip_markers(solutions[gid]).rstrip("\n")
            if first:  # students write their helpers in their own cells
                code, first = helpers + "\n\n\n" + code, False
            if bug:
                code = code.replace(*bug)
            cell["source"] = code
    return json.dumps(rel, indent=1)


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    w = tmp_path_factory.mktemp("term")
    exchange = w / "exchange"
    exchange.mkdir()
    os.chmod(exchange, 0o777)
    course = w / "course"
    out = grader("nbgrader", "init", str(course), "--course-id", "nn101", "--topic", TOPIC,
                 "--exchange", str(exchange), cwd=w)
    assert "wrote nbgrader_config.py" in out.stdout
    nbgrader("generate_assignment", TOPIC, cwd=course)
    nbgrader("release_assignment", TOPIC, cwd=course)
    students = {"alice": None, "bob": BUG}
    for name in students:
        home = w / name
        home.mkdir()
        (home / "nbgrader_config.py").write_text(
            "c = get_config()\n"
            "c.CourseDirectory.course_id = 'nn101'\n"
            f"c.Exchange.root = {str(exchange)!r}\n"
            f"c.Exchange.cache = {str(home / 'cache')!r}\n",
            encoding="utf-8",
        )
    together([("fetch_assignment", TOPIC)] * 2, [w / name for name in students])
    for name, bug in students.items():
        nb = w / name / TOPIC / f"{TOPIC}.ipynb"
        nb.write_text(fill(course / "source" / TOPIC / f"{TOPIC}.ipynb", nb, bug), encoding="utf-8")
    together([("submit", TOPIC, "--student", name) for name in students], [w / name for name in students])
    nbgrader("collect", TOPIC, cwd=course)
    # an LMS download: carol hands in the notebook, dave the .py module
    archive = course / "downloaded" / TOPIC / "archive"
    archive.mkdir(parents=True)
    good = fill(course / "source" / TOPIC / f"{TOPIC}.ipynb", course / "release" / TOPIC / f"{TOPIC}.ipynb")
    with zipfile.ZipFile(archive / "download.zip", "w") as z:
        z.writestr(f"Dropout_carol_attempt_2026-11-20-09-00-00_{TOPIC}.ipynb", good)
        z.writestr(f"Dropout_dave_attempt_2026-11-21-10-30-00_{TOPIC}.py",
                   (ROOT / "reference" / f"{TOPIC}.py").read_text(encoding="utf-8").replace(*BUG))
    nbgrader("zip_collect", TOPIC, cwd=course)
    graded = grader("grade", "--nbgrader", ".", "--assignment", TOPIC, "--json", str(w / "first.json"),
                    "--jobs", "2", "--quiet", cwd=course)
    return {"w": w, "course": course, "exchange": exchange, "graded": graded}


def _scores(path: Path) -> dict[str, float]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {s["id"]: s["topics"][TOPIC]["score"] for s in doc["submissions"]}


def _export(course: Path) -> dict[str, dict[str, str]]:
    (course / "grades.csv").unlink(missing_ok=True)
    nbgrader("export", cwd=course)
    with open(course / "grades.csv", newline="", encoding="utf-8") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


def test_release_holds_no_solution_and_no_hidden_test(term):
    release = term["course"] / "release" / TOPIC
    reference = (ROOT / "reference" / f"{TOPIC}.py").read_text(encoding="utf-8")
    solution_lines = solution_lines_of(reference, TOPIC)
    public = {p.read_bytes() for p in (ROOT / "assignments" / "public_tests").glob("*.py")}
    files = [p for p in release.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {f"{TOPIC}.ipynb", f"test_{TOPIC}.py", "rubric.yaml"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in text, (path, marker)
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        released = {line.strip() for line in text.splitlines()}
        leaked = [line for line in solution_lines if line in released]
        assert not leaked, (path, leaked[:3])
        if path.suffix == ".py":  # only the public tests, byte for byte
            assert path.read_bytes() in public, path
    # nor a line of the hidden suite
    suite = (ROOT / "reference" / "suites" / f"test_{TOPIC}.py").read_text(encoding="utf-8")
    notebook = json.loads((release / f"{TOPIC}.ipynb").read_text(encoding="utf-8"))
    cells = {line.strip() for c in notebook["cells"] for line in "".join(c["source"]).splitlines()}
    public_test = (ROOT / "assignments" / "public_tests" / f"test_{TOPIC}.py").read_text(encoding="utf-8")
    shared = {line.strip() for line in (reference + public_test).splitlines()}  # imports, names
    hidden = {s.strip() for s in suite.splitlines() if len(s.strip()) > 40 and not s.strip().startswith("#")}
    assert len(hidden - shared) > 50 and not cells & (hidden - shared)
    # the exchange's copy is the release
    outbound = term["exchange"] / "nn101" / "outbound" / TOPIC / f"{TOPIC}.ipynb"
    assert outbound.read_bytes() == (release / f"{TOPIC}.ipynb").read_bytes()


def test_grades_land_in_the_gradebook_and_survive_a_rerun_and_export(term):
    from nbgrader.api import Gradebook

    course, w = term["course"], term["w"]
    scores = _scores(w / "first.json")
    assert set(scores) == {"alice", "bob", "carol", "dave"}
    assert scores["alice"] == scores["carol"] == 100.0  # the notebook route, exchange or LMS
    assert 0 < scores["bob"] < 100 and scores["bob"] == scores["dave"]  # same bug, notebook or .py
    db = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(db, course_id="nn101") as gb:
        for student, score in scores.items():
            assert gb.find_submission(TOPIC, student).score == pytest.approx(score, abs=1e-3), student
        grade = gb.find_grade(f"{TOPIC}_hidden_tests", TOPIC, TOPIC, "bob")
        grade.manual_score = 95.0  # the instructor overrides bob's score in the formgrader
        gb.db.commit()
    again = grader("grade", "--nbgrader", ".", "--assignment", TOPIC, "--student", "bob",
                   "--json", str(w / "second.json"), cwd=course)
    assert "keeps the manual score 95" in again.stderr
    assert _scores(w / "second.json") == {"bob": scores["bob"]}
    with Gradebook(db, course_id="nn101") as gb:
        grade = gb.find_grade(f"{TOPIC}_hidden_tests", TOPIC, TOPIC, "bob")
        assert grade.manual_score == 95.0 and grade.auto_score == pytest.approx(scores["bob"], abs=1e-3)
        assert len(gb.assignment_submissions(TOPIC)) == 4  # a re-run adds no duplicates
    rows = _export(course)
    assert set(rows) == set(scores)
    for student, score in scores.items():
        expected = 95.0 if student == "bob" else score
        assert float(rows[student]["raw_score"]) == pytest.approx(expected, abs=1e-3), student
        assert float(rows[student]["max_score"]) == 100.0
    assert rows["carol"]["timestamp"].startswith("2026-11-20 09:00:00")


def test_feedback_reaches_the_student_and_shows_no_test_source(term):
    course, w = term["course"], term["w"]
    nbgrader("release_feedback", TOPIC, cwd=course)
    nbgrader("fetch_feedback", TOPIC, "--student", "bob", cwd=w / "bob")
    pages = list((w / "bob" / TOPIC / "feedback").rglob(f"{TOPIC}.html"))
    assert len(pages) == 1
    page = html.unescape(pages[0].read_text(encoding="utf-8"))
    assert "\u2717 dropout_scaling" in page  # names the failing test, marked
    suite = (ROOT / "reference" / "suites" / f"test_{TOPIC}.py").read_text(encoding="utf-8")
    code = [s.strip() for s in suite.splitlines() if len(s.strip()) > 25 and not s.strip().startswith("#")]
    assert not [line for line in code if line in page]
    # LMS submissions have no exchange secret: their pages wait in lms_feedback/ for upload
    assert sorted(p.name for p in (course / "lms_feedback" / TOPIC).iterdir()) == ["carol.html", "dave.html"]
