"""A class run's journal: every finished submission is on disk before the next one counts.

While ``grader grade --json results.json`` runs, each result is appended to
``results.json.journal`` as one JSON line and flushed to disk (``fsync``), so a killed
grader or a power cut loses at most the submissions in flight. ``--resume`` reads the
journal (a torn last line, from a kill mid-write, is dropped), skips the submissions it
already holds and grades the rest; the final ``results.json`` is written atomically and
the journal removed. The journal's first line records what was graded (rubric, topics,
device), and a resume under different settings is refused rather than mixing grades.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from grader.errors import UsageError
from grader.reports import atomic_write, submission_from_dict, submission_to_dict
from grader.scoring import SubmissionResult

JOURNAL_SCHEMA = 1


def journal_path(json_path: str | Path) -> Path:
    path = Path(json_path)
    return path.with_name(path.name + ".journal")


def run_fingerprint(rubric: Any, topics: tuple[str, ...], device: str) -> str:
    """What must match for earlier results to be reused: the rubric (points, tiers,
    limits, seed, settings), the topics and the device."""
    from grader.parallel import _rubric_to_data

    digest = hashlib.sha256()
    for part in (json.dumps(_rubric_to_data(rubric), sort_keys=True), ",".join(sorted(topics)), device):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


@dataclass
class Journal:
    """Appends finished results; reads back what an interrupted run left."""

    path: Path
    fingerprint: str
    done: dict[str, SubmissionResult] = field(default_factory=dict)

    @classmethod
    def open(cls, json_path: str | Path, fingerprint: str, resume: bool) -> "Journal":
        path = journal_path(json_path)
        journal = cls(path, fingerprint)
        if resume:
            journal.done = _read(path, fingerprint)
            if not journal.done and Path(json_path).is_file():
                journal.done = _read_final(Path(json_path), fingerprint)
        path.parent.mkdir(parents=True, exist_ok=True)
        # rewritten whole (no duplicates, no torn line) into a new private file, renamed
        # over the old one: a crash meanwhile leaves the old journal as it was
        lines = [json.dumps({"journal": JOURNAL_SCHEMA, "fingerprint": fingerprint})]
        lines += [json.dumps({"result": submission_to_dict(r)}) for r in journal.done.values()]
        atomic_write(path, "".join(f"{line}\n" for line in lines), mode=0o600)
        return journal

    def record(self, result: SubmissionResult) -> None:
        self.done[result.id] = result
        with _private(self.path) as fh:
            fh.write(json.dumps({"result": submission_to_dict(result)}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def close(self) -> None:
        """The final results are written: the journal is no longer needed."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def _private(path: Path) -> IO[str]:
    """Open the journal for appending, created 0600 whatever the umask (its rewrite is
    created 0600 the same way, by atomic_write).

    The results files follow the umask, so the staff can share them; the journal does
    not. ``--resume`` takes its lines as grades already given without grading them
    again, so no one else may be able to write to it (with a umask of 002, anyone in a
    shared folder's group could add grades to a group-writable journal); it is a run's
    working file, removed once the results are written, that no one else needs to read.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), 0o600)
    return os.fdopen(fd, "a", encoding="utf-8")


def _read(path: Path, fingerprint: str) -> dict[str, SubmissionResult]:
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines:
        return {}
    header = _parse(lines[0])
    if not isinstance(header, dict) or header.get("journal") != JOURNAL_SCHEMA:
        raise UsageError(f"{path}: not a grading journal; remove it or run without --resume")
    if header.get("fingerprint") != fingerprint:
        raise UsageError(
            f"{path}: those results were graded with another rubric, topics or device; "
            "remove it or run without --resume"
        )
    done: dict[str, SubmissionResult] = {}
    for line in lines[1:]:
        entry = _parse(line)
        if not isinstance(entry, dict) or "result" not in entry:
            continue  # the torn last line of a killed run
        try:
            result = submission_from_dict(entry["result"])
        except (KeyError, TypeError, ValueError):
            continue
        done[result.id] = result
    return done


def _read_final(path: Path, fingerprint: str) -> dict[str, SubmissionResult]:
    """A finished run's results.json, when it recorded the same fingerprint."""
    data = _parse(path.read_text(encoding="utf-8", errors="replace"))
    if not isinstance(data, dict) or not isinstance(data.get("grader"), dict):
        return {}
    if data["grader"].get("fingerprint") != fingerprint:
        raise UsageError(
            f"{path}: those results were graded with another rubric, topics or device; "
            "write to another file or run without --resume"
        )
    out = {}
    for entry in data.get("submissions", []):
        try:
            result = submission_from_dict(entry)
        except (KeyError, TypeError, ValueError):
            continue
        out[result.id] = result
    return out


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
