"""Submission intake: find each topic's file, check it, copy it into a job directory.

A submission is a folder or a ``.zip`` of one (an LMS download), unpacked by
:mod:`grader.archive` into the job directory, which the grading run removes after the
submission. Only ``<topic>.py`` and ``<topic>.ipynb`` files are taken, as regular files
(never through a symlink, never blocking on a FIFO) under a size cap checked before a
byte is read, decoded as UTF-8 (a UTF-8 byte-order mark is dropped; UTF-16, UTF-32,
Latin-1 and binary files are refused by name) and checked to parse. Nothing else in the
submission (a ``conftest.py``, ``pytest.ini``, ``numpy.py``, a forged results file)
reaches the worker or the grader. A topic whose file cannot be used, an empty file
included, is recorded with a one-line reason; it never stops the rest of the submission.
"""

from __future__ import annotations

import ast
import codecs
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from grader.archive import extract_zip
from grader.budget import BudgetExceeded, time_budget
from grader.errors import SubmissionError, UsageError
from grader.notebook import notebook_to_source
from grader.mutation_check import MutationFinding, find_mutations
from grader.signature_check import Contract, SignatureFinding, check_signatures
from grader.static_check import Finding, check_source
from grader.textsafe import safe_filenames, terminal
from grader.topics import TOPICS

MAX_SOURCE_BYTES = 2 << 20
MAX_NOTEBOOK_BYTES = 20 << 20


@dataclass(frozen=True)
class Submission:
    """A student's folder and the id results are filed under."""

    id: str
    path: Path
    # the topics to grade for this submission (None: all of the run's), for runs that
    # give submissions different work, such as the project's corpora of test submissions
    topics: tuple[str, ...] | None = None
    # the test groups to run, as "topic::group" (None: every group of those topics), for
    # the same corpora: a wrong test submission need only run the groups it must lose in
    groups: frozenset[str] | None = None

    @property
    def is_zip(self) -> bool:
        """A zipped folder (a folder that happens to be called ``x.zip`` is a folder)."""
        return self.path.suffix.lower() == ".zip" and not self.path.is_dir()


@dataclass
class Prepared:
    """A submission copied into a job directory, ready for a worker."""

    submission: Submission
    module_dir: Path
    present: set[str] = field(default_factory=set)
    broken: dict[str, str] = field(default_factory=dict)
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    # in-place writes into arguments found in the source, by topic and function
    # (grader.mutation_check): the suites score argument rules from these
    mutations: dict[str, dict[str, list[MutationFinding]]] = field(default_factory=dict)
    # public functions whose positional parameters break the contract's order, by topic
    # (grader.signature_check against the reference's signatures)
    signatures: dict[str, list[SignatureFinding]] = field(default_factory=dict)


def find_submissions(paths: list[str | Path], ids: list[str] | None = None) -> list[Submission]:
    """Submissions named on the command line: folders, or ``.zip`` files (id: the zip's stem).

    UsageError for paths that are neither, and for two submissions with the same id. A
    zip is only looked at when it is graded, so one broken download is that student's
    error, not the class run's.

    Every id, whether derived from a folder or zip name or given in ``ids``, is made a
    safe file name (:func:`grader.textsafe.safe_filenames`): reports, CSV rows and
    per-student output folders are named after it, so ``...zip`` gives ``__``, never
    ``..``. Two different names that clean to the same id get distinct ids (a short
    hash of the original name is appended). ``Submission.path`` keeps the path as given.
    """
    found: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for i, raw in enumerate(paths):
        path = Path(raw)
        shown = terminal(str(raw))
        if not path.exists():
            raise UsageError(f"{shown}: no such submission folder")
        is_zip = path.suffix.lower() == ".zip" and path.is_file()
        if not path.is_dir() and not is_zip:
            raise UsageError(
                f"{shown}: a submission must be a folder holding <topic>.py or <topic>.ipynb files, or a .zip of one"
            )
        default = path.stem if is_zip else path.resolve().name
        name = ids[i] if ids and i < len(ids) else default
        if name in seen:
            raise UsageError(f"{shown}: two submissions share the id '{terminal(name)}'")
        seen.add(name)
        found.append((name, path))
    safe = safe_filenames(name for name, _ in found)
    return [Submission(safe[name], path) for name, path in found]


def _has_topic_files(folder: Path) -> bool:
    try:
        return any(
            entry.is_file() and entry.suffix in (".py", ".ipynb") and entry.stem in TOPICS
            for entry in folder.iterdir()
        )
    except OSError:
        return False


def expand_class_folders(paths: list[str | Path]) -> tuple[list[Path], list[str]]:
    """The submissions behind ``paths``, and a note for each folder read as a class.

    A folder that holds no topic file but whose subfolders (or ``.zip`` files) do is a
    folder of submissions (``grader grade class/`` for ``grader grade class/*``): it
    stands for those subfolders and zips, sorted by name, and the note says so. Every
    other path stands for itself, so a folder with no topic files and no such
    subfolders is still graded (and its topics reported missing).
    """
    out: list[Path] = []
    notes: list[str] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir() or _has_topic_files(path):
            out.append(path)
            continue
        try:
            children = sorted(path.iterdir(), key=lambda p: p.name)
        except OSError:
            out.append(path)
            continue
        subs = [c for c in children if (c.is_dir() and not c.name.startswith(".") and _has_topic_files(c))
                or (c.is_file() and c.suffix.lower() == ".zip")]
        if not subs:
            out.append(path)
            continue
        out.extend(subs)
        notes.append(f"{terminal(str(raw))} holds no topic files but {len(subs)} submission(s): grading each of "
                     f"them ({', '.join(terminal(c.name) for c in subs[:3])}{', ...' if len(subs) > 3 else ''})")
    return out, notes


def _size(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.0f} {unit}"
    return f"{n} bytes"


_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
}


def _check_regular(name: str, info: os.stat_result, cap: int) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise SubmissionError(f"{name} is a symbolic link; submit the file itself")
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise SubmissionError(f"{name} is {kind}, not a file; submit {name} itself")
    if info.st_size > cap:
        raise SubmissionError(f"{name} is {_size(info.st_size)}; the limit is {_size(cap)}")


def _read_regular(path: Path, cap: int) -> bytes | None:
    """The bytes of a regular file, None if absent; SubmissionError if unusable.

    The type and size are checked on the path before opening, and again on the open
    descriptor (opened non-blocking, not following links) in case the path changed.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SubmissionError(f"{path.name} cannot be read ({exc.strerror})") from None
    _check_regular(path.name, info, cap)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise SubmissionError(f"{path.name} cannot be read ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "rb") as fh:
            _check_regular(path.name, os.fstat(fh.fileno()), cap)
            data = fh.read(cap + 1)
    except OSError as exc:
        raise SubmissionError(f"{path.name} cannot be read ({exc.strerror})") from None
    if len(data) > cap:
        raise SubmissionError(f"{path.name} is larger than {_size(cap)}")
    return data


_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
_TEXT_CONTROLS = frozenset(b"\t\n\r\x0c")


def _looks_utf16(data: bytes) -> bool:
    """ASCII-range text in UTF-16 without a byte-order mark: a NUL in every other byte."""
    head = data[:4096]
    pairs = len(head) // 2
    if pairs == 0:
        return False
    zeros = max(head[0::2].count(0), head[1::2].count(0))
    return zeros >= 0.9 * pairs


def _not_utf8(data: bytes, name: str, start: int | None) -> str:
    """Why ``data`` is not a UTF-8 text file, naming the encoding where it can be told."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return f"{name} is not UTF-8 text: it is {encoding} (it starts with a {encoding} byte-order mark); save it as UTF-8"
    if _looks_utf16(data):
        return f"{name} is not UTF-8 text: it looks like UTF-16 (every other byte is NUL); save it as UTF-8"
    head = data[:4096]
    controls = sum(1 for b in head if (b < 32 and b not in _TEXT_CONTROLS) or b == 127)
    if controls > 0.02 * len(head):
        return f"{name} is not UTF-8 text: it looks like binary data, not a Python file; submit the .py source"
    where = f"byte {start} is 0x{data[start]:02X}, " if start is not None else ""
    return f"{name} is not UTF-8 text: {where}as in Latin-1 or Windows-1252; save it as UTF-8"


def _decode(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(_not_utf8(data, name, exc.start)) from None
    if "\x00" in text:
        if _looks_utf16(data):
            raise SubmissionError(_not_utf8(data, name, None))
        raise SubmissionError(f"{name} contains NUL bytes; it is not a text file")
    if not text.strip():
        raise SubmissionError(f"{name} is empty; submit the file with your code in it")
    return text


def load_topic_source(folder: Path, topic: str) -> tuple[str, str] | None:
    """``(source, format)`` for a topic from ``<topic>.py`` or ``<topic>.ipynb``.

    A folder holding both (a student who worked in the notebook still has the released
    ``.py`` stub, or the other way round) is graded on the file with fewer functions
    still raising ``NotImplementedError``; on a tie, the ``.py``. A file that does not
    parse counts as unfinished, unless both fail, when the ``.py``'s error is reported.
    """
    py = _read_regular(folder / f"{topic}.py", MAX_SOURCE_BYTES)
    candidates: list[tuple[str, str]] = []
    if py is not None:
        candidates.append((_decode(py, f"{topic}.py"), "py"))
    try:
        nb = _read_regular(folder / f"{topic}.ipynb", MAX_NOTEBOOK_BYTES)
        if nb is not None:
            candidates.append((notebook_to_source(_decode(nb, f"{topic}.ipynb"), f"{topic}.ipynb"), "ipynb"))
    except SubmissionError:
        if py is None:
            raise  # the notebook is all there is: its problem is the topic's message
    if not candidates:
        return None
    return min(candidates, key=lambda c: unfinished_functions(c[0]))


def unfinished_functions(source: str) -> float:
    """How many functions still raise ``NotImplementedError`` (a stub); inf when it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return math.inf
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for stmt in node.body:
                if isinstance(stmt, ast.Raise) and stmt.exc is not None:
                    exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
                    if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                        count += 1
                        break
    return count


def _syntax_error(topic: str, fmt: str, source: str, exc: SyntaxError) -> str:
    where = ""
    if exc.lineno:
        where = f" at line {exc.lineno}"
        if fmt == "ipynb":  # the module's line numbers mean nothing to the student; name the cell
            cells = [ln for ln in source.splitlines()[: exc.lineno] if ln.startswith("# --- cell ")]
            where = f" in {cells[-1][2:].strip(' -')}" if cells else ""
    return f"{topic}.{fmt} has a syntax error{where}: {exc.msg}"


def prepare(
    sub: Submission,
    job_dir: Path,
    topics: list[str],
    intake_seconds: float | None = None,
    contracts: dict[str, Contract] | None = None,
) -> Prepared:
    """Copy the submission's topic files into ``job_dir/modules`` and check them.

    A zipped submission is unpacked into ``job_dir/unzipped`` first; the caller owns
    ``job_dir`` and removes it (with the unpacked files) after grading. A zip that cannot
    be unpacked safely marks every topic broken with the archive's one-line reason.

    Reading, converting and checking each topic's file, and unpacking the zip, each get
    ``intake_seconds`` (None: no limit); a topic over budget is recorded as broken and
    the rest of the submission goes on.

    ``contracts`` (topic -> the reference's signatures) turns on the argument-order
    check of :mod:`grader.signature_check` for those topics.
    """
    module_dir = job_dir / "modules"
    module_dir.mkdir(parents=True, exist_ok=True)
    prepared = Prepared(sub, module_dir)
    folder = sub.path
    if sub.is_zip:
        try:
            with time_budget(intake_seconds, f"unpacking {sub.path.name}"):
                folder = extract_zip(sub.path, job_dir / "unzipped")
        except (SubmissionError, BudgetExceeded) as exc:
            reason = str(exc) if isinstance(exc, SubmissionError) else _over_budget(sub.path.name, exc)
            for topic in topics:
                prepared.present.add(topic)
                prepared.broken[topic] = reason
            return prepared
    for topic in topics:
        try:
            with time_budget(intake_seconds, f"reading {topic}"):
                source = _take_topic(prepared, folder, topic, (contracts or {}).get(topic))
        except BudgetExceeded as exc:
            prepared.present.add(topic)
            prepared.broken[topic] = _over_budget(_topic_files(folder, topic), exc)
            prepared.findings.pop(topic, None)
            prepared.mutations.pop(topic, None)
            prepared.signatures.pop(topic, None)
            continue
        if source is not None:
            (module_dir / f"{topic}.py").write_text(source, encoding="utf-8")
    return prepared


def _take_topic(prepared: Prepared, folder: Path, topic: str, contract: Contract | None = None) -> str | None:
    """Read, decode, convert and check one topic's file, recording it in ``prepared``;
    the module source to write, None when there is none or it cannot be used."""
    try:
        loaded = load_topic_source(folder, topic)
    except SubmissionError as exc:
        prepared.present.add(topic)
        prepared.broken[topic] = str(exc)
        return None
    if loaded is None:
        return None
    source, fmt = loaded
    prepared.present.add(topic)
    prepared.formats[topic] = fmt
    try:
        # the checks read the same tree (forbidden calls and writes into arguments are
        # checked in the manual topics; the argument order wherever there is a contract)
        info = TOPICS.get(topic)
        tree = ast.parse(source) if (info is not None and info.manual) or contract else None
        prepared.findings[topic] = check_source(source, topic, tree)
        prepared.mutations[topic] = find_mutations(source, topic, tree)
        if contract:
            prepared.signatures[topic] = check_signatures(source, topic, contract, tree)
    except SyntaxError as exc:
        prepared.broken[topic] = _syntax_error(topic, fmt, source, exc)
        return None
    except (ValueError, RecursionError, MemoryError) as exc:
        prepared.broken[topic] = f"{topic}.{fmt} cannot be parsed ({type(exc).__name__})"
        return None
    return source


def _topic_files(folder: Path, topic: str) -> str:
    """The topic's file names in the submission, for a message."""
    names = [f"{topic}.{ext}" for ext in ("py", "ipynb") if os.path.lexists(folder / f"{topic}.{ext}")]
    return " and ".join(names) or topic


def _over_budget(what: str, exc: BudgetExceeded) -> str:
    return f"reading {what} took longer than {exc.seconds:g} s"
