"""One submission's conversation with its sandbox: calls, budgets and recovery.

A :class:`SubmissionSession` starts a worker on first use and another after a crash or
timeout, so one failing call never costs the tests that follow. It remembers modules
that failed to import and functions that timed out twice, and stops calling once the
submission has used its CPU or wall-clock budget.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import torch

from grader import wire
from grader.budget import BudgetExceeded, time_budget
from grader.errors import (
    BadReturn,
    StaleObject,
    StudentCrash,
    StudentError,
    StudentFailure,
    StudentImportError,
    StudentTimeout,
    TopicMissing,
)
from grader.sandbox import OutputCapture, SandboxLimits, WorkerProcess, Zygote
from grader.topics import TOPICS


MAX_NOTICES = 64
# A grader-side function called by student code accepts arguments of at most this
# many times the tensor bytes the test sent with the call (and never less than 1 MiB).
CALLBACK_FACTOR = 8
CALLBACK_MIN_BYTES = 1 << 20


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n} bytes"


def _outgoing_values(message: dict) -> list:
    return list(message.get("args") or []) + list((message.get("kwargs") or {}).values())


def _payload_bytes(values: list, depth: int = 0) -> int:
    """The tensor bytes in decoded callback arguments (nested lists, tuples, dicts)."""
    total = 0
    for v in values:
        if isinstance(v, torch.Tensor):
            total += int(v.numel()) * int(v.element_size())
        elif isinstance(v, (list, tuple)) and depth < 8:
            total += _payload_bytes(list(v), depth + 1)
        elif isinstance(v, dict) and depth < 8:
            total += _payload_bytes(list(v.values()), depth + 1)
    return total


@dataclass
class SessionStats:
    """Counters a benchmark or a report can show."""

    workers: int = 0
    calls: int = 0
    call_seconds: float = 0.0
    spawn_seconds: float = 0.0
    cpu_seconds: float = 0.0
    max_rss_kb: int = 0


class RemoteObject:
    """A grader-side stand-in for an object that lives in the worker.

    Attribute reads, writes, calls and arithmetic are forwarded; values that are plain
    data come back as data, anything else as another RemoteObject.
    """

    __slots__ = ("_session", "_generation", "_handle", "_method")

    def __init__(self, session: "SubmissionSession", generation: int, handle: wire.Handle, method: str | None = None):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_generation", generation)
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_method", method)

    @property
    def remote_type(self) -> str:
        return self._handle.type

    def _target(self) -> dict:
        target: dict[str, Any] = {"handle": self._session.handle_id(self)}
        if self._method:
            target["method"] = self._method
        return target

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._session.getattr(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._session.setattr(self, name, value)

    def method(self, name: str) -> "RemoteObject":
        """A callable for ``obj.name(...)`` that costs one round trip, not two."""
        return RemoteObject(self._session, self._generation, self._handle, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        label = f"{self._handle.type}.{self._method}" if self._method else self._handle.type
        return self._session.call(self._target(), args, kwargs, label=label)

    def __repr__(self) -> str:
        return f"<remote {self._handle.type}>"

    def __bool__(self) -> bool:
        return True

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:  # identity only: never ask the worker
        return self is other


def _forward(name: str) -> Callable:
    def op(self: RemoteObject, *args: Any) -> Any:
        return self.method(name)(*args)

    op.__name__ = name
    return op


for _name in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
    "__truediv__", "__rtruediv__", "__pow__", "__rpow__", "__neg__", "__pos__",
    "__abs__", "__matmul__", "__rmatmul__", "__getitem__", "__len__",
):
    setattr(RemoteObject, _name, _forward(_name))


class SubmissionSession:
    """Calls into one submission's sandboxed worker, with recovery and budgets."""

    def __init__(
        self,
        zygote: Zygote,
        submission_dir: str,
        scratch_dir: str,
        topics: set[str],
        limits: SandboxLimits,
        cuda: bool = False,
        broken_topics: dict[str, str] | None = None,
    ):
        self.zygote = zygote
        self.submission_dir = submission_dir
        self.scratch_dir = scratch_dir
        self.topics = set(topics)
        self.limits = limits
        self.cuda = cuda
        self.worker: WorkerProcess | None = None
        self.generation = 0
        self.imported: set[str] = set()
        self.import_failures: dict[str, str] = dict(broken_topics or {})
        self.timeouts: Counter[str] = Counter()
        self.callbacks: dict[int, Callable] = {}
        self.output = OutputCapture(limits.output_kb << 10)
        self.stats = SessionStats()
        self.started = time.monotonic()
        self.last_call: tuple[str, tuple, dict] | None = None
        self._objects_out = False  # handles were given out since the last reset
        # what the worker announced mid-call, by (kind, topic, name): forbidden calls
        self.notices: dict[tuple[str, str, str], dict] = {}
        # what the grader found in the submission's source at intake, by topic and function
        # (grader.mutation_check): parent data the suites score from, never the worker's
        self.source_findings: dict[str, dict[str, list]] = {}
        self._parent: SubmissionSession | None = None
        self._siblings = 0
        self._cpu_at_start = 0.0

    def sibling(self) -> "SubmissionSession":
        """A second conversation with the same submission, in a worker of its own with a
        private scratch folder: it has no memory of anything the first worker did, so
        what the student's code answers there cannot come from a record of it. It shares
        this session's budgets; its CPU time, calls and notices are added to this
        session's when it is closed."""
        self._siblings += 1
        scratch = f"{self.scratch_dir}-{self._siblings}"
        os.mkdir(scratch)
        other = SubmissionSession(self.zygote, self.submission_dir, scratch, self.topics, self.limits, self.cuda,
                                  dict(self.import_failures))
        other.started = self.started
        other.source_findings = self.source_findings
        other.stats.cpu_seconds = other._cpu_at_start = self.stats.cpu_seconds
        other._parent = self
        return other

    # -- worker lifecycle ---------------------------------------------------------------
    def _budget_check(self) -> None:
        if time.monotonic() - self.started > self.limits.wall_seconds:
            raise StudentTimeout(
                f"not run: the submission used up its time budget of {self.limits.wall_seconds:g} s"
            )
        if self.limits.cpu_seconds - self.stats.cpu_seconds < 0.5:
            raise StudentTimeout(
                f"not run: the submission used up its CPU budget of {self.limits.cpu_seconds:g} s"
            )

    def _worker(self) -> WorkerProcess:
        if self.worker is not None and self.worker.alive:
            return self.worker
        self._retire()
        self._budget_check()
        t0 = time.perf_counter()
        self.worker = WorkerProcess(
            self.zygote,
            self.submission_dir,
            self.scratch_dir,
            self.limits,
            cpu_budget=self.limits.cpu_seconds - self.stats.cpu_seconds,
            cuda=self.cuda,
            output=self.output,
        )
        self.stats.spawn_seconds += time.perf_counter() - t0
        self.stats.workers += 1
        self.generation += 1
        self.imported = set()
        return self.worker

    def _retire(self) -> None:
        """Account for a worker that ended (or end it) and forget it."""
        worker, self.worker = self.worker, None
        if worker is None:
            return
        worker.close()
        if worker.exit is not None:
            self.stats.cpu_seconds += worker.exit.cpu
            self.stats.max_rss_kb = max(self.stats.max_rss_kb, worker.exit.maxrss_kb)

    def close(self) -> SessionStats:
        self._retire()
        self.callbacks.clear()
        parent, self._parent = self._parent, None
        if parent is not None:
            parent.stats.cpu_seconds += self.stats.cpu_seconds - self._cpu_at_start
            parent.stats.calls += self.stats.calls
            parent.stats.call_seconds += self.stats.call_seconds
            parent.stats.spawn_seconds += self.stats.spawn_seconds
            parent.stats.workers += self.stats.workers
            for key, value in self.notices.items():
                if len(parent.notices) < MAX_NOTICES:
                    parent.notices.setdefault(key, value)
        return self.stats

    # -- encoding -----------------------------------------------------------------------
    def handle_id(self, obj: RemoteObject) -> int:
        if obj._session is not self or obj._generation != self.generation or self.worker is None:
            raise StaleObject(
                f"this {obj.remote_type} object was lost when your code crashed or timed out earlier"
            )
        return obj._handle.id

    def _outgoing(self, value: Any) -> dict:
        if isinstance(value, RemoteObject):
            if value._method:
                raise wire.WireError("cannot send a bound method of a remote object")
            return {"$h": self.handle_id(value), "type": value.remote_type}
        remote_path = getattr(value, "_remote_path", None)
        if isinstance(remote_path, str):
            return {"$path": remote_path}
        if callable(value):
            cid = len(self.callbacks) + 1
            self.callbacks[cid] = value
            return {"$cb": cid}
        raise wire.WireError(f"cannot send a value of type {type(value).__name__}")

    def _decode(self, header: bytes, blob: memoryview) -> dict:
        return wire.unpack(
            header,
            blob,
            self.worker.wire_limits if self.worker else wire.Limits(),
            on_handle=self._remote,
        )

    def _remote(self, handle: wire.Handle) -> RemoteObject:
        self._objects_out = True
        return RemoteObject(self, self.generation, handle)

    # -- requests -----------------------------------------------------------------------
    def _exchange(self, message: dict, label: str) -> dict:
        """Send one request and serve callbacks until its reply arrives.

        The grader's own work for the call (callbacks the student's code makes) runs
        inside the call's deadline: a call costs the grader at most its timeout."""
        worker = self._worker()
        deadline = time.monotonic() + self.limits.call_timeout
        deadline = min(deadline, self.started + self.limits.wall_seconds)
        t0 = time.perf_counter()
        sent = _payload_bytes(_outgoing_values(message))
        try:
            worker.send(self._pack(message), deadline)
            while True:
                reply = worker.receive(deadline, self._decode)
                op = reply.get("op")
                if op == "notice":
                    self._notice(reply)
                    continue
                if op != "callback":
                    return reply
                answer = self._run_callback(reply, deadline, sent)
                worker.send(self._pack(answer), deadline)
        except StudentTimeout:
            self._retire()
            raise StudentTimeout(f"{label} did not finish within {self.limits.call_timeout:g} s") from None
        except (StudentCrash, BadReturn) as exc:
            self._retire()
            if isinstance(exc, StudentCrash) and self.stats.cpu_seconds >= self.limits.cpu_seconds - 0.5:
                raise StudentTimeout(
                    f"{label}: the submission used up its CPU budget of {self.limits.cpu_seconds:g} s"
                ) from None
            raise type(exc)(f"{label}: {exc.message}") from None
        finally:
            self.stats.calls += 1
            self.stats.call_seconds += time.perf_counter() - t0

    def _pack(self, message: dict) -> dict:
        # Values are encoded by WorkerProcess.send via wire.pack; objects need our hook.
        return _Packed(message, self._outgoing)

    def _run_callback(self, reply: dict, deadline: float, sent_bytes: int) -> dict:
        """Evaluate a grader-side function the student's code called, within what is
        left of the call's deadline, refusing arguments much larger than what the test
        itself sent (``max_bytes`` on the function overrides that bound)."""
        fn = self.callbacks.get(reply.get("id")) if isinstance(reply.get("id"), int) else None
        if fn is None:
            return {"op": "callback_error", "message": "unknown grader function"}
        args = reply.get("args") if isinstance(reply.get("args"), list) else []
        kwargs = reply.get("kwargs") if isinstance(reply.get("kwargs"), dict) else {}
        size = _payload_bytes(args) + _payload_bytes(list(kwargs.values()))
        bound = getattr(fn, "max_bytes", None)
        if not isinstance(bound, int):
            bound = max(CALLBACK_MIN_BYTES, CALLBACK_FACTOR * sent_bytes)
        if size > bound:
            return {"op": "callback_error",
                    "message": f"the grader's function refuses {_size(size)} of arguments: the test sent "
                               f"{_size(sent_bytes)}, so at most {_size(bound)} is accepted"}
        name = getattr(fn, "__name__", "function")
        try:
            with time_budget(deadline - time.monotonic(), f"the grader's function {name}, called by your code,"):
                value = fn(*args, **kwargs)
        except BudgetExceeded as exc:
            raise StudentTimeout(str(exc)) from None
        except StudentFailure as exc:
            return {"op": "callback_error", "message": exc.message}
        except Exception as exc:  # the grader's function rejected what it was given
            return {"op": "callback_error", "message": f"{type(exc).__name__}: {str(exc)[:300]}"}
        return {"op": "callback_result", "value": value}

    def _notice(self, reply: dict) -> None:
        """Record what the worker announced mid-call (a forbidden function it saw called
        from a manual topic). A submission can suppress such notices, never earn from
        them: each one can only cost it points."""
        if len(self.notices) >= MAX_NOTICES:
            return
        fields = {k: reply.get(k) for k in ("kind", "topic", "name", "function", "line")}
        if not all(isinstance(fields[k], str) for k in ("kind", "topic", "name")):
            return
        if fields["kind"] != "forbidden" or fields["topic"] not in TOPICS:
            return
        key = (fields["kind"], fields["topic"], fields["name"][:120])
        if key not in self.notices:
            self.notices[key] = {
                "function": str(fields.get("function") or "")[:120],
                "line": fields["line"] if isinstance(fields["line"], int) else 0,
            }

    def _ensure_topic(self, topic: str) -> None:
        if topic not in self.topics:
            raise TopicMissing(f"{topic}.py (or {topic}.ipynb) is not in the submission")
        if topic in self.import_failures:
            raise StudentImportError(f"could not import {topic}: {self.import_failures[topic]}")
        self._worker()
        if topic in self.imported:
            return
        try:
            reply = self._exchange({"op": "import", "topic": topic}, label=f"importing {topic}")
        except StudentFailure as exc:
            self.import_failures[topic] = exc.message
            raise StudentImportError(f"could not import {topic}: {exc.message}") from None
        if reply.get("op") == "error":
            msg = f"{reply.get('type')}{_where(reply)}: {reply.get('message')}"
            self.import_failures[topic] = msg
            raise StudentImportError(f"could not import {topic}: {msg}")
        self.imported.add(topic)

    def _result(self, reply: dict, label: str) -> dict:
        if reply.get("op") == "error":
            raise StudentError(
                str(reply.get("type", "Exception"))[:80],
                [str(x)[:80] for x in reply.get("mro", [])][:12] if isinstance(reply.get("mro"), list) else [],
                str(reply.get("message", ""))[:2000],
                str(reply.get("where", ""))[:200],
                call=label,
            )
        if reply.get("op") != "result":
            self._retire()
            raise BadReturn(f"{label}: the worker sent an unexpected message")
        return reply

    def call(
        self,
        target: dict,
        args: tuple | list,
        kwargs: dict,
        label: str,
        topic: str | None = None,
        return_args: bool = False,
        keep: Any = None,
        topic_hint: str | None = None,
    ) -> Any:
        """Call a student function or object; returns data or a RemoteObject.

        ``keep`` leaves (parts of) the result in the worker as RemoteObjects, even when
        they are plain data: ``True`` the whole result, a tuple of positions the items
        of a returned tuple (a layer's cache stays the student's own object)."""
        self.last_call = (label, tuple(args), dict(kwargs))
        key = str(target.get("path") or label)
        if self.timeouts[key] >= 2:
            raise StudentTimeout(f"not run: {label} already timed out twice")
        self._budget_check()
        if topic is not None:
            self._ensure_topic(topic)
        message = {"op": "call", "target": target, "args": list(args), "kwargs": dict(kwargs)}
        if topic or topic_hint:
            message["topic"] = topic or topic_hint  # whose rules apply (the run-time guard)
        if return_args:
            message["return_args"] = True
        if keep is not None:
            message["keep"] = True if keep is True else [int(i) for i in keep]
        try:
            reply = self._result(self._exchange(message, label), label)
        except StudentTimeout:
            self.timeouts[key] += 1
            raise
        finally:
            self.last_call = (label, tuple(args), dict(kwargs))  # calls made by callbacks meanwhile are not this one
        if return_args:
            return reply.get("value"), reply.get("args"), reply.get("kwargs")
        return reply.get("value")

    def getattr(self, obj: RemoteObject, name: str) -> Any:
        label = f"{obj.remote_type}.{name}"
        message = {"op": "getattr", "target": obj._target(), "name": name}
        return self._result(self._exchange(message, label), label).get("value")

    def setattr(self, obj: RemoteObject, name: str, value: Any) -> None:
        label = f"setting {obj.remote_type}.{name}"
        message = {"op": "setattr", "target": obj._target(), "name": name, "value": value}
        self._result(self._exchange(message, label), label)

    def reset(self) -> None:
        """Forget objects and callbacks between tests (the worker keeps running)."""
        self.callbacks.clear()
        if self._objects_out and self.worker is not None and self.worker.alive:
            self._objects_out = False
            try:
                self._exchange({"op": "reset"}, "reset")
            except StudentFailure:
                pass


class _Packed(dict):
    """A message plus the hook that encodes grader-side objects inside it."""

    def __init__(self, message: dict, hook: Callable[[Any], dict]):
        super().__init__(message)
        self.hook = hook


def _where(reply: dict) -> str:
    where = reply.get("where")
    return f" at {where}" if where else ""
