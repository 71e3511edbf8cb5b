"""The pytest plugin that runs hidden or public suites against submissions.

Suites are ordinary pytest files. This plugin supplies their fixtures (``student``,
``reference``, ``check``, ``gen``, and the ``device``/``dtype`` parameters), collects
them once, then runs every collected test for each submission in turn inside the same
pytest session, so a class run pays for collection once. It records an
:class:`~grader.scoring.Outcome` per test from what the test raised, never from
pytest's pass/fail alone, and turns them into scores with the rubric.
"""

from __future__ import annotations

import hashlib
import os
import stat
import warnings
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest
import torch

from grader.budget import BudgetExceeded, time_budget
from grader.checks import Checker, GradeFailure
from grader.cleanup import remove_tree
from grader.diagnosis import error_hint
from grader.errors import StudentError, StudentFailure, StudentTimeout
from grader.isolation import Policy
from grader.proxy import StudentProxy
from grader.reference import ReferenceModules
from grader.rubric import Rubric
from grader.sandbox import Zygote
from grader.scoring import (
    Outcome,
    SubmissionResult,
    TestResult,
    argument_order_test,
    penalty_test,
    score_test,
    submission_result,
    topic_result,
)
from grader.session import SessionStats, SubmissionSession
from grader.signature_check import Contract, contract_signatures
from grader.submission import Prepared, Submission, prepare
from grader.topics import TOPICS, suite_topic


@dataclass(frozen=True)
class RunConfig:
    """What to grade with: where the suites are, the rubric, the reference, devices."""

    tests_dir: Path
    rubric: Rubric
    reference_dir: Path | None = None
    topics: tuple[str, ...] | None = None
    device: str = "auto"
    # OS isolation: which layers to try, and whether to grade hidden suites without the
    # ones docs/security.md calls required (every result then says so)
    isolation: Policy = field(default_factory=Policy)
    allow_weak_isolation: bool = False


def jobs_root() -> str | None:
    """The folder that holds the submissions' job folders: ``grader-jobs-<uid>`` in the
    temporary folder, which workers may pass through but not list, so a worker cannot
    find another job's folder (say, one a killed grader left behind) by its name.
    None (the temporary folder itself) when that folder is not safely ours."""
    root = os.path.join(tempfile.gettempdir(), f"grader-jobs-{os.getuid()}")
    try:
        os.mkdir(root, 0o711)
    except FileExistsError:
        pass
    except OSError:
        return None
    return root if _private_folder(root) else None


def _private_folder(path: str) -> bool:
    """Whether ``path`` is a real folder of ours, made passable but not listable."""
    try:
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return False
        os.chmod(path, 0o711)
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class ItemInfo:
    topic: str
    group: str
    test_id: str
    device: str | None


@dataclass
class Current:
    """The submission being graded right now."""

    prepared: Prepared
    session: SubmissionSession
    proxy: StudentProxy
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    suite_seconds: float = 0.0
    topic_seconds: dict[str, float] = field(default_factory=dict)
    internal_errors: list[str] = field(default_factory=list)


INFO = pytest.StashKey[ItemInfo]()
CHECKER = pytest.StashKey[Checker]()


def stable_seed(*parts: Any) -> int:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def cuda_available() -> bool:
    return torch.cuda.is_available()


INTERNAL_ERROR = "internal grader error while grading this submission"
LEFTOVER_NOTE = "the grader could not remove all of this submission's files afterwards"
# What grading one submission may raise without stopping the class run: every error but
# an interrupt (KeyboardInterrupt, SystemExit), including pytest's outcome exceptions.
_CAUGHT = (Exception, pytest.fail.Exception, pytest.skip.Exception)


def internal_error(exc: BaseException | None) -> str:
    """The one-line flag for a failure of the grader's own while grading a submission."""
    if exc is None:
        return f"{INTERNAL_ERROR}: no result was produced"
    text = " ".join(str(exc).split())
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{INTERNAL_ERROR}: {type(exc).__name__}" + (f": {text}" if text else "")


@dataclass(frozen=True)
class GiveUp:
    """A submission the run will not grade (again): it killed its grading process
    twice under ``--jobs``. The plugin answers it with an error result saying ``reason``."""

    submission: Submission
    reason: str


@dataclass
class _Attempt:
    """How far grading one submission got, for its result even when it stopped early."""

    current: Current | None = None
    session: SubmissionSession | None = None
    stats: SessionStats | None = None
    prep_seconds: float = 0.0
    failure: BaseException | None = None

    def timing(self, total: float) -> dict[str, float]:
        stats = self.stats or SessionStats()
        current = self.current
        return {
            "total_s": round(total, 4),
            "prepare_s": round(self.prep_seconds, 4),
            "suite_s": round(current.suite_seconds if current else 0.0, 4),
            **{f"suite_s.{t}": round(v, 4) for t, v in (current.topic_seconds if current else {}).items()},
            "spawn_s": round(stats.spawn_seconds, 4),
            "student_calls": stats.calls,
            "student_call_s": round(stats.call_seconds, 4),
            "workers": stats.workers,
            "student_cpu_s": round(stats.cpu_seconds, 4),
        }


class GradingPlugin:
    """Fixtures and hooks for one grading run over many submissions."""

    def __init__(
        self,
        config: RunConfig,
        source: Iterable[Submission],
        on_result: Callable[[SubmissionResult], None],
        zygote: Zygote,
    ):
        self.config = config
        self.rubric = config.rubric
        self.source = source
        self.on_result = on_result
        self.zygote = zygote
        self.devices = self._devices(config.device)
        self._reference = ReferenceModules(config.reference_dir) if config.reference_dir else None
        self.items: list[pytest.Item] = []
        self.groups: dict[str, dict[str, list[pytest.Item]]] = {}
        self.fatal: str | None = None
        self.current: Current | None = None
        self.fatal_usage = False
        self.isolation_layers: tuple[str, ...] = ()
        self.isolation_flag: str | None = None
        self._contracts: dict[str, Contract] | None = None

    @property
    def contracts(self) -> dict[str, Contract]:
        """Each topic's public signatures, read once from the reference's syntax tree (the
        course's own files, in this process: nothing a worker reports). None of them
        without a reference (public tests): the argument order is then not checked."""
        if self._contracts is None:
            self._contracts = {}
            directory = self.config.reference_dir
            for topic in TOPICS if directory is not None else ():
                try:
                    text = (Path(directory) / f"{topic}.py").read_text(encoding="utf-8")
                    self._contracts[topic] = contract_signatures(text)
                except (OSError, UnicodeDecodeError, SyntaxError, ValueError, RecursionError):
                    continue  # no usable reference for this topic: its suite says so
        return self._contracts

    @staticmethod
    def _devices(choice: str) -> tuple[str, ...]:
        if choice == "cpu":
            return ("cpu",)
        if choice == "cuda":
            return ("cuda",)
        return ("cpu", "cuda") if cuda_available() else ("cpu",)

    # -- fixtures -------------------------------------------------------------------
    @pytest.fixture
    def student(self) -> StudentProxy:
        assert self.current is not None, "the student fixture is only available while grading"
        return self.current.proxy

    @pytest.fixture(scope="session")
    def reference(self) -> ReferenceModules:
        if self._reference is None:
            pytest.fail("the reference is not available to public tests", pytrace=False)
        return self._reference

    @pytest.fixture
    def check(self, request: pytest.FixtureRequest) -> Checker:
        info = request.node.stash.get(INFO, None)
        group = self.rubric.topics[info.topic].groups.get(info.group) if info else None
        session = self.current.session if self.current else None
        checker = Checker(
            tiers=group.tiers if group else (),
            show_expected=self.rubric.show_expected,
            last_call=(lambda: session.last_call) if session else (lambda: None),
        )
        request.node.stash[CHECKER] = checker
        return checker

    @pytest.fixture(scope="session")
    def settings(self) -> dict[str, dict[str, Any]]:
        """The rubric's ``settings`` section (a copy), e.g. ``settings["capstone"]``."""
        return {name: dict(values) for name, values in self.rubric.settings.items()}

    @pytest.fixture
    def gen(self, request: pytest.FixtureRequest) -> torch.Generator:
        """A CPU generator seeded from the rubric's seed and the test's id."""
        return torch.Generator().manual_seed(stable_seed(self.rubric.seed, request.node.nodeid))

    # -- collection -----------------------------------------------------------------
    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "topic(name): the topic a suite file grades")

    @pytest.hookimpl(trylast=True)
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        already = {
            name.strip()
            for mark in metafunc.definition.iter_markers("parametrize")
            for name in (mark.args[0].split(",") if isinstance(mark.args[0], str) else mark.args[0])
        }
        if "device" in metafunc.fixturenames and "device" not in already:
            metafunc.parametrize("device", ["cpu", "cuda"])
        if "dtype" in metafunc.fixturenames and "dtype" not in already:
            metafunc.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and self.fatal is None:
            text = str(report.longrepr).strip().splitlines()
            detail = text[-1] if text else "collection failed"
            self.fatal = f"the test suite {report.nodeid or self.config.tests_dir} cannot be loaded: {detail}"

    def _topic_of(self, item: pytest.Item) -> str | None:
        mark = item.get_closest_marker("topic")
        if mark and mark.args:
            return str(mark.args[0])
        return suite_topic(Path(str(item.fspath)).name)

    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config, items: list) -> None:
        keep, drop = [], []
        for item in items:
            topic = self._topic_of(item)
            if topic is None:
                self.fatal = self.fatal or (
                    f"{item.nodeid}: cannot tell which topic this test grades; name the file "
                    "test_<topic>.py or mark it with @pytest.mark.topic('<topic>')"
                )
                drop.append(item)
                continue
            params = getattr(getattr(item, "callspec", None), "params", {})
            device = params.get("device")
            if (self.config.topics and topic not in self.config.topics) or (
                device is not None and str(device) not in self.devices
            ):
                drop.append(item)
                continue
            name = getattr(item, "originalname", item.name)
            group = name[5:] if name.startswith("test_") else name
            callspec = getattr(item, "callspec", None)
            test_id = f"{topic}::{group}" + (f"[{callspec.id}]" if callspec else "")
            item.stash[INFO] = ItemInfo(topic, group, test_id, str(device) if device else None)
            keep.append(item)
            self.groups.setdefault(topic, {}).setdefault(group, []).append(item)
        items[:] = keep
        if drop:
            config.hook.pytest_deselected(items=drop)
        self.items = keep
        before = self.fatal
        self._check_rubric()
        # a rubric out of step with the suite is the instructor's input to fix
        self.fatal_usage = before is None and self.fatal is not None

    def _check_rubric(self) -> None:
        if self.fatal:
            return
        for topic, groups in self.groups.items():
            rubric_topic = self.rubric.topics.get(topic)
            if rubric_topic is None:
                self.fatal = f"{self.rubric.source}: no points for topic {topic!r} (its tests are in the suite)"
                return
            for group in groups:
                if group not in rubric_topic.groups:
                    self.fatal = (
                        f"{self.rubric.source}: topics.{topic}.tests has no entry for test '{group}' "
                        f"(test_{group} in the {topic} suite)"
                    )
                    return
        wanted = self.config.topics or tuple(self.rubric.topics)
        for topic in wanted:
            if topic not in self.rubric.topics:
                continue
            for group in self.rubric.topics[topic].groups:
                if topic in self.groups and group not in self.groups[topic]:
                    self.fatal = (
                        f"{self.rubric.source}: topics.{topic}.tests.{group} names no test in the suite"
                    )
                    return

    @property
    def graded_topics(self) -> list[str]:
        return [t for t in TOPICS if t in self.groups]

    def topics_for(self, submission: Submission) -> list[str]:
        """The run's topics this submission is graded on (Submission.topics narrows them)."""
        chosen = submission.topics
        return [t for t in self.graded_topics if chosen is None or t in chosen]

    @staticmethod
    def runs_group(submission: Submission, topic: str, group: str) -> bool:
        """Whether this submission's grading includes a test group (Submission.groups)."""
        return submission.groups is None or f"{topic}::{group}" in submission.groups

    @property
    def prepared_topics(self) -> list[str]:
        """The graded topics and the ones their suites call (``Topic.needs``)."""
        graded = set(self.graded_topics)
        wanted = graded | {need for t in graded for need in TOPICS[t].needs}
        return [t for t in TOPICS if t in wanted]

    # -- running ----------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        if self.fatal:
            return True
        for entry in self.source:
            if isinstance(entry, GiveUp):
                self.on_result(self._error_result(entry.submission, entry.reason, {}))
            else:
                self.on_result(self.grade(entry))
        return True

    def grade(self, submission: Submission) -> SubmissionResult:
        """Grade one submission. Never raises for it: whatever goes wrong on its behalf
        (intake, the sandbox, the grader's own code, the cleanup) becomes a one-line flag
        on its result, and the topics it kept from being graded are marked as errors."""
        t0 = time.perf_counter()
        attempt = _Attempt()
        job: Path | None = None
        try:
            job = Path(tempfile.mkdtemp(prefix="grader-job-", dir=jobs_root()))
            self._grade_in(submission, job, attempt)
        except _CAUGHT as exc:
            attempt.failure = attempt.failure or exc
        finally:
            self.current = None
            self._close_session(attempt)
            removal = remove_tree(job) if job is not None else None
        result = self._finish(submission, attempt, t0)
        if removal is not None and not removal.complete:
            result = replace(result, flags=(*result.flags, f"{LEFTOVER_NOTE}: {removal.describe()}"))
        return result

    def _grade_in(self, submission: Submission, job: Path, attempt: _Attempt) -> None:
        t0 = time.perf_counter()
        prepared = prepare(submission, job, self.prepared_topics, self.rubric.limits.intake_seconds, self.contracts)
        scratch = job / "scratch"
        scratch.mkdir()
        runnable_topics = prepared.present - set(prepared.broken)
        session = SubmissionSession(
            self.zygote,
            str(prepared.module_dir),
            str(scratch),
            runnable_topics,
            self.rubric.limits,
            cuda="cuda" in self.devices,
            broken_topics=prepared.broken,
        )
        session.source_findings = prepared.mutations  # the grader's reading of the source, for the suites
        attempt.session = session
        attempt.current = self.current = Current(prepared, session, StudentProxy(lambda: session))
        attempt.prep_seconds = time.perf_counter() - t0
        wanted = set(self.topics_for(submission))
        runnable = [it for it in self.items if it.stash[INFO].topic in runnable_topics & wanted
                    and self.runs_group(submission, it.stash[INFO].topic, it.stash[INFO].group)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # suites' warnings mean nothing to the person grading
            for i, item in enumerate(runnable):
                nextitem = runnable[i + 1] if i + 1 < len(runnable) else None
                self._run_item(item, nextitem, attempt.current)
                session.reset()
        attempt.stats = session.close()

    @staticmethod
    def _close_session(attempt: _Attempt) -> None:
        """End the worker of a submission whose grading stopped early."""
        if attempt.session is None or attempt.stats is not None:
            return
        try:
            attempt.stats = attempt.session.close()
        except _CAUGHT as exc:
            attempt.failure = attempt.failure or exc

    def _finish(self, submission: Submission, attempt: _Attempt, t0: float) -> SubmissionResult:
        """The result: graded normally, or salvaged around an internal failure."""
        timing = attempt.timing(time.perf_counter() - t0)
        if attempt.failure is None and attempt.current is not None:
            try:
                return self._result(attempt.current, timing)
            except _CAUGHT as exc:
                attempt.failure = exc
        message = internal_error(attempt.failure)
        try:
            if attempt.current is not None:
                return self._salvaged(attempt.current, message, timing)
        except _CAUGHT:
            pass
        return self._error_result(submission, message, timing)

    def _salvaged(self, current: Current, message: str, timing: dict[str, float]) -> SubmissionResult:
        """What was graded before an internal failure; every test it kept from running
        fails with ``message`` and its topic is marked as an error."""
        outcomes = dict(current.outcomes)
        runnable = (current.prepared.present - set(current.prepared.broken)) & set(self.topics_for(current.prepared.submission))
        stopped = set()
        for item in self.items:
            info = item.stash[INFO]
            if not self.runs_group(current.prepared.submission, info.topic, info.group):
                continue
            if info.topic in runnable and info.test_id not in outcomes:
                outcomes[info.test_id] = Outcome("error", 0.0, message)
                stopped.add(info.topic)
        result = self._result(replace(current, outcomes=outcomes), timing)
        topics = {
            name: replace(topic, status="error") if name in stopped else topic for name, topic in result.topics.items()
        }
        return replace(result, topics=topics, flags=(message, *result.flags))

    def _error_result(self, submission: Submission, message: str, timing: dict[str, float]) -> SubmissionResult:
        """A result with every test failed by ``message``: nothing of the submission
        could be graded. Built from the collected tests and the rubric alone."""
        topics = {}
        try:
            for topic in self.topics_for(submission):
                tests = []
                for group, items in self.groups[topic].items():
                    if not self.runs_group(submission, topic, group):
                        continue
                    points = self.rubric.topics[topic].groups[group].points / len(items)
                    failed = Outcome("error", 0.0, message)
                    tests += [score_test(it.stash[INFO].test_id, failed, points) for it in items]
                topics[topic] = topic_result(topic, tests, "error")
        except _CAUGHT:
            topics = {}
        flags = [message] + ([self.isolation_flag] if self.isolation_flag else [])
        result = submission_result(submission.id, str(submission.path), topics, flags, timing)
        return replace(result, isolation=self.isolation_layers)

    def _run_item(self, item: pytest.Item, nextitem: pytest.Item | None, current: Current) -> None:
        """pytest's setup/call/teardown for one test, recording its outcome directly.

        This is pytest's own run protocol without building and logging report objects,
        which the grader does not use; items may run once per submission (pytest
        supports re-running an item, as pytest-rerunfailures does).
        """
        if CHECKER in item.stash:  # a checker from the previous submission's run
            del item.stash[CHECKER]
        hasrequest = hasattr(item, "_request")
        if hasrequest and not item._request:  # type: ignore[attr-defined]
            item._initrequest()  # type: ignore[attr-defined]
        hook = item.ihook
        setup = pytest.CallInfo.from_call(lambda: hook.pytest_runtest_setup(item=item), when="setup")
        call = None
        if setup.excinfo is None:
            # the grader's own work in the test (its reference, comparisons, callbacks) is
            # charged to the submission: all of it ends with the submission's wall budget
            left = current.session.started + self.rubric.limits.wall_seconds - time.monotonic()

            def run_call() -> None:
                with time_budget(max(left, 0.001), "grading this submission"):
                    hook.pytest_runtest_call(item=item)

            call = pytest.CallInfo.from_call(run_call, when="call")
        teardown = pytest.CallInfo.from_call(
            lambda: hook.pytest_runtest_teardown(item=item, nextitem=nextitem), when="teardown"
        )
        if hasrequest:
            item._request = False  # type: ignore[attr-defined]
            item.funcargs = None  # type: ignore[attr-defined]
        spent = setup.duration + teardown.duration + (call.duration if call else 0.0)
        current.suite_seconds += spent
        topic = item.stash[INFO].topic
        current.topic_seconds[topic] = current.topic_seconds.get(topic, 0.0) + spent
        current.outcomes[item.stash[INFO].test_id] = self._outcome(item, call or setup, current)

    def _outcome(self, item: pytest.Item, call: pytest.CallInfo, current: Current) -> Outcome:
        checker = item.stash.get(CHECKER, None)
        state = checker.state if checker else None
        metrics = dict(state.metrics) if state else {}
        curves = dict(state.curves) if state else {}
        notes = tuple(state.notes) if state else ()
        outcome = self._outcome_of(item, call, current, state, metrics)
        return replace(outcome, curves=curves, notes=notes) if curves or notes else outcome

    def _outcome_of(
        self, item: pytest.Item, call: pytest.CallInfo, current: Current, state: Any, metrics: dict[str, float]
    ) -> Outcome:
        excinfo = call.excinfo
        if excinfo is None:
            if state is not None and state.credit < 1.0:
                return Outcome("partial", state.credit, state.message, state.hint, metrics)
            return Outcome("passed", 1.0, "", None, metrics)
        exc = excinfo.value
        if isinstance(exc, GradeFailure):
            status = "partial" if exc.credit > 0 else "failed"
            return Outcome(status, exc.credit, exc.message, exc.hint, exc.metrics or metrics)
        if isinstance(exc, BudgetExceeded):
            return Outcome("timeout", 0.0, f"not run to the end: the submission used up its time budget of "
                                          f"{self.rubric.limits.wall_seconds:g} s", None, metrics)
        if isinstance(exc, StudentFailure):
            hint = _failure_hint(exc)
            return Outcome(exc.status, 0.0, exc.message, hint, metrics)  # type: ignore[arg-type]
        if isinstance(exc, AssertionError):
            first = (str(exc).strip().splitlines() or ["a check failed"])[0]
            return Outcome("failed", 0.0, first[:300], None, metrics)
        if excinfo.errisinstance(pytest.skip.Exception):
            return Outcome("error", 0.0, "this test was skipped while grading", None, metrics)
        info = item.stash[INFO]
        current.internal_errors.append(f"{info.test_id}: {type(exc).__name__}: {exc}"[:300])
        return Outcome(
            "error", 0.0,
            f"the grader could not check this result ({type(exc).__name__}: {str(exc)[:200]})",
            None, metrics,
        )

    # -- results ----------------------------------------------------------------------
    def _result(self, current: Current, timing: dict[str, float]) -> SubmissionResult:
        prepared = current.prepared
        topics = {}
        flags: list[str] = []
        runtime = _runtime_findings(current.session.notices, prepared)
        for topic in self.topics_for(prepared.submission):
            tests: list[TestResult] = []
            rubric_topic = self.rubric.topics[topic]
            status = None
            if topic not in prepared.present:
                status = "missing"
            elif topic in prepared.broken:
                status = "error"
            for group, items in self.groups[topic].items():
                if not self.runs_group(prepared.submission, topic, group):
                    continue
                points = rubric_topic.groups[group].points / len(items)
                for item in items:
                    test_id = item.stash[INFO].test_id
                    outcome = current.outcomes.get(test_id)
                    if outcome is None:
                        outcome = self._not_run(topic, prepared)
                    tests.append(score_test(test_id, outcome, points, rubric_topic.groups[group].visibility))
            messages = [f.describe(topic) for f in prepared.findings.get(topic, [])]
            messages += runtime.pop(topic, [])
            if messages:
                flags.extend(messages)
                if rubric_topic.forbidden_penalty > 0:
                    earned = sum(t.score for t in tests)
                    tests.append(penalty_test(topic, earned, rubric_topic.forbidden_penalty, messages))
            order = prepared.signatures.get(topic, [])
            if order:
                flags.extend(f.describe(topic) for f in order)
                if rubric_topic.argument_order_penalty > 0:
                    earned = sum(t.score for t in tests)
                    tests.append(argument_order_test(
                        topic, earned, rubric_topic.argument_order_penalty, [f.message for f in order]))
            topics[topic] = topic_result(topic, tests, status)
        flags.extend(m for messages in runtime.values() for m in messages)  # topics not graded in this run
        flags.extend(f"internal grader error in {e}" for e in current.internal_errors)
        if self.isolation_flag:
            flags.append(self.isolation_flag)
        sub = prepared.submission
        result = submission_result(sub.id, str(sub.path), topics, flags, timing)
        return replace(result, isolation=self.isolation_layers)

    @staticmethod
    def _not_run(topic: str, prepared: Prepared) -> Outcome:
        if topic not in prepared.present:
            return Outcome("missing", 0.0, f"{topic}.py (or {topic}.ipynb) is not in the submission")
        if topic in prepared.broken:
            return Outcome("error", 0.0, prepared.broken[topic])
        return Outcome("error", 0.0, "this test did not run")


def _runtime_findings(notices: dict, prepared: Prepared) -> dict[str, list[str]]:
    """Forbidden calls the worker's guard announced, by topic, as flag messages; a call
    the static check already found is not repeated."""
    static = {(topic, f.name, f.function.rsplit(".", 1)[-1]) for topic, found in prepared.findings.items() for f in found}
    out: dict[str, list[str]] = {}
    for (kind, topic, name), where in sorted(notices.items()):
        if kind != "forbidden" or (topic, name, where["function"]) in static:
            continue
        line = f", line {where['line']}" if where.get("line") else ""
        out.setdefault(topic, []).append(
            f"forbidden call {name} in {topic}.{where['function'] or '?'} (seen at run time{line})")
    return out


def _failure_hint(exc: StudentFailure) -> str | None:
    if isinstance(exc, StudentTimeout):
        return "look for an infinite loop, or a Python loop over elements that should be a tensor operation"
    if isinstance(exc, StudentError):
        return error_hint(exc.type_name, exc.exc_message)
    return None
