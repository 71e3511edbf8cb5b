"""Run a grading pass: one pytest session over the suites, many submissions through it.

:func:`grade` is the library entry point the CLI calls. With ``jobs > 1`` the
submissions are shared out to that many grading processes (see :mod:`grader.parallel`),
each with its own pytest session and fork server.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pytest
import torch

from grader import isolation
from grader.errors import GraderError, RubricError
from grader.plugin import GradingPlugin, RunConfig
from grader.sandbox import Zygote
from grader.scoring import SubmissionResult
from grader.submission import Submission

_PYTEST_ARGS = [
    "-p", "no:cacheprovider",
    "-p", "no:terminal",
    "-p", "no:logging",
    "-p", "no:stepwise",
    "-p", "no:randomly",
    # its end-of-session garbage collections cost every run most of half a second, and
    # the grading loop reports nothing it would find
    "-p", "no:unraisableexception",
    "--capture=no",
    "--import-mode=importlib",
]


@contextlib.contextmanager
def _isolated_pytest_env() -> Iterator[None]:
    """No third-party pytest plugins in the grading session."""
    old = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = old


@contextlib.contextmanager
def _forget_suite_modules(tests_dir: Path) -> Iterator[None]:
    """Unload the suite's modules afterwards, so a later session in this process (another
    course, or public tests with the same file names) imports its own files."""
    before = set(sys.modules)
    try:
        yield
    finally:
        root = str(tests_dir)
        for name in set(sys.modules) - before:
            path = getattr(sys.modules.get(name), "__file__", None) or ""
            if path.startswith(root):
                del sys.modules[name]


def _prepare_torch(device: str) -> None:
    torch.set_num_threads(1)
    if device != "cpu" and torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


WEAK_FLAG = "--allow-weak-isolation"


def protected_paths(config: RunConfig) -> list[Path]:
    """What a worker must not be able to read: the suites and the reference."""
    paths = [config.tests_dir]
    if config.reference_dir is not None:
        paths.append(config.reference_dir)
    return [p.resolve() for p in paths if p.exists()]


def check_isolation(config: RunConfig, zygote: Zygote) -> tuple[tuple[str, ...], str | None]:
    """Probe the sandbox once; refuse hidden suites without the required layers.

    Returns the layers in force and, when grading goes ahead without the required ones
    (``allow_weak_isolation``), the note every result carries.
    """
    report = zygote.isolation or zygote.probe(protect=[str(p) for p in protected_paths(config)])
    layers = tuple(report.get("isolation", {}).get("layers", {}))
    merged = {"layers": dict.fromkeys(layers), "checks": report.get("checks", {})}
    missing = isolation.missing_for_hidden(merged) if config.reference_dir is not None else []
    if not missing:
        return layers, None
    if not config.allow_weak_isolation:
        raise GraderError(
            f"refusing to grade hidden suites: the sandbox lacks {'; '.join(missing)} on this machine "
            f"(see docs/security.md: run as root in a container, or enable user namespaces or Landlock), "
            f"or pass {WEAK_FLAG} to grade anyway with every report saying so"
        )
    return layers, f"{isolation.WEAK_NOTE} ({WEAK_FLAG}): missing {'; '.join(missing)}"


def grade_in_process(
    config: RunConfig,
    submissions: Iterable[Submission],
    on_result: Callable[[SubmissionResult], None],
    zygote: Zygote | None = None,
) -> list[str]:
    """Grade in this process; returns the topics graded. Raises GraderError on setup failure."""
    if not config.tests_dir.is_dir():
        raise GraderError(f"{config.tests_dir}: the test suite folder does not exist")
    if config.device == "cuda" and not torch.cuda.is_available():
        raise GraderError("--device cuda was requested but CUDA is not available")
    own_zygote = zygote is None
    zygote = zygote or Zygote(config.isolation)
    zygote.start()
    try:
        layers, flag = check_isolation(config, zygote)
    except BaseException:
        if own_zygote:
            zygote.close()
        raise
    _prepare_torch(config.device)
    plugin = GradingPlugin(config, submissions, on_result, zygote)
    plugin.isolation_layers, plugin.isolation_flag = layers, flag
    tests_dir = str(config.tests_dir.resolve())
    args = [tests_dir, "-c", os.devnull, "--rootdir", tests_dir, "--confcutdir", tests_dir, *_PYTEST_ARGS]
    try:
        with _isolated_pytest_env(), _forget_suite_modules(config.tests_dir.resolve()):
            code = pytest.main(args, plugins=[plugin])
    finally:
        if own_zygote:
            zygote.close()
    if plugin.fatal:
        raise (RubricError if plugin.fatal_usage else GraderError)(plugin.fatal)
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise GraderError(f"the grading session stopped unexpectedly (pytest exit code {int(code)})")
    if not plugin.items:
        raise GraderError(f"{config.tests_dir}: no tests to run for the selected topics and devices")
    return plugin.graded_topics


def grade(
    config: RunConfig,
    submissions: list[Submission],
    on_result: Callable[[SubmissionResult], None] | None = None,
    jobs: int = 1,
) -> list[SubmissionResult]:
    """Grade every submission; results come back in the order given."""
    results: dict[str, SubmissionResult] = {}

    def collect(result: SubmissionResult) -> None:
        results[result.id] = result
        if on_result is not None:
            on_result(result)

    if jobs > 1 and len(submissions) > 1:
        from grader.parallel import grade_parallel

        grade_parallel(config, submissions, collect, min(jobs, len(submissions)))
    else:
        grade_in_process(config, submissions, collect)
    missing = [s.id for s in submissions if s.id not in results]
    if missing:
        raise GraderError(f"no result for {', '.join(missing[:5])}")
    return [results[s.id] for s in submissions]


def default_course_root() -> Path:
    """The repository that holds this grader (its reference/ and assignments/)."""
    return Path(__file__).resolve().parent.parent
