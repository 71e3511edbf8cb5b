"""Submission intake: find each topic's file, check it, copy it into a job directory.

Only ``<topic>.py`` and ``<topic>.ipynb`` files are taken, as regular files (never
through a symlink) under a size cap, decoded as UTF-8 and checked to parse. Nothing else
in the submission folder (a ``conftest.py``, ``pytest.ini``, ``numpy.py``, a forged
results file) reaches the worker or the grader. A topic whose file cannot be used is
recorded with a one-line reason; it never stops the rest of the submission.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import SubmissionError, UsageError
from grader.notebook import notebook_to_source
from grader.static_check import Finding, check_source

MAX_SOURCE_BYTES = 2 << 20
MAX_NOTEBOOK_BYTES = 20 << 20


@dataclass(frozen=True)
class Submission:
    """A student's folder and the id results are filed under."""

    id: str
    path: Path


@dataclass
class Prepared:
    """A submission copied into a job directory, ready for a worker."""

    submission: Submission
    module_dir: Path
    present: set[str] = field(default_factory=set)
    broken: dict[str, str] = field(default_factory=dict)
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)


def find_submissions(paths: list[str | Path], ids: list[str] | None = None) -> list[Submission]:
    """Submissions named on the command line; UsageError for paths that are not folders."""
    subs = []
    seen: set[str] = set()
    for i, raw in enumerate(paths):
        path = Path(raw)
        if not path.exists():
            raise UsageError(f"{raw}: no such submission folder")
        if not path.is_dir():
            raise UsageError(f"{raw}: a submission must be a folder holding <topic>.py or <topic>.ipynb files")
        sid = ids[i] if ids and i < len(ids) else path.resolve().name
        if sid in seen:
            raise UsageError(f"{raw}: two submissions share the id {sid!r}")
        seen.add(sid)
        subs.append(Submission(sid, path))
    return subs


def _read_regular(path: Path, cap: int) -> bytes | None:
    """The bytes of a regular file, None if absent; SubmissionError if unusable."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        raise SubmissionError(f"{path.name} is a symbolic link; submit the file itself")
    if not stat.S_ISREG(info.st_mode):
        raise SubmissionError(f"{path.name} is not a regular file")
    if info.st_size > cap:
        raise SubmissionError(f"{path.name} is {info.st_size >> 20} MiB; the limit is {cap >> 20} MiB")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(cap + 1)
    except OSError as exc:
        raise SubmissionError(f"{path.name} cannot be read ({exc.strerror})") from None
    if len(data) > cap:
        raise SubmissionError(f"{path.name} is larger than {cap >> 20} MiB")
    return data


def _decode(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{name} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    if "\x00" in text:
        raise SubmissionError(f"{name} contains NUL bytes; it is not a text file")
    return text


def load_topic_source(folder: Path, topic: str) -> tuple[str, str] | None:
    """``(source, format)`` for a topic, preferring ``.py`` over ``.ipynb``."""
    py = _read_regular(folder / f"{topic}.py", MAX_SOURCE_BYTES)
    if py is not None:
        return _decode(py, f"{topic}.py"), "py"
    nb = _read_regular(folder / f"{topic}.ipynb", MAX_NOTEBOOK_BYTES)
    if nb is not None:
        return notebook_to_source(_decode(nb, f"{topic}.ipynb"), f"{topic}.ipynb"), "ipynb"
    return None


def prepare(sub: Submission, job_dir: Path, topics: list[str]) -> Prepared:
    """Copy the submission's topic files into ``job_dir/modules`` and check them."""
    module_dir = job_dir / "modules"
    module_dir.mkdir(parents=True, exist_ok=True)
    prepared = Prepared(sub, module_dir)
    for topic in topics:
        try:
            loaded = load_topic_source(sub.path, topic)
        except SubmissionError as exc:
            prepared.present.add(topic)
            prepared.broken[topic] = str(exc)
            continue
        if loaded is None:
            continue
        source, fmt = loaded
        prepared.present.add(topic)
        prepared.formats[topic] = fmt
        try:
            prepared.findings[topic] = check_source(source, topic)
        except SyntaxError as exc:
            line = f" at line {exc.lineno}" if exc.lineno else ""
            prepared.broken[topic] = f"{topic}.{fmt} has a syntax error{line}: {exc.msg}"
            continue
        except (ValueError, RecursionError, MemoryError) as exc:
            prepared.broken[topic] = f"{topic}.{fmt} cannot be parsed ({type(exc).__name__})"
            continue
        (module_dir / f"{topic}.py").write_text(source, encoding="utf-8")
    return prepared
