"""``grader validate``: the course material is consistent before anyone is graded.

The reference earns full marks, the released stubs earn zero, grading is repeatable,
the stubs (and, in a course that releases them, the student notebooks) are exactly what
the reference generates, so is the students' API reference (``docs/api.md``, in a course
that keeps ``docs/``), and the public tests agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from grader.apidoc import API_DOC, api_doc_stale, releases_api_doc
from grader.course import Course, public_config
from grader.engine import grade
from grader.scoring import SubmissionResult
from grader.signature_check import contract_signatures
from grader.stubgen import releases_notebooks, sync_stubs
from grader.submission import Submission


@dataclass(frozen=True)
class ValidationCheck:
    name: str
    ok: bool
    detail: str = ""
    info: str = ""  # shown whatever the outcome (a coverage report, say)


ON_DEVICE_CASE = re.compile(r"^(?P<topic>\w+)::on_device\[(?P<case>[^\]]+)\]$")


def device_coverage(result: SubmissionResult, reference_dir: Path) -> ValidationCheck:
    """Which public functions and classes the ``on_device`` cases run on the simulated GPU
    (grader.accelerator), read from the reference's graded test ids: a case id names the
    functions it runs, ``fn`` or ``fn+fn`` then an optional ``-variant``. Fails when a case
    names something the reference does not define (a typo leaves a function unchecked)."""
    covered: dict[str, set[str]] = {}
    for topic in result.topics.values():
        for test in topic.tests:
            m = ON_DEVICE_CASE.match(test.id)
            if m:
                names = m.group("case").split("-")[0].split("+")
                covered.setdefault(m.group("topic"), set()).update(n for n in names if n)
    lines, unknown, total, ran = [], [], 0, 0
    for topic in result.topics:
        try:
            contract = contract_signatures((reference_dir / f"{topic}.py").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError, RecursionError):
            continue
        public = list(dict.fromkeys(name.split(".")[0] for name in contract))
        done = covered.get(topic, set())
        unknown += [f"{topic}.{n}" for n in sorted(done - set(public))]
        missing = [n for n in public if n not in done]
        total += len(public)
        ran += len(public) - len(missing)
        line = f"{topic}: {len(public) - len(missing)} of {len(public)}"
        lines.append(line + (f"; not run there: {', '.join(missing)}" if missing else ""))
    return ValidationCheck(
        f"functions run on the simulated GPU by the on_device cases: {ran} of {total}",
        not unknown,
        "on_device cases name functions the reference does not define: " + ", ".join(unknown) if unknown else "",
        "\n".join(lines),
    )


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
    findings.append(device_coverage(ref, course.reference_dir))
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
