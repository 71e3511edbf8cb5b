"""Zipped submissions (LMS downloads), unpacked safely into a folder the grading run owns.

:func:`extract_zip` reads the archive's central directory first and rejects it, naming
the entry, before a byte is written when any entry

* has an absolute name (``/x``, ``\\x``, ``C:x``) or a ``..`` component (zip-slip),
* is a symbolic link, a device, a FIFO or a socket (the Unix mode in ``external_attr``),
* is encrypted, or appears twice,
* or when the archive is over :data:`MAX_ARCHIVE_BYTES`, holds more than
  :data:`MAX_ENTRIES` entries (told from its end record, before the table of contents
  is parsed), unpacks to more than :data:`MAX_TOTAL_BYTES`, or has an entry that expands
  more than :data:`MAX_RATIO` times (a compression bomb).

Only regular files are written, each created fresh (``O_EXCL | O_NOFOLLOW``) and
counted while it streams, so sizes a forged directory understates are still capped.
``__MACOSX/`` resource forks and ``.DS_Store`` files are skipped, and when every file
sits in one top-level folder (``alice/losses.py``) that folder is unwrapped.

:func:`grader.submission.prepare` unpacks into ``<job_dir>/unzipped``; the job folder
is created and removed by the grading run for each submission, so nothing outlives it.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from grader.errors import SubmissionError

MAX_ARCHIVE_BYTES = 128 << 20
MAX_ENTRIES = 1000
MAX_TOTAL_BYTES = 64 << 20
MAX_RATIO = 100
RATIO_FLOOR = 64 << 10  # smaller entries may compress as well as they like
_CHUNK = 1 << 16
_SKIPPED = ("__MACOSX",)
_SPECIAL = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFCHR: "a device file",
    stat.S_IFBLK: "a device file",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
}
_DRIVE = re.compile(r"^[A-Za-z]:")
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB" if n >= 1 << 20 else f"{n} bytes"


def _entry_parts(archive: str, info: zipfile.ZipInfo) -> list[str] | None:
    """The path components an entry unpacks to, None to skip it; SubmissionError if unsafe."""
    raw = info.filename
    shown = repr(raw[:120])
    if any(ord(c) < 32 for c in raw):
        raise SubmissionError(f"{archive}: entry {shown} has control characters in its name")
    name = raw.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        raise SubmissionError(f"{archive}: entry {shown} has an absolute path; zip the folder's contents instead")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise SubmissionError(f"{archive}: entry {shown} points outside the folder ('..' in its path)")
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind in _SPECIAL:
        raise SubmissionError(f"{archive}: entry {shown} is {_SPECIAL[kind]}; only regular files are accepted")
    if info.is_dir() or kind == stat.S_IFDIR or not parts:
        return None
    if info.flag_bits & 0x1:
        raise SubmissionError(f"{archive}: entry {shown} is encrypted; zip the files without a password")
    if parts[0] in _SKIPPED or parts[-1] == ".DS_Store":
        return None
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        ratio = info.file_size // max(info.compress_size, 1)
        raise SubmissionError(f"{archive}: entry {shown} expands {ratio} times (a zip bomb?); the limit is {MAX_RATIO}")
    return parts


def _plan(archive: str, infos: list[zipfile.ZipInfo]) -> list[tuple[zipfile.ZipInfo, list[str]]]:
    if len(infos) > MAX_ENTRIES:
        raise SubmissionError(f"{archive} has {len(infos)} entries; the limit is {MAX_ENTRIES}")
    plan, seen, total = [], set(), 0
    for info in infos:
        parts = _entry_parts(archive, info)
        if parts is None:
            continue
        key = "/".join(parts)
        if key in seen:
            raise SubmissionError(f"{archive}: entry {key!r} appears twice")
        seen.add(key)
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise SubmissionError(
                f"{archive}: entry {info.filename[:120]!r} takes the unpacked size past the {_mib(MAX_TOTAL_BYTES)} limit"
            )
        plan.append((info, parts))
    tops = {parts[0] for _, parts in plan}
    if len(tops) == 1 and all(len(parts) > 1 for _, parts in plan):
        plan = [(info, parts[1:]) for info, parts in plan]
    return plan


def _write(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Stream one entry into a new file; the bytes written (at most ``budget``)."""
    written = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as out, zf.open(info) as src:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > info.file_size or written > budget:
                raise SubmissionError("unpacks to more than its directory entry says")
            out.write(chunk)
    return written


def _open_archive(path: Path) -> BinaryIO:
    """The archive opened as a regular file under the size cap (never blocking on a FIFO)."""
    name = path.name
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise SubmissionError(f"{name} cannot be opened ({exc.strerror})") from None
    fh = os.fdopen(fd, "rb")
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = f"{name} is not a regular file"
    elif info.st_size > MAX_ARCHIVE_BYTES:
        problem = f"{name} is {_mib(info.st_size)}; the limit is {_mib(MAX_ARCHIVE_BYTES)}"
    if problem:
        fh.close()
        raise SubmissionError(problem)
    return fh


def _check_entry_count(name: str, fh: BinaryIO) -> None:
    """Refuse too many entries from the end record, before the whole directory is parsed
    (a 128 MiB archive of empty entries is over a million ZipInfo objects)."""
    end_record = getattr(zipfile, "_EndRecData", None)  # private, but in every CPython 3
    if end_record is None:
        return
    try:
        record = end_record(fh)
        count, size = (record[zipfile._ECD_ENTRIES_TOTAL], record[zipfile._ECD_SIZE]) if record else (0, 0)
    except _ZIP_ERRORS + (AttributeError, IndexError, TypeError):
        return  # zipfile.ZipFile reports the damage in its own words
    finally:
        fh.seek(0)
    if isinstance(count, int) and count > MAX_ENTRIES:
        raise SubmissionError(f"{name} has {count} entries; the limit is {MAX_ENTRIES}")
    if isinstance(size, int) and size > MAX_ENTRIES * 1024:  # zipfile parses by size, whatever the count says
        raise SubmissionError(f"{name} has a {_mib(size)} table of contents; the limit is {_mib(MAX_ENTRIES * 1024)}")


def extract_zip(path: Path, dest: Path) -> Path:
    """Unpack the zip at ``path`` into the new folder ``dest``; returns ``dest``.

    Raises :class:`SubmissionError` with one line naming the archive and the entry.
    ``dest`` may hold part of the archive afterwards; its owner removes it.
    """
    name = path.name
    with _open_archive(path) as fh:
        _check_entry_count(name, fh)
        try:
            zf = zipfile.ZipFile(fh)
        except _ZIP_ERRORS as exc:
            problem = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise SubmissionError(f"{name} is not a readable zip archive ({problem})") from None
        with zf:
            return _unpack(name, zf, dest)


def _unpack(name: str, zf: zipfile.ZipFile, dest: Path) -> Path:
    plan = _plan(name, zf.infolist())
    dest.mkdir(parents=True)
    budget = MAX_TOTAL_BYTES
    for info, parts in plan:
        target = dest.joinpath(*parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            budget -= _write(zf, info, target, budget)
        except SubmissionError as exc:
            raise SubmissionError(f"{name}: entry {info.filename[:120]!r} {exc}") from None
        except _ZIP_ERRORS as exc:
            problem = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise SubmissionError(f"{name}: entry {info.filename[:120]!r} cannot be unpacked ({problem})") from None
    return dest
