"""Removing a folder a submission wrote into, whatever it left there.

Student code decides what its scratch folder holds: a chain of directories thousands of
levels deep, folders it made unreadable, symbolic links to the grader's own files,
millions of empty files. ``shutil.rmtree`` recurses once per level (a deep chain raises
``RecursionError``, which ``ignore_errors`` does not catch), and a path-based removal
fails once a path is longer than ``PATH_MAX``.

:func:`remove_tree` walks the tree with a loop and an explicit stack instead, through
directory descriptors (``openat``/``unlinkat`` relative to the folder being emptied), so
neither depth nor path length matters. It never follows a symbolic link (a link is
removed, never its target), never crosses into another file system, makes folders the
grader owns but cannot list or write usable again, and stops at a time and an entry
budget. It never raises: it returns a :class:`RemovalReport` naming what is left and why.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass, field

DEFAULT_SECONDS = 60.0
DEFAULT_ENTRIES = 2_000_000
# Directory descriptors held at once; deeper folders are reopened through ".." later.
_OPEN_LEVELS = 64
# Leftovers a report names one by one; the rest are counted.
_NAMED = 5
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Leftover:
    """Something :func:`remove_tree` could not remove: its path inside the tree and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class RemovalReport:
    """What one :func:`remove_tree` call did."""

    path: str
    removed: int = 0
    leftovers: tuple[Leftover, ...] = ()
    more_leftovers: int = 0  # leftovers beyond those named in ``leftovers``
    stopped: str | None = None  # why the removal ended early (a budget ran out, ...)
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """Whether nothing of the tree is left."""
        return not self.leftovers and self.stopped is None

    def describe(self) -> str:
        """One line saying what is left and why; empty when the tree is gone."""
        if self.complete:
            return ""
        parts = []
        if self.stopped:
            parts.append(f"stopped after removing {self.removed} entries: {self.stopped}")
        named = [f"{left.path}: {left.reason}" for left in self.leftovers]
        if named:
            more = f" and {self.more_leftovers} more" if self.more_leftovers else ""
            parts.append("left " + "; ".join(named) + more)
        return "; ".join(parts)


class _Stop(Exception):
    """The removal cannot go on (a budget ran out, the tree changed under it)."""


@dataclass
class _Frame:
    """One folder on the way down: its name in its parent, identity and descriptor."""

    name: str
    dev: int
    ino: int
    fd: int | None
    pending: list[str] | None = None  # subfolders still to remove; None until listed


@dataclass
class _Remover:
    path: str
    seconds: float
    max_entries: int
    started: float = field(default_factory=time.monotonic)
    entries: int = 0
    removed: int = 0
    leftovers: list[Leftover] = field(default_factory=list)
    more: int = 0
    stopped: str | None = None
    stack: list[_Frame] = field(default_factory=list)
    top_fd: int | None = None  # the folder that holds the tree
    dev: int = -1

    # -- bookkeeping ------------------------------------------------------------------
    def tick(self, entry: bool = False) -> None:
        """Count an entry (when ``entry``) and stop once a budget is spent."""
        if entry:
            self.entries += 1
            if self.entries > self.max_entries:
                raise _Stop(f"the tree has more than {self.max_entries} entries")
        if time.monotonic() - self.started > self.seconds:
            raise _Stop(f"removing it took longer than {self.seconds:g} s")

    def left(self, name: str | None, reason: str) -> None:
        if len(self.leftovers) >= _NAMED:
            self.more += 1
            return
        self.leftovers.append(Leftover(_where([f.name for f in self.stack[1:]], name), reason))

    def report(self) -> RemovalReport:
        return RemovalReport(
            self.path, self.removed, tuple(self.leftovers), self.more, self.stopped,
            round(time.monotonic() - self.started, 4),
        )

    def close_all(self) -> None:
        for frame in self.stack:
            _close(frame.fd)
            frame.fd = None
        _close(self.top_fd)
        self.top_fd = None

    # -- the walk -----------------------------------------------------------------------
    def run(self) -> None:
        parent, name = os.path.split(os.path.abspath(self.path))
        if name in ("", ".", ".."):
            self.left(None, "refusing to remove a file system's root")
            return
        try:
            self.top_fd = os.open(parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return
        info = _lstat(name, self.top_fd)
        if info is None:
            return
        if not stat.S_ISDIR(info.st_mode):
            self.unlink(self.top_fd, name)
            return
        self.dev = info.st_dev
        fd = self.enter(self.top_fd, name, info, shown=None)
        if fd is None:
            return
        self.stack.append(_Frame(name, info.st_dev, info.st_ino, fd))
        while self.stack:
            self.tick()
            frame = self.stack[-1]
            if frame.pending is None:
                frame.pending = self.clear(frame)
            if frame.pending:
                self.descend(frame, frame.pending.pop())
            else:
                self.ascend()

    def clear(self, frame: _Frame) -> list[str]:
        """Remove everything in ``frame`` but its subfolders, which are returned."""
        assert frame.fd is not None
        _make_writable(frame.fd)
        folders = []
        with os.scandir(frame.fd) as entries:
            for entry in entries:
                self.tick(entry=True)
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                if is_dir:
                    folders.append(entry.name)
                elif not self.unlink(frame.fd, entry.name):
                    folders.append(entry.name)  # it became a folder meanwhile
        return folders

    def unlink(self, dir_fd: int, name: str) -> bool:
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return True
        except IsADirectoryError:
            return False
        except OSError as exc:
            self.left(name, _reason(exc))
            return True
        self.removed += 1
        return True

    def descend(self, parent: _Frame, name: str) -> None:
        assert parent.fd is not None
        info = _lstat(name, parent.fd)
        if info is None:
            return
        if not stat.S_ISDIR(info.st_mode):
            self.unlink(parent.fd, name)
            return
        if info.st_dev != self.dev:
            self.left(name, "another file system is mounted there")
            return
        fd = self.enter(parent.fd, name, info)
        if fd is None:
            return
        self.stack.append(_Frame(name, info.st_dev, info.st_ino, fd))
        far = len(self.stack) - 1 - _OPEN_LEVELS
        if far >= 1:  # keep the top and the deepest levels open, no more
            _close(self.stack[far].fd)
            self.stack[far].fd = None

    def enter(self, dir_fd: int, name: str, info: os.stat_result, shown: str | None = "") -> int | None:
        """A descriptor for the folder ``name``, made usable when the grader owns it.

        ``shown`` is the name a leftover is reported under (None: the tree's top)."""
        shown = name if shown == "" else shown
        try:
            fd = _open_dir(name, dir_fd)
        except PermissionError as exc:
            if info.st_uid != os.geteuid() or not _make_enterable(dir_fd, name):
                self.left(shown, _reason(exc))
                return None
            try:
                fd = _open_dir(name, dir_fd)
            except OSError as again:
                self.left(shown, _reason(again))
                return None
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.left(shown, _reason(exc))
            return None
        seen = os.fstat(fd)
        if (seen.st_dev, seen.st_ino) != (info.st_dev, info.st_ino):
            os.close(fd)
            raise _Stop("the tree changed while it was being removed")
        return fd

    def ascend(self) -> None:
        """The folder on top is as empty as it gets: remove it from its parent."""
        frame = self.stack[-1]
        parent_fd = self.top_fd
        if len(self.stack) > 1:
            parent = self.stack[-2]
            if parent.fd is None:
                parent.fd = _reopen_parent(frame, parent)
            parent_fd = parent.fd
        self.stack.pop()
        _close(frame.fd)
        frame.fd = None
        assert parent_fd is not None
        try:
            os.rmdir(frame.name, dir_fd=parent_fd)
        except FileNotFoundError:
            return
        except OSError as exc:
            if not (exc.errno == errno.ENOTEMPTY and (self.leftovers or self.more)):
                self.left(frame.name if self.stack else None, _reason(exc))  # else: what is inside was named
            return
        self.removed += 1


def remove_tree(path: str | os.PathLike[str], *, seconds: float = DEFAULT_SECONDS,
                max_entries: int = DEFAULT_ENTRIES) -> RemovalReport:
    """Remove ``path`` and everything under it, as far as possible; never raises.

    A symbolic link is removed, never followed; a file is unlinked. Stops after
    ``seconds`` or ``max_entries`` entries, leaving the rest, and says so in the report.
    """
    remover = _Remover(os.fspath(path), float(seconds), int(max_entries))
    try:
        remover.run()
    except _Stop as stop:
        remover.stopped = str(stop)
    except Exception as exc:  # noqa: BLE001 - the report carries it; cleanup never raises
        remover.stopped = f"{type(exc).__name__}: {str(exc)[:200]}"
    finally:
        remover.close_all()
    return remover.report()


# -- system calls, one concern each -----------------------------------------------------
def _open_dir(name: str, dir_fd: int) -> int:
    return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _close(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def _make_writable(fd: int) -> None:
    """Give the owner (the grader) write and search rights on a folder it holds open."""
    try:
        info = os.fstat(fd)
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o700 != 0o700:
            os.fchmod(fd, stat.S_IMODE(info.st_mode) | 0o700)
    except OSError:
        pass  # unlinking will report what it cannot do


def _make_enterable(dir_fd: int, name: str) -> bool:
    """Give the owner rights on a folder it cannot open, without following a link."""
    o_path = getattr(os, "O_PATH", None)
    try:
        if o_path is None:  # BSDs and macOS have lchmod behind follow_symlinks=False
            os.chmod(name, 0o700, dir_fd=dir_fd, follow_symlinks=False)
            return True
        fd = os.open(name, o_path | getattr(os, "O_DIRECTORY", 0) | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            # fchmod refuses O_PATH descriptors; the /proc link names the folder itself
            os.chmod(f"/proc/self/fd/{fd}", 0o700)
        finally:
            os.close(fd)
        return True
    except (OSError, NotImplementedError):
        return False


def _reopen_parent(child: _Frame, parent: _Frame) -> int:
    """The parent of an open folder, through "..", checked to be the one walked through."""
    if child.fd is None:
        raise _Stop("lost the way back up the tree")
    fd = os.open("..", _DIR_FLAGS, dir_fd=child.fd)
    seen = os.fstat(fd)
    if (seen.st_dev, seen.st_ino) != (parent.dev, parent.ino):
        os.close(fd)
        raise _Stop("the tree changed while it was being removed")
    return fd


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _show(name: str) -> str:
    text = name if name.isprintable() else repr(name)[1:-1]
    return text if len(text) <= 40 else text[:37] + "..."


def _where(folders: list[str], name: str | None) -> str:
    """A short, one-line path for a report: the last few levels and the depth."""
    parts = [*folders, name] if name is not None else list(folders)
    if not parts:
        return "."
    shown = "/".join(_show(p) for p in parts[-3:])
    return shown if len(parts) <= 3 else f".../{shown} ({len(parts)} levels down)"

