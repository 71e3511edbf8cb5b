"""What a freshly forked worker does to itself before it touches student code."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
import sys
from typing import Any

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38


def _prctl(option: int, arg: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(option, arg, 0, 0, 0) == 0
    except OSError:
        return False


def die_with_parent() -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux)."""
    return _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _limit(name: str, soft: int, hard: int | None = None) -> None:
    which = getattr(resource, name, None)
    if which is None:
        return
    hard = soft if hard is None else hard
    try:
        cur_soft, cur_hard = resource.getrlimit(which)
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))
    except (ValueError, OSError):
        pass


def apply_limits(cfg: dict) -> None:
    """rlimits for one worker; the grader picks the numbers (see :mod:`grader.limits`)."""
    cpu = max(1, int(cfg["cpu_seconds"]))
    _limit("RLIMIT_CPU", cpu, cpu + 1)
    if cfg.get("memory_bytes"):
        _limit("RLIMIT_AS", int(cfg["memory_bytes"]))
    _limit("RLIMIT_FSIZE", int(cfg["file_size_bytes"]))
    _limit("RLIMIT_NOFILE", int(cfg["open_files"]))
    _limit("RLIMIT_CORE", 0)
    budget = _process_budget(int(cfg["processes"]))
    if budget is not None:
        _limit("RLIMIT_NPROC", budget)


def _process_budget(extra: int) -> int | None:
    """RLIMIT_NPROC for ``extra`` more processes or threads.

    The kernel counts every task of the user, not just this worker's, so the limit is
    what the user runs already plus ``extra``. Root is exempt from the limit, so there is
    nothing to set (a dedicated user or a PID namespace is the remedy there).
    """
    if not hasattr(os, "getuid") or os.getuid() == 0:
        return None
    uid = str(os.getuid())
    tasks = 0
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        if fields.get("Uid", "").split()[:1] == [uid]:
            tasks += int(fields.get("Threads", "1").strip() or 1)
    return tasks + extra


def run_worker(cfg: dict[str, Any], fds: list[int]) -> None:
    """Become a sandboxed worker and serve until told to stop; never returns."""
    code = 0
    try:
        req_fd, resp_fd, log_fd = fds
        os.setsid()
        die_with_parent()
        _prctl(_PR_SET_DUMPABLE, 0)
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        scratch = cfg["scratch"]
        os.chdir(scratch)
        os.environ.clear()
        os.environ.update(
            {
                "PATH": "/usr/bin:/bin",
                "HOME": scratch,
                "TMPDIR": scratch,
                "LANG": "C.UTF-8",
                "OMP_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1",
            }
        )
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        keep = {0, 1, 2, req_fd, resp_fd}
        for fd in _open_fds():
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        apply_limits(cfg)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.reconfigure(line_buffering=True)
            except (AttributeError, ValueError):
                pass
        sys.path[:] = [p for p in sys.path if p] + [cfg["submission"]]
        import torch

        torch.set_num_threads(max(1, int(cfg.get("threads", 1))))
        if cfg.get("cuda"):
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        from grader import wire
        from grader.worker import Worker

        Worker(req_fd, resp_fd, cfg["submission"], wire.Limits(**cfg.get("wire", {}))).serve()
    except BaseException:
        code = 70
    finally:
        os._exit(code)


def _open_fds() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 256))
