"""Where a course keeps its material, and the run configurations built from it.

A course folder holds ``reference/`` (the instructor's modules, ``rubric.yaml`` and the
hidden ``suites/``) and ``assignments/`` (the student stubs and ``public_tests/``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError
from grader.plugin import RunConfig
from grader.rubric import load_rubric


@dataclass(frozen=True)
class Course:
    root: Path

    @property
    def reference_dir(self) -> Path:
        return self.root / "reference"

    @property
    def suites_dir(self) -> Path:
        return self.reference_dir / "suites"

    @property
    def rubric_path(self) -> Path:
        return self.reference_dir / "rubric.yaml"

    @property
    def assignments_dir(self) -> Path:
        return self.root / "assignments"

    @property
    def public_tests_dir(self) -> Path:
        return self.assignments_dir / "public_tests"

    def hidden(self, topics: tuple[str, ...] | None = None, device: str = "auto", rubric: Path | None = None) -> RunConfig:
        return RunConfig(
            self.suites_dir, load_rubric(rubric or self.rubric_path), self.reference_dir, topics or None, device
        )


def public_config(tests_dir: Path, topics: tuple[str, ...] | None = None, device: str = "auto") -> RunConfig:
    """Public tests: their own rubric beside them, and no reference."""
    if not tests_dir.is_dir():
        raise UsageError(f"{tests_dir}: no public tests here; pass --tests DIR")
    return RunConfig(tests_dir, load_rubric(tests_dir / "rubric.yaml"), None, topics or None, device)


def find_course(option: str | None = None) -> Course:
    """The course named by ``--course`` or $GRADER_COURSE, the current folder, or this checkout."""
    candidates = []
    chosen = option or os.environ.get("GRADER_COURSE")
    if chosen:
        course = Course(Path(chosen))
        if not course.rubric_path.is_file():
            raise UsageError(f"{chosen}: not a course folder (no reference/rubric.yaml)")
        return course
    candidates.append(Path.cwd())
    candidates.append(Path(__file__).resolve().parent.parent)
    for root in candidates:
        if (root / "reference" / "rubric.yaml").is_file():
            return Course(root)
    raise UsageError("no course found: run from the course folder or pass --course DIR")


def find_public_tests(path: Path, option: str | None = None) -> Path:
    """Public tests from ``--tests``, beside the student's files, or in this checkout."""
    if option:
        return Path(option)
    for candidate in (path / "public_tests", path.parent / "public_tests"):
        if (candidate / "rubric.yaml").is_file():
            return candidate
    bundled = Path(__file__).resolve().parent.parent / "assignments" / "public_tests"
    if (bundled / "rubric.yaml").is_file():
        return bundled
    raise UsageError(f"no public tests found beside {path}; pass --tests DIR")
