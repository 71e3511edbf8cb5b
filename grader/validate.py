"""``grader validate``: the course material is consistent before anyone is graded.

The reference earns full marks, the released stubs earn zero, grading is repeatable,
the stubs (and, in a course that releases them, the student notebooks) are exactly what
the reference generates, so is the students' API reference (``docs/api.md``, in a course
that keeps ``docs/``), and the public tests agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.apidoc import API_DOC, api_doc_stale, releases_api_doc
from grader.course import Course, public_config
from grader.engine import grade
from grader.scoring import SubmissionResult
from grader.stubgen import releases_notebooks, sync_stubs
from grader.submission import Submission


@dataclass(frozen=True)
class ValidationCheck:
    name: str
    ok: bool
    detail: str = ""


def _not_full(result: SubmissionResult, limit: int = 5) -> str:
    bad = [t for topic in result.topics.values() for t in topic.tests if t.score < t.max_score or t.score < 0]
    lines = [f"{t.id}: {t.status} {t.message}" for t in bad[:limit]]
    if len(bad) > limit:
        lines.append(f"... and {len(bad) - limit} more")
    lines.extend(result.flags[:3])
    return "\n".join(lines)


def _not_zero(result: SubmissionResult, limit: int = 5) -> str:
    bad = [t for topic in result.topics.values() for t in topic.tests if t.score > 0]
    lines = [f"{t.id} earned {t.score}" for t in bad[:limit]]
    if len(bad) > limit:
        lines.append(f"... and {len(bad) - limit} more")
    return "\n".join(lines)


def validate_course(course: Course, jobs: int = 1, device: str = "auto") -> list[ValidationCheck]:
    findings = []
    notebooks = releases_notebooks(course.root)
    stale = sync_stubs(course.root, write=False, notebooks=notebooks, api_doc=False)
    findings.append(
        ValidationCheck(
            "stubs are generated from the reference" + (" (notebooks too)" if notebooks else ""),
            not stale,
            "out of date: " + ", ".join(str(p.relative_to(course.root)) for p in stale) + " (run `grader stubs`)"
            if stale else "",
        )
    )
    if releases_api_doc(course.root):
        doc_stale = api_doc_stale(course.root)
        findings.append(
            ValidationCheck(
                f"the API reference ({API_DOC.as_posix()}) is generated from the reference",
                not doc_stale,
                f"out of date: {API_DOC.as_posix()} (run `grader stubs`)" if doc_stale else "",
            )
        )
    subs = [
        Submission("reference", course.reference_dir),
        Submission("stubs", course.assignments_dir),
        Submission("reference-rerun", course.reference_dir),
    ]
    ref, stubs, rerun = grade(course.hidden(device=device), subs, jobs=jobs)
    findings.append(
        ValidationCheck(
            f"reference earns full marks ({ref.score:g}/{ref.max_score:g})",
            ref.score == ref.max_score and not ref.flags,
            _not_full(ref),
        )
    )
    findings.append(
        ValidationCheck(f"released stubs earn zero ({stubs.score:g}/{stubs.max_score:g})", stubs.score == 0, _not_zero(stubs))
    )
    first = [(t.id, t.score, t.status) for topic in ref.topics.values() for t in topic.tests]
    second = [(t.id, t.score, t.status) for topic in rerun.topics.values() for t in topic.tests]
    differing = [a[0] for a, b in zip(first, second) if a != b]
    findings.append(
        ValidationCheck(
            "two runs give identical scores",
            first == second,
            ", ".join(differing[:5]) or ("different test lists" if first != second else ""),
        )
    )
    if course.public_tests_dir.is_dir():
        pub_ref, pub_stubs = grade(
            public_config(course.public_tests_dir, device=device),
            [Submission("reference", course.reference_dir), Submission("stubs", course.assignments_dir)],
            jobs=jobs,
        )
        findings.append(
            ValidationCheck(
                f"public tests: reference full ({pub_ref.score:g}/{pub_ref.max_score:g}), "
                f"stubs zero ({pub_stubs.score:g})",
                pub_ref.score == pub_ref.max_score and pub_stubs.score == 0,
                _not_full(pub_ref) or _not_zero(pub_stubs),
            )
        )
    return findings
