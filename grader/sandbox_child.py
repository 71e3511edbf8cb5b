"""What a freshly forked worker does to itself before it touches student code."""

from __future__ import annotations

import os
import resource
import select
import signal
import sys
from typing import Any

from grader import isolation

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4


def _prctl(option: int, arg: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        return isolation.load_libc().prctl(option, arg, 0, 0, 0) == 0
    except OSError:
        return False


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux).

    Precisely: when the *thread* that forked this process ends, which is why only
    processes forked from a thread that lasts as long as its process (the main thread of
    the fork server or of a grading process) use it. A fork clears it in the child, and
    so does a change of user.
    """
    return _prctl(_PR_SET_PDEATHSIG, sig)


def stay_with_parent(parent: int | None = None, lifeline: int | None = None, sig: int = signal.SIGKILL) -> None:
    """Arm the parent-death signal, then end this process at once if the parent is gone.

    The kernel sends nothing for a parent that died before the signal was armed, so the
    parent is looked for afterwards: ``parent`` is its pid, which ``getppid()`` no longer
    returns once it died. Process 1 of a PID namespace cannot tell that way (its parent
    lives outside the namespace, and ``getppid()`` is 0 either way): it passes
    ``lifeline``, the read end of a pipe whose only write end its parent holds, which
    reads end of file once the parent is gone. Elsewhere than Linux no signal is armed
    and only the check is made.
    """
    die_with_parent(sig)
    if lifeline is not None:
        try:
            gone = bool(select.select([lifeline], [], [], 0)[0])
        except (OSError, ValueError):
            gone = True
    else:
        gone = parent is not None and os.getppid() != parent
    if gone:
        os._exit(1)


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
            with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        if fields.get("Uid", "").split()[:1] == [uid]:
            tasks += int(fields.get("Threads", "1").strip() or 1)
    return tasks + extra


def run_worker(cfg: dict[str, Any], fds: list[int], parent: int | None = None) -> None:
    """Become a sandboxed worker and serve until told to stop; never returns.

    ``parent`` is the fork server's pid: the worker dies with it (SIGKILL)."""
    code = 0
    try:
        req_fd, resp_fd, log_fd = fds
        os.setsid()
        stay_with_parent(parent)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        scratch = cfg["scratch"]
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
        for fd in isolation.open_fds():
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        report = isolation.Report()
        report.add("process", "a fresh process per submission; results travel as data only")
        report.add("scrubbed_env", "minimal environment, stdin closed, output captured")
        iso = cfg.get("isolation") or {}
        if iso.get("namespaces"):
            try:
                entered = isolation.unshare_namespaces(report, want_user=bool(iso.get("userns", True)))
            except OSError:
                entered = False
            if entered:
                stay_with_parent(parent)  # entering a user namespace may have disarmed it
                # process 1 watches the end this process (its parent) keeps open
                lifeline, held = os.pipe()
                isolation.become_init_parent(
                    lambda: _confine(cfg, req_fd, resp_fd, report, True, lifeline=lifeline), keep=(held,)
                )
        else:
            report.skip("pid_ns", "turned off")
        _confine(cfg, req_fd, resp_fd, report, False, parent=parent)
    except BaseException as exc:
        _say(f"sandbox setup failed: {type(exc).__name__}: {exc}")
        code = 70
    finally:
        os._exit(code)


def _confine(
    cfg: dict[str, Any],
    req_fd: int,
    resp_fd: int,
    report: isolation.Report,
    namespaced: bool,
    parent: int | None = None,
    lifeline: int | None = None,
) -> None:
    """Apply the remaining layers, tell the grader which are on, then serve.

    ``parent`` (the fork server's pid) or ``lifeline`` (process 1 of a PID namespace: see
    :func:`stay_with_parent`) tell whether the parent is still there."""
    code = 0
    try:
        if namespaced:
            stay_with_parent(lifeline=lifeline)  # a fork does not keep the signal
        iso = cfg.get("isolation") or {}
        scratch, submission = cfg["scratch"], cfg["submission"]
        uid = iso.get("user")
        real_root = os.getuid() == 0 and not report.layers.get("userns")
        if uid is not None and real_root and not namespaced and not isolation.readable_by_others(sys.prefix):
            # without a view of its own, another user could not import what is not loaded yet
            report.skip("user", f"the Python installation in {sys.prefix} is not readable by other users")
            uid = None
        if uid is not None and real_root:
            isolation.hand_over(uid, [scratch], [submission], [os.path.dirname(scratch)])
        view = None
        if namespaced:
            report.add("pid_ns", "sees only its own processes; all of them die with it")
            view = _build_view(cfg, iso, report, uid if real_root else None)
        else:
            report.skip("scratch_quota", _NO_QUOTA)
        os.chdir(scratch)
        if uid is not None and real_root:
            try:
                isolation.drop_to(uid)
                report.add("user", f"dedicated uid {uid}")
            except OSError as exc:
                report.skip("user", str(exc))
            # a change of user disarms the parent-death signal: arm it again (prctl is
            # still allowed: seccomp comes last)
            stay_with_parent(parent, lifeline)
        elif uid is None:
            report.skip("user", "turned off or unusable here")
        else:
            report.skip("user", "not root: the grader's own user (in a user namespace when available)")
        if lifeline is not None:
            os.close(lifeline)  # student code gets no descriptor of the parent's
        apply_limits(cfg)
        report.add("rlimits", _limits_text(cfg))
        _prctl(_PR_SET_DUMPABLE, 0)
        _prctl(isolation.PR_SET_NO_NEW_PRIVS, 1)
        if iso.get("landlock"):
            abi = isolation.landlock_abi()
            if abi:
                try:
                    readable, writable = _landlock_paths(cfg, iso, view)
                    report.add("landlock", isolation.apply_landlock(readable, writable, abi))
                except OSError as exc:
                    report.skip("landlock", str(exc))
            else:
                report.skip("landlock", "not supported or not enabled by this kernel")
        else:
            report.skip("landlock", "turned off")
        if iso.get("seccomp"):
            try:
                report.add("seccomp", isolation.apply_seccomp())
            except OSError as exc:
                report.skip("seccomp", str(exc))
        else:
            report.skip("seccomp", "turned off")
        from grader import wire

        hello: dict[str, Any] = {"op": "ready", "isolation": report.as_dict()}
        if iso.get("probe"):
            hello["checks"] = _self_test(iso.get("protect", []))
        wire.write_all(resp_fd, wire.pack(hello))
        if iso.get("probe"):
            os._exit(0)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.reconfigure(line_buffering=True)
            except (AttributeError, ValueError):
                pass
        sys.path[:] = [p for p in sys.path if p] + [submission]
        import torch

        torch.set_num_threads(max(1, int(cfg.get("threads", 1))))
        if cfg.get("cuda"):
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        from grader.worker import Worker

        worker = Worker(req_fd, resp_fd, submission, wire.Limits(**cfg.get("wire", {})))
        worker.guard = _install_guard(submission, worker)
        worker.serve()
    except BaseException as exc:
        _say(f"sandbox setup failed: {type(exc).__name__}: {exc}")
        code = 70
    finally:
        os._exit(code)


_NO_QUOTA = (
    "no private mount namespace here: the scratch folder is the host's, each file capped by the "
    "file size limit but not their total"
)


def _build_view(
    cfg: dict[str, Any], iso: dict[str, Any], report: isolation.Report, owner: int | None
) -> isolation.View | None:
    """The private file view, its scratch folder a tmpfs of ``scratch_mb`` owned by
    ``owner`` (the dedicated uid, if any); None when the kernel refuses it."""
    scratch_mb = int(cfg.get("scratch_mb") or 0)
    view = isolation.default_view(
        iso["grader_link"], cfg["submission"], cfg["scratch"], bool(cfg.get("cuda")), scratch_mb, owner
    )
    try:
        isolation.build_view(view, os.path.join(os.path.dirname(cfg["scratch"]), "view"))
    except OSError as exc:
        report.skip("mount_view", str(exc))
        report.skip("scratch_quota", f"no private file view ({exc})")
        return None
    report.add("mount_view", "only system, Python, grader package, submission and scratch folders")
    if scratch_mb > 0:
        report.add("scratch_quota", isolation.scratch_quota_text(view))
    else:
        report.skip("scratch_quota", "turned off (limits.scratch_mb is 0)")
    return view


def _install_guard(submission: str, worker: Any) -> Any:
    """The run-time forbidden-call guard, before any student code is imported (see
    grader.guard): a forbidden call from a manual topic becomes a notice to the grader."""
    from grader import guard
    from grader.topics import TOPICS

    manual = {name for name, topic in TOPICS.items() if topic.manual}
    return guard.install(guard.Guard(submission, manual, set(TOPICS), worker.notice))


def _say(line: str) -> None:
    """One line for the grader on the captured output (fd 2), before student code runs."""
    try:
        os.write(2, (line[:500] + "\n").encode(errors="replace"))
    except OSError:
        pass


def _limits_text(cfg: dict) -> str:
    parts = [f"cpu {int(cfg['cpu_seconds'])} s"]
    if cfg.get("memory_bytes"):
        parts.append(f"memory {int(cfg['memory_bytes']) >> 20} MiB")
    parts.append(f"files {int(cfg['file_size_bytes']) >> 20} MiB")
    parts.append(f"{int(cfg['open_files'])} open files")
    if os.getuid() != 0:
        parts.append(f"{int(cfg['processes'])} more processes")
    parts.append("no core dumps")
    return ", ".join(parts)


def _landlock_paths(cfg: dict, iso: dict, view: isolation.View | None) -> tuple[list[str], list[str]]:
    scratch = cfg["scratch"]
    if view is not None:
        devices = list(view.devices)
        return ["/"], [scratch, "/tmp", "/dev/shm", *devices]
    plain = isolation.default_view(iso["grader_link"], cfg["submission"], scratch, bool(cfg.get("cuda")))
    readable = plain.read_only + plain.etc_files + ["/proc", os.path.dirname(iso["grader_link"])]
    return readable, [scratch, *plain.devices]


def _self_test(protect: list[str]) -> dict[str, Any]:
    """What a worker can reach once confined; the grader checks the answers."""
    seen = {}
    for path in protect:
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                with open(path, "rb") as fh:
                    fh.read(1)
            seen[path] = True
        except OSError:
            seen[path] = False
    checks: dict[str, Any] = {"protected": seen}
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(("127.0.0.1", 9))
        checks["network"] = "connected"
    except OSError as exc:
        checks["network"] = f"refused: {exc.strerror or exc}"
    try:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        checks["fork"] = "allowed"
    except OSError as exc:
        checks["fork"] = f"refused: {exc.strerror or exc}"
    try:
        checks["visible_processes"] = sum(1 for p in os.listdir("/proc") if p.isdigit())
    except OSError:
        checks["visible_processes"] = None
    checks["uid"] = os.getuid()
    return checks
