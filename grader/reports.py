"""Results out: the terminal table, JSON (GRADER.md schema 1), CSV and Gradescope.

Files are written atomically (a temporary file renamed into place), so an interrupted
run never leaves half a results file behind. Student-controlled text (ids, messages,
hints, notes, flags) is encoded for where it goes (:mod:`grader.textsafe`): escaped for
the terminal and Gradescope, guarded against formulas in CSV, and made a safe file name
for Gradescope's per-student folders. JSON needs nothing more than its own escaping.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from grader.feedback import (
    CASES_SHOWN, group_of, not_started_line, render_text, summarize, summary_text, test_details_text,
)
from grader.isolation import WEAK_NOTE
from grader.scoring import SubmissionResult, TestResult, TopicResult
from grader.textsafe import csv_cell, safe_filenames, terminal

SCHEMA = 1


# -- JSON ---------------------------------------------------------------------------------
def test_to_dict(t: TestResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": t.id,
        "score": round(t.score, 9),
        "max_score": round(t.max_score, 9),
        "status": t.status,
        "message": t.message,
    }
    if t.hint:
        out["hint"] = t.hint
    if t.metrics:
        out["metrics"] = {k: _json_number(v) for k, v in t.metrics.items()}
    if t.curves:
        out["curves"] = {k: [_json_number(v) for v in series] for k, series in t.curves.items()}
    if t.notes:
        out["notes"] = list(t.notes)
    if t.visibility != "visible":
        out["visibility"] = t.visibility
    return out


def _json_number(value: float) -> float | None:
    """JSON has no nan or infinity: a diverged run's loss is written as null."""
    return value if math.isfinite(value) else None


def _from_json_number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def submission_to_dict(r: SubmissionResult) -> dict[str, Any]:
    return {
        "id": r.id,
        "path": r.path,
        "score": r.score,
        "max_score": r.max_score,
        "topics": {
            name: {
                "score": t.score,
                "max_score": t.max_score,
                "status": t.status,
                "tests": [test_to_dict(x) for x in t.tests],
            }
            for name, t in r.topics.items()
        },
        "flags": list(r.flags),
        "timing": dict(r.timing),
        "isolation": list(r.isolation),
    }


def submission_from_dict(d: dict[str, Any]) -> SubmissionResult:
    topics = {}
    for name, t in d["topics"].items():
        tests = tuple(
            TestResult(
                x["id"], x["score"], x["max_score"], x["status"], x.get("message", ""), x.get("hint"),
                {k: _from_json_number(v) for k, v in x.get("metrics", {}).items()},
                {k: [_from_json_number(v) for v in series] for k, series in x.get("curves", {}).items()},
                tuple(x.get("notes", ())), str(x.get("visibility", "visible")),
            )
            for x in t["tests"]
        )
        topics[name] = TopicResult(name, t["score"], t["max_score"], t.get("status", "graded"), tests)
    return SubmissionResult(
        d["id"], d["path"], d["score"], d["max_score"], topics, tuple(d.get("flags", ())), dict(d.get("timing", {})),
        tuple(d.get("isolation", ())),
    )


def results_document(results: Iterable[SubmissionResult], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"schema": SCHEMA, "submissions": [submission_to_dict(r) for r in results]}
    if meta:
        doc["grader"] = meta
    return doc


def atomic_write(path: str | Path, text: str, mode: int = 0o666) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never half.

    The file is created with ``mode`` less the umask, as ``open()`` creates a new file
    (0666 by default, or what the folder's default ACL says), not ``mkstemp``'s 0600,
    which would lock the other staff out of results in a shared course folder; a private
    file passes 0o600. A file it replaces does not pass on its mode: the result is a new
    file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for attempt in range(100):
        tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}"
        try:
            fd = os.open(tmp, flags, mode)  # the kernel applies the umask, as open() does
            break
        except FileExistsError:
            if attempt == 99:
                raise
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json(path: str | Path, results: list[SubmissionResult], meta: dict[str, Any] | None = None) -> None:
    atomic_write(path, json.dumps(results_document(results, meta), indent=1, allow_nan=False) + "\n")


# -- CSV ----------------------------------------------------------------------------------
def topics_of(results: list[SubmissionResult]) -> list[str]:
    seen: dict[str, None] = {}
    for r in results:
        for name in r.topics:
            seen.setdefault(name, None)
    return list(seen)


def csv_text(results: list[SubmissionResult]) -> str:
    """A row per submission; the id is a text cell (formula-guarded), the rest numbers."""
    topics = topics_of(results)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["id", *topics, "total", "max_score", "flags"])
    for r in results:
        writer.writerow(
            [csv_cell(r.id), *(_fmt(r.topics[t].score) if t in r.topics else "" for t in topics), _fmt(r.score),
             _fmt(r.max_score), len(r.flags)]
        )
    return buf.getvalue()


def write_csv(path: str | Path, results: list[SubmissionResult]) -> None:
    atomic_write(path, csv_text(results))


# -- Gradescope ---------------------------------------------------------------------------
def gradescope_document(r: SubmissionResult, due: datetime | None = None, published: bool = False) -> dict[str, Any]:
    """Gradescope's results.json, laid out as the other reports (:mod:`grader.feedback`).

    The summary is the top-level output; each test is an entry with its first failing
    cases in its output; a topic's file-level problem is one entry, and the tests that
    only unstarted functions failed are one "not started" entry per topic. The entries'
    points add up to the submission's score. Each entry carries its tests' visibility
    (the rubric's, which Gradescope applies); the summary, which students always see,
    leaves out the tests they may not see yet.
    """
    from grader.visibility import for_students

    shown, _ = for_students(r, due, published)
    visibility = {group_of(t.id): t.visibility for topic in r.topics.values() for t in topic.tests}
    tests = []
    for s in summarize(r):
        if s.problem:
            label = "missing" if s.status == "missing" else "cannot be graded"
            tests.append(_gs_entry(f"{s.name}: {label}", s.score, s.max_score, terminal(s.problem)))
            continue
        for test in s.tests:
            lines = test_details_text(test, CASES_SHOWN, indent="")
            entry = _gs_entry(f"{s.name}: {terminal(test.name)}", test.score, test.max_score, "\n".join(lines),
                              passed=test.passed)
            entry["visibility"] = visibility.get(f"{s.name}::{test.name}", "visible")
            tests.append(entry)
        if s.not_started:
            tests.append(_gs_entry(f"{s.name}: not started", 0.0, s.not_started_points,
                                   terminal(not_started_line(s))))
    lines = ["Summary (each test: \u2713 full points, \u2717 points lost)", *summary_text(summarize(shown))]
    lines += [f"Note: {terminal(f)}" for f in r.flags]
    return {"score": r.score, "output": "\n".join(lines), "tests": tests, "visibility": "visible"}


def _gs_entry(name: str, score: float, max_score: float, output: str, passed: bool | None = None) -> dict[str, Any]:
    ok = score >= max_score - 1e-9 if passed is None else passed
    return {"name": name, "score": round(score, 6), "max_score": round(max_score, 6),
            "status": "passed" if ok else "failed", "output": output, "visibility": "visible"}


def write_gradescope(path: str | Path, results: list[SubmissionResult], due: datetime | None = None,
                     published: bool = False) -> list[Path]:
    """One results.json for one submission; a folder of ``<id>/results.json`` for several.

    Each folder is named for its id made a safe file name (distinct for distinct ids), so
    an id such as ``..`` or ``a/b`` never puts a file outside ``path``.
    """
    path = Path(path)
    if len(results) == 1 and path.suffix == ".json":
        atomic_write(path, json.dumps(gradescope_document(results[0], due, published), indent=1) + "\n")
        return [path]
    folders = safe_filenames(r.id for r in results)
    written = []
    for r in results:
        target = path / folders[r.id] / "results.json"
        atomic_write(target, json.dumps(gradescope_document(r, due, published), indent=1) + "\n")
        written.append(target)
    return written


# -- per-student feedback files -----------------------------------------------------------
def write_feedback_files(folder: str | Path, results: list[SubmissionResult], due: datetime | None = None,
                         published: bool = False) -> list[Path]:
    """``folder/<student>.html`` and ``folder/<student>.md`` for each result: the
    summary, the failing tests' first cases and the capstone's curves, in pages that
    need nothing from a network, without the tests the student may not see yet
    (grader.visibility). File names are the ids made safe (distinct for distinct ids),
    so no id puts a file outside ``folder``."""
    from grader.feedback import html_page, render_markdown
    from grader.visibility import for_students

    folder = Path(folder)
    names = safe_filenames(r.id for r in results)
    written = []
    for r in results:
        shown, _ = for_students(r, due, published)
        for suffix, text in ((".html", html_page(shown)), (".md", render_markdown(shown))):
            target = folder / f"{names[r.id]}{suffix}"
            atomic_write(target, text)
            written.append(target)
    return written


# -- terminal -----------------------------------------------------------------------------
def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def render_table(results: list[SubmissionResult]) -> str:
    """One row per submission, one column per topic, plus the total."""
    topics = topics_of(results)
    header = ["submission", *topics, "total"]
    rows = [header]
    for r in results:
        cells = [terminal(r.id)]
        for t in topics:
            topic = r.topics.get(t)
            if topic is None:
                cells.append("")
            elif topic.status == "missing":
                cells.append("missing")
            else:
                cells.append(f"{_fmt(topic.score)}/{_fmt(topic.max_score)}")
        cells.append(f"{_fmt(r.score)}/{_fmt(r.max_score)}" + (" !" if r.flags else ""))
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if any(r.flags for r in results):
        lines.append("! = flagged (see --json, or grade that submission alone for details)")
    weak = sorted({f for r in results for f in r.flags if f.startswith(WEAK_NOTE)})
    lines[:0] = [f"WARNING: {terminal(f)}" for f in weak]
    return "\n".join(lines)


def render_details(r: SubmissionResult, per_group: int = CASES_SHOWN) -> str:
    """What a student needs, in the order they read it: a summary of every topic and
    test, then the failing tests' first cases with hints (:mod:`grader.feedback`)."""
    return render_text(r, per_group)
