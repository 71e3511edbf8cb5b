"""The sandboxed side: import a submission's modules and serve calls on them.

This code runs in a process that student code fully controls once imported, so it
holds nothing secret and the grader trusts none of its answers beyond their format.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from typing import Any

from grader import wire

class CallbackFailed(RuntimeError):
    """The grader could not evaluate a function it passed to student code."""


class Kept:
    """A value to leave in the worker as a handle although it may be plain data (a layer's
    cache of tensors, say): the student's own objects then reach the next call intact."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def keep_items(value: Any, keep: Any) -> Any:
    """``value`` with the items at the positions in ``keep`` kept in the worker; a value
    that is not a tuple or list, or ``keep is True``, is kept whole."""
    if keep is True or not isinstance(value, (tuple, list)):
        return Kept(value)
    positions = {int(i) for i in keep if isinstance(i, int) and not isinstance(i, bool)}
    items = [Kept(v) if i in positions else v for i, v in enumerate(value)]
    return tuple(items) if isinstance(value, tuple) else items


class Worker:
    """Serves one submission over a request pipe and a reply pipe."""

    def __init__(self, req_fd: int, resp_fd: int, submission_dir: str, limits: wire.Limits):
        self.req_fd = req_fd
        self.resp_fd = resp_fd
        self.dir = submission_dir
        self.limits = limits
        self.modules: dict[str, Any] = {}
        self.import_errors: dict[str, str] = {}
        self.objects: dict[int, Any] = {}
        self.next_id = 1
        self.guard: Any = None  # grader.guard.Guard, told which topic each call is for

    # -- plumbing ---------------------------------------------------------------------
    def send(self, message: dict) -> None:
        wire.write_all(self.resp_fd, wire.pack(message, on_object=self._register))

    def notice(self, fields: dict) -> None:
        """Tell the grader something it records as it happens (a forbidden call, say),
        between the frames of the call in progress."""
        self.send({"op": "notice", **fields})

    def receive(self) -> dict:
        return wire.recv_blocking(
            self.req_fd,
            self.limits,
            on_handle=self._lookup,
            on_callback=self._callback,
            on_path=lambda path: self.resolve({"path": path}),
        )

    def _register(self, obj: Any) -> dict:
        if isinstance(obj, Kept):
            obj = obj.value
        oid = self.next_id
        self.next_id += 1
        self.objects[oid] = obj
        return {"$h": oid, "type": type(obj).__name__}

    def _lookup(self, handle: wire.Handle) -> Any:
        try:
            return self.objects[handle.id]
        except KeyError:
            raise LookupError(f"unknown object handle {handle.id}") from None

    def _callback(self, ref: wire.CallbackRef):
        def call(*args: Any, **kwargs: Any) -> Any:
            # Arguments that are not data (the student's own objects) go as handles: the
            # grader's function may work on them with requests of its own, served here
            # until its answer comes.
            self.send({"op": "callback", "id": ref.id, "args": list(args), "kwargs": kwargs})
            while True:
                reply = self.receive()
                op = reply.get("op")
                if op == "callback_result":
                    return reply.get("value")
                if op == "callback_error" or op == "exit":
                    raise CallbackFailed(str(reply.get("message", "the grader's function failed")))
                self._answer(reply)

        call.__name__ = f"grader_function_{ref.id}"
        return call

    # -- operations -------------------------------------------------------------------
    def load(self, topic: str) -> Any:
        if topic in self.modules:
            return self.modules[topic]
        if topic in self.import_errors:
            raise ImportError(self.import_errors[topic])
        path = os.path.join(self.dir, f"{topic}.py")
        spec = importlib.util.spec_from_file_location(topic, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {topic}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[topic] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:  # a broken module is remembered, not retried
            sys.modules.pop(topic, None)
            self.import_errors[topic] = describe(exc, limit_to=path)
            raise
        self.modules[topic] = module
        return module

    def resolve(self, target: dict) -> Any:
        if "handle" in target:
            obj = self.objects[int(target["handle"])]
            method = target.get("method")
            return getattr(obj, method) if method else obj
        path = str(target["path"])
        if path.startswith("@"):
            from grader import harness

            return getattr(harness, path[1:])
        topic, _, name = path.partition(".")
        obj = self.load(topic)
        for part in name.split(".") if name else ():
            obj = getattr(obj, part)
        return obj

    def handle(self, msg: dict) -> dict:
        op = msg.get("op")
        if self.guard is not None and op in ("import", "call", "getattr", "setattr"):
            topic = msg.get("topic")
            self.guard.topic = topic if isinstance(topic, str) else None
        if op == "import":
            self.load(str(msg["topic"]))
            return {"op": "result", "value": None}
        if op == "call":
            fn = self.resolve(msg["target"])
            args = msg.get("args") or []
            kwargs = msg.get("kwargs") or {}
            value = fn(*args, **kwargs)
            if msg.get("keep") is not None:
                value = keep_items(value, msg["keep"])
            if msg.get("return_args"):
                return {"op": "result", "value": value, "args": args, "kwargs": kwargs}
            return {"op": "result", "value": value}
        if op == "getattr":
            obj = self.resolve(msg["target"])
            return {"op": "result", "value": getattr(obj, str(msg["name"]))}
        if op == "setattr":
            obj = self.resolve(msg["target"])
            setattr(obj, str(msg["name"]), msg.get("value"))
            return {"op": "result", "value": None}
        if op == "reset":
            self.objects.clear()
            return {"op": "result", "value": None}
        raise ValueError(f"unknown operation {op!r}")

    def serve(self) -> None:
        while True:
            try:
                msg = self.receive()
            except EOFError:
                return
            if msg.get("op") == "exit":
                return
            self._answer(msg)

    def _answer(self, msg: dict) -> None:
        """Handle one request and send its reply (an error reply for anything raised)."""
        topic = self.guard.topic if self.guard is not None else None
        try:
            reply = self.handle(msg)
        except BaseException as exc:  # everything the student raises is reported
            reply = {"op": "error", **exception_info(exc, self.dir)}
        finally:
            if self.guard is not None:
                self.guard.topic = topic  # a nested request (from a callback) ends: back to the outer one's topic
        try:
            self.send(reply)
        except wire.WireError as exc:
            self.send({"op": "error", "type": "WireError", "mro": ["WireError"],
                       "message": f"the value returned cannot be sent to the grader: {exc}"})


def exception_info(exc: BaseException, directory: str) -> dict:
    """Type names, message and the student-code location of an exception."""
    mro = [cls.__name__ for cls in type(exc).__mro__ if cls not in (object,)]
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if frame.filename.startswith(directory):
            where = f"{os.path.basename(frame.filename)}:{frame.lineno} in {frame.name}"
            break
    message = str(exc)
    if isinstance(exc, SyntaxError) and exc.lineno:
        where = f"{os.path.basename(exc.filename or '')}:{exc.lineno}"
        message = exc.msg
    return {"type": type(exc).__name__, "mro": mro[:12], "message": message[:2000], "where": where}


def describe(exc: BaseException, limit_to: str) -> str:
    info = exception_info(exc, os.path.dirname(limit_to))
    where = f" at {info['where']}" if info["where"] else ""
    return f"{info['type']}{where}: {info['message']}"[:2000]

