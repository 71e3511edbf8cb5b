"""Auto-grader for a course on training neural networks."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from grader.selfcheck import CheckReport

__version__ = "0.1.0"


def check(*topics: str, path: str | Path = ".", tests: str | Path | None = None, device: str = "cpu") -> CheckReport:
    """Run the public tests on your saved work; see :func:`grader.selfcheck.check`.

    Imported on first use, so ``import grader`` stays light (no torch, no pytest).
    """
    from grader.selfcheck import check as run_check

    return run_check(*topics, path=path, tests=tests, device=device)
