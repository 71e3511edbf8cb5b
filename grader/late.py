"""The late policy: points off a submission handed in after the rubric's due date.

The rubric sets it next to ``due``::

    due: 2026-12-01T23:59:00+01:00
    late:
      grace_minutes: 15        # late by at most this much counts as on time
      per_day: 10              # percent off per started day late (after the grace period)
      # or a timeline, as PrairieLearn does: credit until each date, none after the last
      # timeline: [{until: 2026-12-02T23:59:00+01:00, credit: 0.8}, {until: 2026-12-04T23:59:00+01:00, credit: 0.5}]
      cap: 50                  # never more than this percent off (default 100)
      extensions: extensions.csv   # rows "student,due": a due date (with its time zone) or +N days

A submission's time comes from nbgrader's ``timestamp.txt`` (``zip_collect`` writes it
from an LMS download's file names too) or from ``grader grade --submitted-at TIMES.csv``
(rows ``student,time``). A submission without a time is flagged and not penalised: a
time is never guessed. The penalty is one zero-point entry per topic,
``<topic>::late_penalty``, taking that share of what the topic earned, so every output
(JSON, CSV, Gradescope, feedback) shows it; the nbgrader gradebook gets it in nbgrader's
own ``late_submission_penalty`` field instead.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from grader.errors import RubricError, UsageError
from grader.scoring import SubmissionResult, TestResult, submission_result, topic_result

LATE_GROUP = "late_penalty"


@dataclass(frozen=True)
class LatePolicy:
    grace: timedelta = timedelta(0)
    per_day: float | None = None                                   # percent per started day
    timeline: tuple[tuple[datetime, float], ...] = ()              # (until, credit), in order
    cap: float = 100.0                                             # percent
    extensions: dict[str, datetime] = field(default_factory=dict)  # student -> their due date

    def due_for(self, student: str, due: datetime) -> datetime:
        return self.extensions.get(student, due)

    def fraction_off(self, submitted: datetime, due: datetime) -> float:
        """The share of the score taken off a submission at ``submitted`` (0 when on time)."""
        late = submitted - due - self.grace
        if late <= timedelta(0):
            return 0.0
        if self.timeline:
            credit = next((c for until, c in self.timeline if submitted <= until), 0.0)
            off = 100.0 * (1.0 - credit)
        else:
            off = (self.per_day or 0.0) * math.ceil(late / timedelta(days=1))
        return min(off, self.cap) / 100.0


def aware_datetime(value: Any, where: str, source: str) -> datetime:
    """A date and time with its time zone (ISO 8601, or a YAML timestamp), or RubricError."""
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise RubricError(f"{source}: {where}: must be a date and time like 2026-12-01T23:59:00+01:00, "
                          f"got {value!r}") from None
    if when.tzinfo is None:
        raise RubricError(f"{source}: {where}: needs a time zone, got {value!r}")
    return when


def parse_late(data: Any, due: datetime | None, source: str, base: Path | None = None) -> LatePolicy | None:
    """The rubric's ``late`` section, validated (RubricError names what is wrong)."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise RubricError(f"{source}: late: expected a mapping")
    unknown = set(data) - {"grace_minutes", "per_day", "timeline", "cap", "extensions"}
    if unknown:
        raise RubricError(f"{source}: late: unknown key {sorted(unknown)[0]!r}")
    if due is None:
        raise RubricError(f"{source}: late: needs the rubric's 'due' date")
    if ("per_day" in data) == ("timeline" in data):
        raise RubricError(f"{source}: late: give either per_day or timeline")

    def number(key: str, default: float, top: float = math.inf) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= top:
            raise RubricError(f"{source}: late.{key}: must be a number from 0 to {top:g}, got {value!r}")
        return float(value)

    timeline = []
    for k, entry in enumerate(data.get("timeline") or []):
        if not isinstance(entry, dict) or set(entry) != {"until", "credit"}:
            raise RubricError(f"{source}: late.timeline[{k}]: expected {{until: DATE, credit: 0..1}}")
        credit = entry["credit"]
        if isinstance(credit, bool) or not isinstance(credit, (int, float)) or not 0 <= credit <= 1:
            raise RubricError(f"{source}: late.timeline[{k}].credit: must be from 0 to 1, got {credit!r}")
        timeline.append((aware_datetime(entry["until"], f"late.timeline[{k}].until", source), float(credit)))
    if timeline != sorted(timeline, key=lambda t: t[0]):
        raise RubricError(f"{source}: late.timeline: the dates must be in order")
    extensions = {}
    if data.get("extensions"):
        path = Path(str(data["extensions"]))
        extensions = read_extensions(path if path.is_absolute() or base is None else base / path, due)
    return LatePolicy(timedelta(minutes=number("grace_minutes", 0.0)),
                      number("per_day", 0.0, 100.0) if "per_day" in data else None, tuple(timeline),
                      number("cap", 100.0, 100.0), extensions)


def _pairs(path: Path, what: str, second: str, error: type[Exception]) -> list[tuple[int, str, str]]:
    """The ``student,<second>`` rows of a CSV file (a header and blank rows skipped), as
    (line, student, value); ``error`` names the file and line of a malformed one."""
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read the {what} ({type(exc).__name__})") from None
    out = []
    for n, row in enumerate(rows, 1):
        if not row or row[0].strip().lower() in ("", "student"):
            continue
        if len(row) != 2:
            raise error(f"{path}:{n}: expected 'student,{second}'")
        out.append((n, row[0].strip(), row[1].strip()))
    return out


def read_extensions(path: Path, due: datetime) -> dict[str, datetime]:
    """``student,due`` rows: a date and time with its zone, or ``+N`` days after ``due``."""
    out = {}
    for n, student, value in _pairs(path, "extensions", "due", RubricError):
        if value.startswith("+"):
            try:
                out[student] = due + timedelta(days=float(value[1:]))
            except ValueError:
                raise RubricError(f"{path}:{n}: '+N' must be a number of days, got {value!r}") from None
        else:
            out[student] = aware_datetime(value, f"line {n}", str(path))
    return out


def read_times(path: str | Path) -> dict[str, datetime]:
    """``grader grade --submitted-at``: ``student,time`` rows, each time with its zone."""
    path = Path(path)
    out = {}
    for n, student, value in _pairs(path, "submission times", "time", UsageError):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise UsageError(f"{path}:{n}: not a date and time: {value[:40]!r}") from None
        if when.tzinfo is None:
            raise UsageError(f"{path}:{n}: the time needs its zone (e.g. +01:00 or Z)")
        out[student] = when
    return out


NO_TIME = "no submission time: the late policy was not applied (a time is never guessed)"


def apply_late(result: SubmissionResult, policy: LatePolicy | None, due: datetime | None,
               submitted: datetime | None) -> SubmissionResult:
    """``result`` with the late policy applied: a ``<topic>::late_penalty`` entry per
    topic that earned points, or a flag when the submission has no time."""
    if policy is None or due is None:
        return result
    if submitted is None:
        return replace(result, flags=(*result.flags, NO_TIME))
    if submitted.tzinfo is None:
        submitted = submitted.replace(tzinfo=timezone.utc)  # nbgrader's timestamps are UTC
    own_due = policy.due_for(result.id, due)
    fraction = policy.fraction_off(submitted, own_due)
    if fraction <= 0:
        return result
    late_by = (submitted - own_due) / timedelta(days=1)
    message = (f"submitted {late_by:.2f} days after the due date ({own_due.isoformat()}): "
               f"{100 * fraction:g}% off")
    topics = {}
    for name, topic in result.topics.items():
        tests = [t for t in topic.tests if t.id != f"{name}::{LATE_GROUP}"]
        earned = max(sum(t.score for t in tests), 0.0)
        if earned > 0:
            tests.append(TestResult(f"{name}::{LATE_GROUP}", -earned * fraction, 0.0, "failed", message))
        topics[name] = topic_result(name, tests, topic.status)
    out = submission_result(result.id, result.path, topics, [*result.flags, f"late: {message}"], result.timing)
    return replace(out, isolation=result.isolation)


def late_points(topic_tests: tuple[TestResult, ...], topic: str) -> float:
    """The points a topic's late penalty took (0 without one)."""
    return -sum(t.score for t in topic_tests if t.id == f"{topic}::{LATE_GROUP}")
