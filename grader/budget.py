"""Time budgets for work the trusted grader does on a submission's behalf.

Reading a notebook, answering a worker's callback, comparing what came back: all of it
runs in the grader's own process, so a submission that makes it slow must not stall the
class run. :func:`time_budget` bounds a block of code with a real-time timer that
interrupts it (``SIGALRM``) and raises :class:`BudgetExceeded`, which the caller turns
into that submission's failure. Budgets nest: an inner one can only end sooner.

Off the main thread, or where the platform has no interval timer, the block still runs
and the overrun is reported when it ends (it cannot be interrupted there).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import dataclass
from typing import Iterator


class BudgetExceeded(Exception):
    """A block ran past its time budget; ``what`` names the work, for the message."""

    def __init__(self, what: str, seconds: float, token: object | None = None):
        super().__init__(f"{what} took longer than its budget of {seconds:g} s")
        self.what = what
        self.seconds = seconds
        self.token = token


@dataclass
class _Entry:
    deadline: float
    token: object
    what: str
    seconds: float


_stack: list[_Entry] = []
_previous_handler: object = None
_installed = False  # _on_alarm is the SIGALRM handler, and _previous_handler what it replaced


def _arm() -> None:
    if not _stack:
        signal.setitimer(signal.ITIMER_REAL, 0)
        return
    earliest = min(e.deadline for e in _stack)
    signal.setitimer(signal.ITIMER_REAL, max(earliest - time.monotonic(), 1e-4))


def _leave(entry: _Entry) -> None:
    """Take ``entry`` and the budgets inside it off the stack (if still there); re-arm
    the timer for what is left, or give SIGALRM back to its previous handler."""
    global _previous_handler, _installed
    for index, other in enumerate(_stack):
        if other is entry:
            del _stack[index:]
            break
    if _stack:
        _arm()
    elif _installed:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, _previous_handler or signal.SIG_DFL)
        _previous_handler, _installed = None, False


def _on_alarm(signum: int, frame: object) -> None:
    now = time.monotonic()
    for entry in _stack:  # the outermost expired budget wins: its block ends
        if entry.deadline <= now + 1e-4:
            # The handler leaves the stack itself: the alarm may land before the block's
            # cleanup can run (while the budget is being entered) or inside it, and an
            # entry left behind would go on raising into whatever the process does next
            # (the next submission's grading).
            _leave(entry)
            raise BudgetExceeded(entry.what, entry.seconds, entry.token)
    _arm()


def _can_interrupt() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def time_budget(seconds: float | None, what: str) -> Iterator[None]:
    """Run the block for at most ``seconds`` (None: no limit); BudgetExceeded otherwise."""
    if seconds is None:
        yield
        return
    seconds = max(float(seconds), 1e-3)
    if not _can_interrupt():
        start = time.monotonic()
        yield
        if time.monotonic() - start > seconds:
            raise BudgetExceeded(what, seconds)
        return
    global _previous_handler, _installed
    token = object()
    entry = _Entry(time.monotonic() + seconds, token, what, seconds)
    if not _installed:
        _previous_handler, _installed = signal.signal(signal.SIGALRM, _on_alarm), True
    _stack.append(entry)
    _arm()
    try:
        yield
    except BudgetExceeded as exc:
        if exc.token is token:
            raise BudgetExceeded(what, seconds) from None
        raise
    finally:
        _leave(entry)  # first: an alarm that arrives now finds nothing expired


def remaining() -> float | None:
    """Seconds left in the innermost running budget, None outside any."""
    if not _stack:
        return None
    return max(0.0, min(e.deadline for e in _stack) - time.monotonic())
