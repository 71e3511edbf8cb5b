"""Trusted side of the process split: the fork server, workers and their limits.

The grader never runs student code itself. A :class:`Zygote` (a fresh interpreter with
torch imported and nothing secret) forks one worker per submission; a
:class:`WorkerProcess` is the grader's end of three pipes to it (requests, replies,
captured output). Replies are read with a deadline and decoded by :mod:`grader.wire`;
the whole process group is SIGKILLed on timeout.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from grader import isolation, wire
from grader.cleanup import remove_tree
from grader.errors import BadReturn, GraderError, StudentCrash, StudentTimeout

_LEN = struct.Struct("<I")
_GRADER_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class SandboxLimits:
    """Per-call and per-submission limits; the rubric's ``limits:`` section sets them."""

    call_timeout: float = 10.0
    cpu_seconds: float = 300.0
    wall_seconds: float = 900.0
    memory_mb: int = 4096
    file_size_mb: int = 64
    open_files: int = 256
    processes: int = 64
    output_kb: int = 64
    result_mb: int = 64
    threads: int = 1
    # what the trusted grader spends reading, converting and checking one topic's file
    intake_seconds: float = 20.0
    # the worker's scratch folder (its cwd, HOME and TMPDIR): a tmpfs of this size where
    # the worker has a private file view, so writing more fails with ENOSPC
    scratch_mb: int = 256


@dataclass
class ExitInfo:
    """How a worker ended, as reported by the fork server."""

    exitcode: int
    cpu: float
    maxrss_kb: int

    def describe(self) -> str:
        if self.exitcode < 0:
            sig = -self.exitcode
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = f"signal {sig}"
            reason = {
                "SIGXCPU": "the CPU time limit was reached",
                "SIGSEGV": "segmentation fault",
                "SIGABRT": "aborted",
                "SIGXFSZ": "the file size limit was reached",
            }.get(name, "")
            return f"killed by {name}" + (f" ({reason})" if reason else "")
        return f"exited with status {self.exitcode}"


def _minimal_env() -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        # torch.cuda.is_available() without initialising CUDA, so forks stay usable
        "PYTORCH_NVML_BASED_CUDA_CHECK": "1",
    }
    for key in ("CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


class Zygote:
    """The fork server process and its control socket."""

    def __init__(self, policy: isolation.Policy | None = None) -> None:
        self.policy = policy or isolation.Policy()
        self.isolation: dict | None = None  # what the probe worker reported
        self.restarts = 0
        self.proc: subprocess.Popen | None = None
        self.ctrl: socket.socket | None = None
        self.exits: dict[int, ExitInfo] = {}
        self._ready = False
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._log: Any = None
        self._token = 0

    def start(self) -> "Zygote":
        if self.proc is not None:
            return self
        # Only the grader package is put on the path (through a link), never its parent
        # directory, so a worker cannot import the reference as a module.
        self._tmp = tempfile.TemporaryDirectory(prefix="grader-zygote-")
        os.chmod(self._tmp.name, 0o711)  # a dedicated worker user must reach the package link
        os.symlink(_GRADER_DIR, Path(self._tmp.name) / "grader")
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._log = tempfile.TemporaryFile()
        code = (
            "import sys; sys.path.insert(0, sys.argv.pop(1)); import runpy; "
            "runpy.run_module('grader.zygote', run_name='__main__', alter_sys=True)"
        )
        # The fork server dies with this process through a signal the kernel sends when
        # the thread that started it ends: only the main thread lasts as long as the
        # process. Started from another thread, it ends when the control socket closes.
        on_main = threading.current_thread() is threading.main_thread()
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", code, self._tmp.name, str(child.fileno()), str(os.getpid() if on_main else 0)],
            pass_fds=[child.fileno()],
            env=_minimal_env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            cwd=self._tmp.name,
            start_new_session=True,
        )
        child.close()
        self.ctrl = parent
        return self

    def _fail(self, what: str) -> GraderError:
        detail = ""
        if self._log is not None:
            self._log.seek(0)
            lines = self._log.read().decode(errors="replace").strip().splitlines()
            detail = f": {lines[-1]}" if lines else ""
        return GraderError(f"the sandbox fork server {what}{detail}")

    def _recv(self, timeout: float) -> dict:
        assert self.ctrl is not None
        self.ctrl.settimeout(timeout)
        try:
            head = self._recv_exact(_LEN.size)
            return json.loads(self._recv_exact(_LEN.unpack(head)[0]))
        except (socket.timeout, EOFError, OSError, ValueError):
            raise self._fail("stopped answering") from None

    def _recv_exact(self, n: int) -> bytes:
        assert self.ctrl is not None
        data = b""
        while len(data) < n:
            chunk = self.ctrl.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _handle(self, msg: dict) -> None:
        if msg.get("op") == "exited":
            self.exits[msg["pid"]] = ExitInfo(msg["exitcode"], msg["cpu"], msg["maxrss_kb"])

    def wait_ready(self, timeout: float = 120.0) -> None:
        if self._ready:
            return
        self.start()
        msg = self._recv(timeout)
        if msg.get("op") != "ready":
            raise self._fail("did not start")
        self._ready = True

    def spawn(self, config: dict, fds: list[int]) -> int:
        """Fork a worker that will use ``fds`` (request, reply, log) and ``config``.

        A fork server that died (a worker that could signal it killed it, say) is
        started again once, so one submission cannot cost the others their grades."""
        try:
            return self._spawn(config, fds)
        except (OSError, GraderError):
            if self.proc is None or self.proc.poll() is None:
                raise
        self.restarts += 1
        probe = self.isolation
        self.close()
        self.start()
        self.isolation = probe
        if isinstance(config.get("isolation"), dict):
            config["isolation"]["grader_link"] = self.grader_link
        return self._spawn(config, fds)

    def _spawn(self, config: dict, fds: list[int]) -> int:
        self.wait_ready()
        assert self.ctrl is not None
        self._token += 1
        data = json.dumps({"op": "spawn", "config": config, "token": self._token}).encode()
        payload = _LEN.pack(len(data)) + data
        sent = socket.send_fds(self.ctrl, [payload[:1]], fds)
        self.ctrl.sendall(payload[sent:])
        while True:
            msg = self._recv(30.0)
            if msg.get("op") == "spawned" and msg.get("token") == self._token:
                return int(msg["pid"])
            self._handle(msg)

    def wait_exit(self, pid: int, timeout: float = 10.0) -> ExitInfo | None:
        deadline = time.monotonic() + timeout
        while pid not in self.exits:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                self._handle(self._recv(remaining))
            except GraderError:
                return None
        return self.exits.pop(pid)

    @property
    def grader_link(self) -> str:
        self.start()
        assert self._tmp is not None
        return str(Path(self._tmp.name) / "grader")

    def isolation_config(self) -> dict:
        return self.policy.config(self.grader_link)

    def probe(self, protect: list[str] | tuple[str, ...] = (), timeout: float = 60.0) -> dict:
        """Start a worker that confines itself as a real one would, tries to reach the
        ``protect`` paths, a socket and a fork, and reports; the answer is kept."""
        job = Path(tempfile.mkdtemp(prefix="grader-probe-"))
        try:
            (job / "modules").mkdir()
            (job / "scratch").mkdir()
            iso = {**self.isolation_config(), "probe": True, "protect": [str(p) for p in protect]}
            limits = SandboxLimits()
            worker = WorkerProcess(
                self, str(job / "modules"), str(job / "scratch"), limits, cpu_budget=30.0, cuda=False,
                output=OutputCapture(4096), isolation_config=iso, ready_timeout=timeout,
            )
            report = dict(worker.hello)
            worker.close()
        finally:
            remove_tree(job)  # never raises; a probe worker writes nothing worth reporting
        self.isolation = report
        return report

    def close(self) -> None:
        self._ready = False
        self.exits = {}
        if self.ctrl is not None:
            try:
                self.ctrl.close()
            except OSError:
                pass
            self.ctrl = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        if self._log is not None:
            self._log.close()
            self._log = None


class FrameReader:
    """Accumulates bytes from a non-blocking pipe into whole frames, checking sizes."""

    def __init__(self, limits: wire.Limits):
        self.limits = limits
        self.buf = bytearray()
        self.sizes: tuple[int, int] | None = None

    def feed(self, data: bytes) -> None:
        self.buf += data

    def frame(self) -> tuple[bytes, memoryview] | None:
        if self.sizes is None:
            if len(self.buf) < wire.PREFIX_SIZE:
                return None
            self.sizes = wire.frame_sizes(bytes(self.buf[: wire.PREFIX_SIZE]), self.limits)
        header_len, blob_len = self.sizes
        total = wire.PREFIX_SIZE + header_len + blob_len
        if len(self.buf) < total:
            return None
        data = bytes(self.buf[:total])
        del self.buf[:total]
        self.sizes = None
        start = wire.PREFIX_SIZE
        return data[start : start + header_len], memoryview(data)[start + header_len :]


@dataclass
class OutputCapture:
    """What a worker printed: the first ``cap`` bytes are kept, the rest counted."""

    cap: int
    kept: bytearray = field(default_factory=bytearray)
    total: int = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.cap - len(self.kept)
        if room > 0:
            self.kept += data[:room]

    def text(self) -> str:
        note = f"\n[... {self.total - len(self.kept)} more bytes]" if self.total > len(self.kept) else ""
        return self.kept.decode(errors="replace") + note


class WorkerProcess:
    """The grader's end of one worker: send a request, read its reply by a deadline."""

    def __init__(
        self,
        zygote: Zygote,
        submission_dir: str,
        scratch_dir: str,
        limits: SandboxLimits,
        cpu_budget: float,
        cuda: bool,
        output: OutputCapture,
        isolation_config: dict | None = None,
        ready_timeout: float = 30.0,
    ):
        self.zygote = zygote
        self.output = output
        self.wire_limits = wire.Limits(max_blob=limits.result_mb << 20)
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        self.log_r, log_w = os.pipe()
        config = {
            "submission": submission_dir,
            "scratch": scratch_dir,
            "cpu_seconds": max(1.0, cpu_budget),
            # RLIMIT_AS breaks CUDA's address-space reservations: GPU runs go without it.
            "memory_bytes": 0 if cuda else limits.memory_mb << 20,
            "file_size_bytes": limits.file_size_mb << 20,
            "scratch_mb": limits.scratch_mb,
            "open_files": limits.open_files,
            "processes": limits.processes,
            "threads": limits.threads,
            "cuda": cuda,
            "wire": {},
            "isolation": isolation_config if isolation_config is not None else zygote.isolation_config(),
        }
        try:
            self.pid = zygote.spawn(config, [req_r, resp_w, log_w])
        finally:
            for fd in (req_r, resp_w, log_w):
                os.close(fd)
        for fd in (self.req_w, self.resp_r, self.log_r):
            os.set_blocking(fd, False)
        self.reader = FrameReader(self.wire_limits)
        self.alive = True
        self.exit: ExitInfo | None = None
        self.hello = self._hello(time.monotonic() + ready_timeout)

    def _hello(self, deadline: float) -> dict:
        """The worker's first frame: the isolation layers it applied."""
        try:
            hello = self.receive(deadline, lambda h, b: wire.unpack(h, b, self.wire_limits))
        except (StudentCrash, StudentTimeout, BadReturn) as exc:
            self.kill()
            said = self.output.text().strip().splitlines()
            detail = f" ({said[-1]})" if said else ""
            raise GraderError(f"a sandbox worker failed to start: {exc}{detail}") from None
        if hello.get("op") != "ready" or not isinstance(hello.get("isolation"), dict):
            self.kill()
            raise GraderError("a sandbox worker failed to start: it sent no isolation report")
        return {k: v for k, v in hello.items() if k != "op"}

    def send(self, message: dict, deadline: float) -> None:
        """Write one request; a worker that stops reading is killed at ``deadline``."""
        view = memoryview(wire.pack(message, on_object=getattr(message, "hook", None)))
        while view:
            try:
                written = os.write(self.req_w, view)
            except BlockingIOError:
                written = 0
            except OSError:
                raise self._died() from None
            view = view[written:]
            if view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.kill()
                    raise StudentTimeout("timed out")
                self._drain_log()
                select.select([self.log_r], [self.req_w], [], min(remaining, 0.5))

    def _drain_log(self) -> None:
        while True:
            try:
                data = os.read(self.log_r, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                return
            if not data:
                return
            self.output.add(data)

    def receive(self, deadline: float, decode: Callable[[bytes, memoryview], dict]) -> dict:
        """Wait for one reply frame until ``deadline`` (time.monotonic)."""
        while True:
            try:
                frame = self.reader.frame()
            except wire.WireError as exc:
                self.kill()
                raise BadReturn(f"sent a reply the grader cannot accept: {exc}") from None
            if frame is not None:
                try:
                    return decode(*frame)
                except wire.WireError as exc:
                    self.kill()
                    raise BadReturn(f"returned a value the grader cannot accept: {exc}") from None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise StudentTimeout("timed out")
            ready, _, _ = select.select([self.resp_r, self.log_r], [], [], remaining)
            if self.log_r in ready:
                self._drain_log()
            if self.resp_r in ready:
                try:
                    data = os.read(self.resp_r, 1 << 20)
                except BlockingIOError:
                    continue
                if not data:
                    raise self._died()
                self.reader.feed(data)

    def _died(self) -> StudentCrash:
        self._drain_log()
        self.close()
        info = self.exit
        how = info.describe() if info else "stopped"
        return StudentCrash(f"the process running your code {how}")

    def kill(self) -> None:
        if self.alive:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
        self.close()

    def close(self) -> None:
        if not self.alive:
            return
        self.alive = False
        try:
            os.write(self.req_w, wire.pack({"op": "exit"}))
        except OSError:
            pass
        for fd in (self.req_w, self.resp_r, self.log_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.exit = self.zygote.wait_exit(self.pid, timeout=5.0)
        if self.exit is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
            self.exit = self.zygote.wait_exit(self.pid, timeout=5.0)

    def as_dict(self) -> dict:
        return asdict(self.exit) if self.exit else {}
