"""Which tests a student may see, and when (Gradescope's four visibilities).

A rubric gives a test group (or a whole topic) a ``visibility``:

- ``visible`` (the default): shown in every feedback output;
- ``hidden``: never shown to students;
- ``after_due_date``: shown once the rubric's ``due`` date has passed;
- ``after_published``: shown once the instructor says the grades are published
  (``grader grade --published``).

A withheld test still counts: its points are in every score and total. Only its
name, message, hint and numbers are left out of student-facing outputs (feedback pages
and files, the nbgrader feedback, Gradescope's summary); Gradescope gets each test's
visibility and applies it itself. Results files and instructors' views keep everything.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from grader.scoring import SubmissionResult, TestResult

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


def is_shown(visibility: str, now: datetime, due: datetime | None, published: bool) -> bool:
    """Whether a test of this visibility may be shown to a student at ``now``."""
    if visibility == "hidden":
        return False
    if visibility == "after_due_date":
        return due is not None and now >= due
    if visibility == "after_published":
        return published
    return True


WITHHELD = "tests not shown yet"


def for_students(result: SubmissionResult, due: datetime | None = None, published: bool = False,
                 now: datetime | None = None) -> tuple[SubmissionResult, int]:
    """``result`` as a student may see it, and how many test cases it holds back. In each
    topic the withheld cases become one entry, ``<topic>::tests not shown yet``, with
    their points together (the topic's score says as much) and no name or message of
    theirs; scores are unchanged."""
    now = now or datetime.now(timezone.utc)
    topics, withheld = {}, 0
    for name, topic in result.topics.items():
        kept = tuple(t for t in topic.tests if is_shown(t.visibility, now, due, published))
        held = [t for t in topic.tests if not is_shown(t.visibility, now, due, published)]
        if held:
            withheld += len(held)
            score, max_score = sum(t.score for t in held), sum(t.max_score for t in held)
            entry = TestResult(f"{name}::{WITHHELD}", score, max_score,
                               "passed" if score >= max_score - 1e-9 else "failed", withheld_note(len(held)))
            kept = kept + (entry,)
        topics[name] = replace(topic, tests=kept) if held else topic
    return (replace(result, topics=topics) if withheld else result), withheld


def withheld_note(count: int) -> str:
    """A line for a student's feedback when some tests are not shown yet."""
    if not count:
        return ""
    return (f"{count} test case(s) are not shown here yet (after the due date, once grades are published, or "
            f"never); their points are counted in your score")
