"""A warm fork server: a fresh interpreter that has imported torch and nothing secret.

The grader starts it with ``python -I -m grader.zygote FD PID`` and a minimal environment,
then asks it over the UNIX socket FD to fork one worker per submission. Forking from
here costs milliseconds instead of a torch import, and because this interpreter never
loaded the reference or the hidden suites, no worker can find them in its memory.

Torch runs single-threaded here before its first operation: a fork taken after OpenMP
started its thread pool hangs at the child's first parallel operation.

It dies with the grader. The grader passes its pid when it started this process from its
main thread; the kernel then sends SIGTERM here the moment the grader ends, even while
torch is still being imported (``PR_SET_PDEATHSIG``), and the handler kills every
worker's process group before this process ends. The signal fires when the *thread*
that started this process ends, so a grader that starts it from another thread passes 0
and none is armed; this process then ends when the control socket reaches end of file,
which the main loop watches. The workers it forks die with it (see
:func:`grader.sandbox_child.stay_with_parent`).
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import socket
import struct
import sys

from grader import sandbox_child  # light (no torch): the parent-death signal comes first


class _GraderGone(BaseException):
    """SIGTERM: the grader ended (or someone ended this process)."""


def _on_sigterm(*_: object) -> None:
    raise _GraderGone


if __name__ == "__main__":
    # SIGTERM's default action until main() handles it (an ignored SIGTERM is inherited
    # across exec); this process has no workers to kill before then.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if len(sys.argv) > 2 and int(sys.argv[2]) > 0:
        sandbox_child.stay_with_parent(int(sys.argv[2]), sig=signal.SIGTERM)

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import numpy  # noqa: E402,F401  (preloaded so workers never import it again)
import torch  # noqa: E402

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass
(torch.randn(8, 8) @ torch.randn(8, 8)).sum()  # warm the dispatcher single-threaded
# torch.optim imports torch._dynamo when the first optimizer is built: seconds of CPU that
# every worker would pay again; pay it once here.
import torch._dynamo  # noqa: E402,F401

from grader import isolation, wire, worker  # noqa: E402,F401  (preloaded for workers)

_LEN = struct.Struct("<I")


def _send(sock: socket.socket, message: dict) -> None:
    data = json.dumps(message).encode()
    sock.sendall(_LEN.pack(len(data)) + data)


def _recv(sock: socket.socket) -> tuple[dict, list[int]] | None:
    head, fds, _, _ = socket.recv_fds(sock, _LEN.size, 8)
    if not head:
        return None
    while len(head) < _LEN.size:
        chunk = sock.recv(_LEN.size - len(head))
        if not chunk:
            return None
        head += chunk
    (size,) = _LEN.unpack(head)
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return json.loads(data), list(fds)


def main() -> None:
    ctrl = socket.socket(fileno=int(sys.argv[1]))
    me = os.getpid()
    children: set[int] = set()
    leases: dict[int, isolation.UidLease] = {}
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(ctrl, selectors.EVENT_READ, "ctrl")
    sel.register(wake_r, selectors.EVENT_READ, "child")
    _send(ctrl, {"op": "ready", "pid": me, "torch": torch.__version__})
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)  # the finally below kills the workers
        while True:
            for key, _ in sel.select():
                if key.data == "child":
                    os.read(wake_r, 4096)
                    _reap(ctrl, children, leases)
                    continue
                received = _recv(ctrl)
                if received is None:
                    return
                msg, fds = received
                if msg.get("op") == "spawn":
                    lease = _assign_user(msg["config"], leases)
                    pid = os.fork()
                    if pid == 0:
                        sel.close()
                        ctrl.close()
                        for fd in (wake_r, wake_w):
                            os.close(fd)
                        sandbox_child.run_worker(msg["config"], fds, parent=me)
                    for fd in fds:
                        os.close(fd)
                    children.add(pid)
                    if lease is not None:
                        leases[pid] = lease
                    _send(ctrl, {"op": "spawned", "pid": pid, "token": msg.get("token")})
                elif msg.get("op") == "exit":
                    return
            _reap(ctrl, children, leases)
    finally:
        for pid in list(children):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass


def _assign_user(config: dict, leases: dict[int, isolation.UidLease]) -> isolation.UidLease | None:
    """A dedicated uid for the next worker (root only), leased machine-wide."""
    iso = config.get("isolation") or {}
    if iso.get("user") != "auto" or not isolation.LINUX or os.getuid() != 0:
        if iso:
            iso["user"] = None
        return None
    lease = isolation.UidLease.acquire(int(iso.get("uid_base", 62000)))
    iso["user"] = lease.uid if lease else None
    return lease


def _reap(ctrl: socket.socket, children: set[int], leases: dict[int, isolation.UidLease]) -> None:
    while children:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        lease = leases.pop(pid, None)
        # Anything the worker left in its process group dies with it, and with a
        # dedicated uid, anything else that runs as that user too.
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        if lease is not None:
            isolation.sweep_user(lease.uid)
            lease.release()
        _send(
            ctrl,
            {
                "op": "exited",
                "pid": pid,
                "exitcode": os.waitstatus_to_exitcode(status),
                "cpu": usage.ru_utime + usage.ru_stime,
                "maxrss_kb": usage.ru_maxrss,
            },
        )


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        main()
    except _GraderGone:
        pass
    # Nothing here needs the interpreter's shutdown (the workers are killed, the uid
    # leases are file locks the kernel releases): skipping it saves the grader most of a
    # second of waiting at the end of every run.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
