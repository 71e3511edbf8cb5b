"""The ``check`` fixture: assertions that produce grades and student feedback.

A suite compares with ``check.close(actual, expected)``. A failure raises
:class:`GradeFailure` carrying a one-line message (which call, which inputs, how far
off), a hint naming the likely mistake, and metrics; the rubric's partial-credit tiers
may turn a near miss into partial credit instead.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

from grader.compare import Comparison, Tolerance, compare, kind_of, tolerance_for
from grader.describe import describe_call, describe_value
from grader.diagnosis import Mistake, error_hint, likely_mistake
from grader.errors import StudentError, StudentFailure


MAX_NOTES = 5
SOURCE_HINTS = {
    "modifies": "work on a copy (x.clone()) or use out-of-place operations (x - m, torch.where): the caller's "
                "tensors must not change",
    "modifies_grad": "read p.grad but never write into it: g = p.grad + wd * p makes a new tensor; "
                     "p.grad.add_(...) or g += ... changes the caller's gradient",
    "not_filled": "fill t itself in place (t.uniform_(..., generator=generator), t.copy_(values)) and return t",
    "replaces_storage": "t.data = new (or t.set_(new)) points t at new memory, so a view of a larger weight "
                        "stays unfilled: copy into t with t.copy_(new)",
}


class GradeFailure(Exception):
    """A graded check failed; the test ends with this message and credit."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        metrics: dict[str, float] | None = None,
        credit: float = 0.0,
    ):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.metrics = metrics or {}
        self.credit = credit


@dataclass(frozen=True)
class Tier:
    """Partial credit for errors up to ``within`` times the tolerance."""

    within: float
    credit: float


@dataclass
class CheckState:
    """What the checks of one test found; read by the plugin after the test."""

    credit: float = 1.0
    message: str = ""
    hint: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    worst_ratio: float = -1.0
    curves: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Checker:
    """Assertions for one test of one submission."""

    def __init__(
        self,
        tiers: tuple[Tier, ...] = (),
        show_expected: bool = False,
        last_call: Callable[[], tuple[str, tuple, dict] | None] = lambda: None,
    ):
        self.tiers = tuple(sorted(tiers, key=lambda t: t.within))
        self.show_expected = show_expected
        self._last_call = last_call
        self.state = CheckState()

    # -- helpers --------------------------------------------------------------------
    def _subject(self, what: str | None) -> str:
        if what:
            return what
        last = self._last_call()
        if last is None:
            return "the result"
        name, args, kwargs = last
        return describe_call(name, args, kwargs)

    def _record(self, comparison: Comparison) -> None:
        ratio = comparison.ratio if comparison.ratio is not None else 0.0
        if ratio >= self.state.worst_ratio and comparison.metrics():
            self.state.worst_ratio = ratio
            self.state.metrics = comparison.metrics()

    def _credit_for(self, ratio: float | None) -> float:
        if ratio is None or not math.isfinite(ratio):
            return 0.0
        for tier in self.tiers:
            if ratio <= tier.within:
                return tier.credit
        return 0.0

    # -- the assertions --------------------------------------------------------------
    def close(
        self,
        actual: Any,
        expected: Any,
        *,
        rtol: float | None = None,
        atol: float | None = None,
        scale: float = 1.0,
        what: str | None = None,
        mistakes: tuple[Mistake, ...] | list[Mistake] = (),
        hint: str | None = None,
        check_dtype: bool = True,
    ) -> None:
        """``actual`` matches ``expected`` within dtype-aware tolerances.

        ``scale`` multiplies the absolute tolerance (pass the inputs' magnitude when
        rounding of large inputs is expected); ``rtol``/``atol`` override the defaults.
        """
        tol = _tolerance(expected, rtol, atol, scale)
        comparison = compare(actual, expected, tol, check_dtype=check_dtype)
        self._record(comparison)
        if comparison.ok:
            return
        subject = self._subject(what)
        message = f"{subject} {comparison.message}"
        if self.show_expected:
            message += f"; expected {describe_value(expected)}"
        found = likely_mistake(actual, expected, comparison, mistakes, tol) or hint
        credit = self._credit_for(comparison.ratio) if comparison.problem == "values" else 0.0
        if credit > 0.0:
            if credit < self.state.credit:
                self.state.credit = credit
                self.state.message = message
                self.state.hint = found
            return
        raise GradeFailure(message, found, comparison.metrics())

    def equal(self, actual: Any, expected: Any, *, what: str | None = None, hint: str | None = None) -> None:
        """Exact equality (integers, booleans, strings, exact tensors)."""
        self.close(actual, expected, rtol=0.0, atol=0.0, what=what, hint=hint)

    def that(self, condition: bool, message: str, hint: str | None = None) -> None:
        """A plain condition with its own student-facing message."""
        if not condition:
            raise GradeFailure(message, hint)

    def fail(self, message: str, hint: str | None = None) -> None:
        raise GradeFailure(message, hint)

    def credit(self, fraction: float, message: str, hint: str | None = None) -> None:
        """Award at most ``fraction`` of this test's points (0 fails it)."""
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction <= 0.0:
            raise GradeFailure(message, hint)
        if fraction < self.state.credit:
            self.state.credit = fraction
            self.state.message = message
            self.state.hint = hint

    def record(self, metrics: dict[str, float] | None = None, curves: dict[str, list[float]] | None = None) -> None:
        """Keep numbers (``metrics``) and series (``curves``, e.g. a loss per epoch) in
        this test's result, whatever its outcome, for reports and plots."""
        for name, value in (metrics or {}).items():
            self.state.metrics[str(name)] = float(value)
        for name, series in (curves or {}).items():
            self.state.curves[str(name)] = [float(v) for v in series]

    def note(self, text: str) -> None:
        """Feedback that earns and costs nothing: say what the worker reported (an input
        changed in place, say) without letting a report the student could forge touch
        the score. Repeated notes are kept once; a test keeps at most a few."""
        text = str(text)[:400]
        if text and text not in self.state.notes and len(self.state.notes) < MAX_NOTES:
            self.state.notes.append(text)

    def unchanged(self, before: Any, after: Any, what: str, findings: tuple | list = ()) -> None:
        """An argument the student must not modify stays as it was.

        Scored from the source: ``findings`` (grader.mutation_check, from the grader's
        own reading of the submission, e.g. ``record.findings`` of an ``inspect_call``)
        naming an in-place write into an argument fails the test. What the worker says the
        argument looked like afterwards (``after``) could be forged, so a difference
        there only adds a note."""
        self.source(findings, kinds=("modifies",))
        comparison = compare(after, before, Tolerance(0.0, 0.0))
        if not comparison.ok:
            self.note(f"{self._subject(None)} seems to have modified its argument {what} in place (seen in the "
                      "worker, so it is not scored): work on a copy (x.clone()) or use out-of-place operations")

    def source(self, findings: tuple | list, kinds: tuple[str, ...] = (), hint: str | None = None) -> None:
        """Fail on the first of ``findings`` (grader.mutation_check) of one of ``kinds``."""
        for finding in sorted(findings):
            if not kinds or finding.kind in kinds:
                raise GradeFailure(finding.describe(), hint or SOURCE_HINTS.get(finding.kind))

    @contextlib.contextmanager
    def raises(self, exc: type[BaseException] | str, match: str | None = None, hint: str | None = None) -> Iterator[None]:
        """The block must make the student's code raise ``exc`` (by name, e.g. ValueError)."""
        name = exc if isinstance(exc, str) else exc.__name__
        try:
            yield
        except StudentError as err:
            if not err.is_a(name):
                stub = err.type_name == "NotImplementedError"
                raise GradeFailure(
                    f"{err.call or 'the call'} raised {err.type_name} but should raise {name}",
                    error_hint(err.type_name, err.exc_message) if stub else hint,
                ) from None
            if match and not re.search(match, err.exc_message, flags=re.IGNORECASE):
                raise GradeFailure(
                    f"{err.call or 'the call'} raised {name} with message {err.exc_message[:120]!r}, "
                    f"which should mention {match!r}",
                    hint or "name the offending argument in the error message",
                ) from None
            return
        except StudentFailure:
            raise
        last = self._last_call()
        subject = describe_call(*last) if last else "the call"
        raise GradeFailure(f"{subject} returned without raising {name}", hint)


def _tolerance(expected: Any, rtol: float | None, atol: float | None, scale: float) -> Tolerance:
    base = _base_tolerance(expected)
    tol = Tolerance(base.rtol if rtol is None else rtol, base.atol if atol is None else atol)
    return tol.scaled(scale) if scale != 1.0 else tol


def _base_tolerance(expected: Any) -> Tolerance:
    if isinstance(expected, torch.Tensor):
        return tolerance_for(expected.dtype)
    if isinstance(expected, (list, tuple)) and expected:
        return _base_tolerance(expected[0])
    if isinstance(expected, dict) and expected:
        return _base_tolerance(next(iter(expected.values())))
    return tolerance_for(torch.float64)


__all__ = ["Checker", "CheckState", "GradeFailure", "Mistake", "Tier", "kind_of"]
