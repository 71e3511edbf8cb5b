"""Safe regrades: what produced a results file, and what changed between two of them.

Every results file written by ``grader grade --json`` records, under
``grader.fingerprints``, digests of what decides a grade: each topic's suite files, its
rubric section and its reference module, the suites' shared files, the grader's own
source, and the device. :func:`diff_results` compares two results documents per student
and per test and says why each test changed, from the fingerprints that differ: an
audit can tell which version gave a grade, and a regrade after fixing one test shows
exactly the students and tests it touched.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

from grader.textsafe import terminal
from grader.topics import suite_topic

FINGERPRINT_SCHEMA = 1
_PARTS = ("suite", "rubric", "reference")


def _digest(chunks: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(len(chunk).to_bytes(8, "big"))
        h.update(chunk)
    return h.hexdigest()[:16]


def _files_digest(files: Iterable[Path], root: Path) -> str:
    chunks: list[bytes] = []
    for path in sorted(files):
        try:
            data = path.read_bytes()
        except OSError:
            data = b"<unreadable>"
        chunks += [path.relative_to(root).as_posix().encode("utf-8"), data]
    return _digest(chunks)


def course_fingerprints(tests_dir: Path, rubric_data: dict, reference_dir: Path | None, topics: Iterable[str],
                        device: str, late: Any = None, due: Any = None) -> dict[str, Any]:
    """Digests of everything that decides the grades of ``topics`` (see the module's
    docstring). ``rubric_data`` is the rubric as plain data (grader.parallel's form)."""
    import grader

    tests_dir = Path(tests_dir)
    suite_files = sorted(p for p in tests_dir.rglob("*.py") if "__pycache__" not in p.parts)
    by_topic: dict[str, list[Path]] = {}
    shared: list[Path] = []
    for path in suite_files:
        topic = suite_topic(path.name)
        (by_topic.setdefault(topic, []) if topic else shared).append(path)
    general = {k: v for k, v in rubric_data.items() if k != "topics"}
    out_topics = {}
    for topic in sorted(set(topics)):
        reference = Path(reference_dir) / f"{topic}.py" if reference_dir is not None else None
        out_topics[topic] = {
            "suite": _files_digest(by_topic.get(topic, []), tests_dir),
            "rubric": _digest([json.dumps(rubric_data.get("topics", {}).get(topic), sort_keys=True).encode()]),
            "reference": _files_digest([reference], reference.parent) if reference and reference.is_file() else "",
        }
    package = Path(grader.__file__).resolve().parent
    return {
        "schema": FINGERPRINT_SCHEMA,
        "grader": f"{grader.__version__}+{_files_digest(package.rglob('*.py'), package)}",
        "shared_suite": _files_digest(shared, tests_dir),
        "rubric_general": _digest([json.dumps(general, sort_keys=True).encode()]),
        "device": device,
        "late": _digest([repr((due, late)).encode()]),  # the due date and late policy (grader.late)
        "topics": out_topics,
    }


# ------------------------------------------------------------------- comparing results

Kind = Literal["new", "removed", "score", "message"]


@dataclass(frozen=True)
class TestChange:
    """One test of one student that differs between the two results."""

    test: str
    kind: Kind
    old_score: float | None
    new_score: float | None
    max_score: float | None
    old_message: str = ""
    new_message: str = ""


@dataclass(frozen=True)
class StudentChange:
    student: str
    old_total: float | None
    new_total: float | None
    tests: tuple[TestChange, ...]

    @property
    def delta(self) -> float:
        return (self.new_total or 0.0) - (self.old_total or 0.0)


@dataclass(frozen=True)
class RegradeDiff:
    """What changed between an old and a new results document."""

    students: tuple[StudentChange, ...]          # those with any change, largest loss first
    only_old: tuple[str, ...] = ()               # students graded before, not now
    only_new: tuple[str, ...] = ()               # students graded now, not before
    unchanged: int = 0                           # students present in both, identical
    causes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # topic (or "*") -> what changed

    def why(self, test_id: str) -> str:
        """The recorded reasons a test of this topic may have changed, as one phrase."""
        topic = test_id.split("::", 1)[0]
        reasons = self.causes.get(topic, ()) + self.causes.get("*", ())
        if not reasons:
            return "nothing recorded changed (the submission itself, or a result that varies between runs)"
        return ", ".join(reasons)

    @property
    def gained(self) -> list[StudentChange]:
        return [s for s in self.students if s.delta > 1e-9]

    @property
    def lost(self) -> list[StudentChange]:
        return [s for s in self.students if s.delta < -1e-9]


def _causes(old_meta: dict, new_meta: dict) -> dict[str, tuple[str, ...]]:
    old = old_meta.get("fingerprints") if isinstance(old_meta, dict) else None
    new = new_meta.get("fingerprints") if isinstance(new_meta, dict) else None
    if not isinstance(old, dict) or not isinstance(new, dict):
        return {"*": ("the old or the new results record no fingerprints (written by an older grader)",)}
    out: dict[str, tuple[str, ...]] = {}
    common = []
    if old.get("grader") != new.get("grader"):
        common.append(f"the grader changed ({old.get('grader')} -> {new.get('grader')})")
    if old.get("shared_suite") != new.get("shared_suite"):
        common.append("the suites' shared files changed")
    if old.get("rubric_general") != new.get("rubric_general"):
        common.append("the rubric's general settings changed (seed, limits, tiers or settings)")
    if old.get("late") != new.get("late"):
        common.append("the due date or the late policy changed")
    if old.get("device") != new.get("device"):
        common.append(f"the device changed ({old.get('device')} -> {new.get('device')})")
    if common:
        out["*"] = tuple(common)
    old_topics, new_topics = old.get("topics") or {}, new.get("topics") or {}
    for topic in set(old_topics) | set(new_topics):
        a, b = old_topics.get(topic) or {}, new_topics.get(topic) or {}
        changed = tuple(f"the {topic} {part} changed" for part in _PARTS if a.get(part) != b.get(part))
        if changed:
            out[topic] = changed
    return out


def _tests(sub: dict) -> dict[str, dict]:
    out = {}
    for topic in (sub.get("topics") or {}).values():
        for test in topic.get("tests") or ():
            out[str(test.get("id"))] = test
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=0.0, abs_tol=1e-9)
    return a == b


def diff_results(old_doc: dict, new_doc: dict) -> RegradeDiff:
    """Compare two results documents (``grader grade --json``) per student and per test."""
    old_subs = {str(s.get("id")): s for s in old_doc.get("submissions") or ()}
    new_subs = {str(s.get("id")): s for s in new_doc.get("submissions") or ()}
    changes, unchanged = [], 0
    for sid in [s for s in new_subs if s in old_subs]:
        old_tests, new_tests = _tests(old_subs[sid]), _tests(new_subs[sid])
        tests = []
        for tid in list(new_tests) + [t for t in old_tests if t not in new_tests]:
            a, b = old_tests.get(tid), new_tests.get(tid)
            if a is None or b is None:
                kind: Kind = "new" if a is None else "removed"
            elif not _same(a.get("score"), b.get("score")):
                kind = "score"
            elif (a.get("message") or "") != (b.get("message") or ""):
                kind = "message"
            else:
                continue
            tests.append(TestChange(
                tid, kind, None if a is None else a.get("score"), None if b is None else b.get("score"),
                (b or a).get("max_score"), (a or {}).get("message") or "", (b or {}).get("message") or ""))
        old_total, new_total = old_subs[sid].get("score"), new_subs[sid].get("score")
        if tests or not _same(old_total, new_total):
            changes.append(StudentChange(sid, old_total, new_total, tuple(tests)))
        else:
            unchanged += 1
    changes.sort(key=lambda s: (s.delta, s.student))
    return RegradeDiff(
        tuple(changes),
        tuple(s for s in old_subs if s not in new_subs),
        tuple(s for s in new_subs if s not in old_subs),
        unchanged,
        _causes(old_doc.get("grader") or {}, new_doc.get("grader") or {}),
    )


def load_results(path: str | Path) -> dict:
    """A results document, or ValueError with a one-line reason."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read results ({type(exc).__name__}: {exc})"[:300]) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("submissions"), list):
        raise ValueError(f"{path}: not a results file of grader grade --json")
    return doc


def _points(value: Any) -> str:
    return "-" if value is None else f"{float(value):g}"


def render_diff(diff: RegradeDiff, limit: int = 20) -> str:
    """The diff for a terminal: a summary line, the causes, then each changed student."""
    lines = [
        f"regrade: {len(diff.students)} student(s) changed ({len(diff.gained)} gained, {len(diff.lost)} lost), "
        f"{diff.unchanged} unchanged"
        + (f", {len(diff.only_new)} new" if diff.only_new else "")
        + (f", {len(diff.only_old)} no longer graded" if diff.only_old else "")
    ]
    for _scope, reasons in sorted(diff.causes.items()):
        for reason in reasons:
            lines.append(f"  changed since the old results: {reason}")
    for student in diff.students:
        lines.append(f"  {terminal(student.student)}: {_points(student.old_total)} -> {_points(student.new_total)} "
                     f"({student.delta:+g})")
        for test in student.tests[:limit]:
            what = {"new": "new test", "removed": "test removed", "message": "message changed",
                    "score": f"{_points(test.old_score)} -> {_points(test.new_score)} of {_points(test.max_score)}"}
            lines.append(f"    {terminal(test.test)}: {what[test.kind]} ({diff.why(test.test)})")
        if len(student.tests) > limit:
            lines.append(f"    ... and {len(student.tests) - limit} more")
    for sid in diff.only_new:
        lines.append(f"  {terminal(sid)}: new in the new results")
    for sid in diff.only_old:
        lines.append(f"  {terminal(sid)}: in the old results only")
    return "\n".join(lines)


def diff_to_dict(diff: RegradeDiff) -> dict[str, Any]:
    return {
        "schema": 1,
        "summary": {"changed": len(diff.students), "gained": len(diff.gained), "lost": len(diff.lost),
                    "unchanged": diff.unchanged, "only_new": list(diff.only_new), "only_old": list(diff.only_old)},
        "causes": {k: list(v) for k, v in diff.causes.items()},
        "students": [
            {"id": s.student, "old_score": s.old_total, "new_score": s.new_total, "delta": round(s.delta, 9),
             "tests": [{"id": t.test, "change": t.kind, "old_score": t.old_score, "new_score": t.new_score,
                        "max_score": t.max_score, "old_message": t.old_message, "new_message": t.new_message,
                        "why": diff.why(t.test)} for t in s.tests]}
            for s in diff.students
        ],
    }
