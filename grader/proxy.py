"""The ``student`` fixture: call a submission's functions as if they were local.

``student.losses.cross_entropy(logits, target)`` sends the arguments to the sandboxed
worker and returns what came back as plain data (tensors, numbers, strings, lists,
dicts) or, for any other object, a :class:`~grader.session.RemoteObject`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from grader.session import SubmissionSession
from grader.topics import TOPICS


@dataclass(frozen=True)
class CallRecord:
    """A call's result together with the arguments as the worker says it saw them
    afterwards (a claim the worker could forge: only notes may rest on it), and what the
    grader found in the function's source at intake (``findings``: scored)."""

    value: Any
    args: list
    kwargs: dict
    findings: tuple = ()


class RemoteCallable:
    """A function or class of the submission, named by ``topic.name``."""

    def __init__(self, session: Callable[[], SubmissionSession], topic: str, name: str):
        self._session = session
        self._topic = topic
        self._name = name
        self._remote_path = f"{topic}.{name}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        session = self._session()
        _import_referenced(session, args, kwargs)
        return session.call(
            {"path": self._remote_path}, args, kwargs, label=self._name, topic=self._topic
        )

    def inspect_call(self, *args: Any, **kwargs: Any) -> CallRecord:
        """Call, and also fetch the arguments back to see whether they were modified."""
        session = self._session()
        _import_referenced(session, args, kwargs)
        value, args_after, kwargs_after = session.call(
            {"path": self._remote_path}, args, kwargs, label=self._name, topic=self._topic,
            return_args=True,
        )
        return CallRecord(value, args_after or [], kwargs_after or {}, tuple(self.findings()))

    def findings(self, *kinds: str) -> list:
        """What grader.mutation_check found at intake in this function's source (a
        class: in its methods), optionally only findings of the given kinds."""
        found = self._session().source_findings.get(self._topic, {})
        out = [f for name, items in found.items() if name == self._name or name.startswith(self._name + ".")
               for f in items]
        return sorted(f for f in out if not kinds or f.kind in kinds)

    def keeping(self, *positions: int) -> Callable[..., Any]:
        """This function, returning the items at ``positions`` of its result (all of it
        when none are given) as objects kept in the worker: ``out, cache =
        student.backprop.linear_forward.keeping(1)(x, W, b)`` leaves the cache exactly as
        the student's code made it, ready for the backward call."""
        keep: Any = tuple(positions) if positions else True

        def call(*args: Any, **kwargs: Any) -> Any:
            session = self._session()
            _import_referenced(session, args, kwargs)
            return session.call({"path": self._remote_path}, args, kwargs, label=self._name,
                                topic=self._topic, keep=keep)

        return call

    def __repr__(self) -> str:
        return f"<student function {self._remote_path}>"


class ModuleProxy:
    """``student.<topic>``: attribute access gives :class:`RemoteCallable` objects."""

    def __init__(self, session: Callable[[], SubmissionSession], topic: str):
        self._session = session
        self._topic = topic

    def __getattr__(self, name: str) -> RemoteCallable:
        if name.startswith("_"):
            raise AttributeError(name)
        return RemoteCallable(self._session, self._topic, name)


class HarnessProxy:
    """``student.harness.<fn>``: run a function of :mod:`grader.harness` in the worker."""

    def __init__(self, session: Callable[[], SubmissionSession]):
        self._session = session

    def __getattr__(self, name: str) -> Callable[..., Any]:
        from grader import harness

        if name.startswith("_") or not callable(getattr(harness, name, None)):
            raise AttributeError(f"grader.harness has no function {name!r}")

        def run(*args: Any, **kwargs: Any) -> Any:
            session = self._session()
            _import_referenced(session, args, kwargs)
            label = _harness_label(name, args, kwargs)
            return session.call({"path": f"@{name}"}, args, kwargs, label=label,
                                topic_hint=_referenced_topic(args, kwargs))

        # passed as an argument (to harness.on_device, say), the driver goes by name
        run._remote_path = f"@{name}"  # type: ignore[attr-defined]
        return run


class StudentProxy:
    """The submission under test, as seen from a hidden or public test."""

    def __init__(self, session: Callable[[], SubmissionSession]):
        self._session = session
        self.harness = HarnessProxy(session)

    def __getattr__(self, topic: str) -> ModuleProxy:
        if topic not in TOPICS:
            raise AttributeError(f"unknown topic {topic!r}; topics are {', '.join(TOPICS)}")
        return ModuleProxy(self._session, topic)

    def has(self, topic: str) -> bool:
        """Whether the submission contains this topic's file."""
        return topic in self._session().topics

    @contextlib.contextmanager
    def fresh(self) -> Iterator["StudentProxy"]:
        """The same submission in a new worker of its own (private scratch folder, shared
        budgets), closed when the block ends: ask the student's code again where it has
        no memory of what it said before."""
        sibling = self._session().sibling()
        try:
            yield StudentProxy(lambda: sibling)
        finally:
            sibling.close()


def _import_referenced(session: SubmissionSession, args: tuple, kwargs: dict) -> None:
    """Student functions passed as arguments need their module imported first."""
    for value in list(args) + list(kwargs.values()):
        if isinstance(value, RemoteCallable):
            session._ensure_topic(value._topic)
        elif isinstance(value, (list, tuple)):
            _import_referenced(session, tuple(value), {})
        elif isinstance(value, dict):
            _import_referenced(session, tuple(value.values()), {})


def _first_referenced(args: tuple, kwargs: dict) -> RemoteCallable | None:
    """The first student function among the arguments (nested too)."""
    for value in list(args) + list(kwargs.values()):
        if isinstance(value, RemoteCallable):
            return value
        if isinstance(value, (list, tuple, dict)):
            found = _first_referenced(tuple(value.values()) if isinstance(value, dict) else tuple(value), {})
            if found:
                return found
    return None


def _referenced_topic(args: tuple, kwargs: dict) -> str | None:
    """The topic of the first student function among the arguments (nested too)."""
    found = _first_referenced(args, kwargs)
    return found._topic if found else None


def _harness_label(name: str, args: tuple, kwargs: dict) -> str:
    found = _first_referenced(args, kwargs)
    if found is None:
        return name
    if name == "on_device":
        return f"{found._name} (on the simulated GPU)"
    return f"{found._name} (via {name})"
