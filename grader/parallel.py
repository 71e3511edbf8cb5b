"""``--jobs N``: share submissions out to N grading processes.

Each process is a fresh interpreter running :func:`serve` (its own pytest session and
fork server). It says ``ready`` once its suites are collected, then reads submission
paths as JSON lines on stdin and writes one JSON result per line on stdout. The parent
hands the next submission to whichever process is free. Only JSON crosses between these
trusted processes.

A process that dies while grading a submission (killed by the kernel for memory, say,
or silent past the submission's whole budget) is replaced, and the submission is tried
once more on another process; a submission that ends a second process gets an error
result saying so, and the run goes on. Each process keeps its temporary files (job
folders included) in a folder of its own (its ``TMPDIR``), which the parent removes
after the process ends, so a dead process leaves no submission's files behind.

Grading processes die with the parent, however it ends (``kill -9`` included): each
watches a pipe whose only write end the parent holds, and ends itself (its fork server
and workers follow it) when that pipe reads end of file. The parent starts them from its
slot threads, so the kernel's parent-death signal, which fires when the *thread* that
started a process ends, is not used for them.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Callable

from grader.cleanup import remove_tree
from grader.errors import GraderError, UsageError
from grader.isolation import Policy
from grader.plugin import INTERNAL_ERROR, GiveUp, RunConfig, jobs_root
from grader.reports import submission_from_dict, submission_to_dict
from grader.rubric import Rubric, parse_rubric
from grader.scoring import Outcome, SubmissionResult, score_test, submission_result, topic_result
from grader.submission import Submission
from grader.topics import TOPICS

_BOOT = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from grader.parallel import serve; serve()"
)

_USAGE = "usage: "  # marks an error a grading process raised as the user's to fix
TRIES = 2  # grading processes a submission may end before it gets an error result
_START_TRIES = 3  # failed starts in a row before a slot gives up
_START_SECONDS = 600.0  # collecting the suites and starting the fork server


def _config_payload(config: RunConfig, rubric_file: str) -> dict:
    return {
        "tests_dir": str(config.tests_dir),
        "rubric": rubric_file,
        "rubric_source": config.rubric.source,
        "reference_dir": str(config.reference_dir) if config.reference_dir else None,
        "topics": list(config.topics) if config.topics else None,
        "device": config.device,
        "isolation": asdict(config.isolation),
        "allow_weak_isolation": config.allow_weak_isolation,
    }


def _rubric_to_data(rubric: Rubric) -> dict:
    """Re-serialise a validated rubric so worker processes read exactly the same one."""
    return {
        "schema": 1,
        "seed": rubric.seed,
        "show_expected": rubric.show_expected,
        "limits": dict(rubric.limits.__dict__),
        "settings": {name: dict(values) for name, values in rubric.settings.items()},
        **({"due": rubric.due.isoformat()} if rubric.due is not None else {}),
        "topics": {
            name: {
                "forbidden_penalty": t.forbidden_penalty,
                "argument_order_penalty": t.argument_order_penalty,
                "tests": {
                    g.name: {"points": g.points, "tiers": [{"within": x.within, "credit": x.credit} for x in g.tiers],
                             "visibility": g.visibility}
                    for g in t.groups.values()
                },
            }
            for name, t in rubric.topics.items()
        },
    }


def submission_seconds(rubric: Rubric) -> float:
    """How long a grading process may go without answering for one submission: its
    wall-clock budget twice over, every topic's intake budget, and a margin."""
    limits = rubric.limits
    return 2 * limits.wall_seconds + (len(TOPICS) + 1) * limits.intake_seconds + 300.0


@dataclass(frozen=True)
class _Task:
    """A submission to hand out; ``reason`` set: answer it with an error result."""

    submission: Submission
    tries: int = 0  # grading processes it has ended so far
    reason: str | None = None


class _Process:
    """One grading process: its pipes, its log and a temporary folder of its own (its
    job folders and fork server's files), removed after it whatever way it ends."""

    def __init__(self, header: dict, log_path: str):
        self.tmp = tempfile.mkdtemp(prefix="grader-par-tmp-", dir=jobs_root())
        os.chmod(self.tmp, 0o711)  # workers pass through to their job folders
        self.log: IO[str] = open(log_path, "w+", encoding="utf-8", errors="replace")
        root = str(Path(__file__).resolve().parent.parent)
        # the process holds the read end; this one the only write end (not inheritable,
        # and no other child gets it: Popen closes every descriptor not passed)
        lifeline, self.lifeline = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT, root, str(lifeline)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1,
                env={**os.environ, "TMPDIR": self.tmp}, pass_fds=[lifeline],
            )
        except BaseException:
            os.close(self.lifeline)
            raise
        finally:
            os.close(lifeline)
        self.silent_for: float | None = None  # set when the watchdog ended it
        self.send(header)

    def send(self, message: dict) -> bool:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            return False
        return True

    def read(self, seconds: float) -> dict | None:
        """The next line it writes, None when it ended (or was ended after ``seconds``)."""
        watchdog = threading.Timer(seconds, self._expire, args=(seconds,))
        watchdog.daemon = True
        watchdog.start()
        try:
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()
        except (OSError, ValueError):
            line = ""
        finally:
            watchdog.cancel()
        if not line:
            return None
        try:
            reply = json.loads(line)
        except ValueError:
            return None
        return reply if isinstance(reply, dict) else None

    def _expire(self, seconds: float) -> None:
        self.silent_for = seconds
        self.proc.kill()

    def ask(self, task: _Task, seconds: float) -> dict | None:
        groups = task.submission.groups
        spec = {"id": task.submission.id, "path": str(task.submission.path), "topics": task.submission.topics,
                "groups": sorted(groups) if groups is not None else None}
        if task.reason is not None:
            spec["give_up"] = task.reason
        return self.read(seconds) if self.send(spec) else None

    def how_it_ended(self) -> str:
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        if self.silent_for is not None:
            return f"no answer within {self.silent_for:g} s"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        self.log.seek(max(0, self.log.seek(0, os.SEEK_END) - 4096))
        lines = self.log.read().strip().splitlines()
        return f"exited with status {code}" + (f": {lines[-1][:200]}" if lines else "")

    def close(self) -> None:
        """End it (politely first: stdin closed) and remove what it left."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        try:
            os.close(self.lifeline)  # only now: it would end the process at once
        except OSError:
            pass
        self.log.close()
        remove_tree(self.tmp)


class _Pool:
    """The slots, the shared queue of submissions and the events the slots report."""

    def __init__(self, config: RunConfig, jobs: int, header: dict, logs: str):
        self.config = config
        self.jobs = jobs
        self.header = header
        self.logs = logs
        self.todo: "queue.Queue[_Task | None]" = queue.Queue()
        self.events: "queue.Queue[tuple[str, object]]" = queue.Queue()
        self.finished = threading.Event()
        self.seconds = submission_seconds(config.rubric)
        self._started = 0
        self._lock = threading.Lock()

    def start(self) -> _Process:
        with self._lock:
            self._started += 1
            n = self._started
        return _Process(self.header, os.path.join(self.logs, f"process{n}.log"))

    def slot(self) -> None:
        """One slot's life: start a process, feed it, replace it when it dies."""
        failed_starts = 0
        try:
            while not self.finished.is_set():
                proc = self.start()
                hello = proc.read(_START_SECONDS)
                if hello is not None and "error" in hello:
                    self._refused(proc, hello)  # the same for every process: this slot ends
                    return
                if hello is None or "ready" not in hello:
                    failed_starts += 1
                    detail = proc.how_it_ended()
                    proc.close()
                    if failed_starts >= _START_TRIES:
                        self.events.put(("lost", f"a grading process could not start ({detail})"))
                        return
                    continue
                failed_starts = 0
                if not self.feed(proc):
                    return
        except Exception as exc:  # noqa: BLE001 - a slot failing must not hang the run
            self.events.put(("lost", f"a grading process could not start: {type(exc).__name__}: {exc}"))
        finally:
            self.events.put(("end", None))

    def _refused(self, proc: _Process, reply: dict) -> None:
        """A process refused the run itself (a usage error, a suite that cannot load)."""
        error = str(reply.get("error"))
        if reply.get("exit_code") == UsageError.exit_code:
            error = _USAGE + error
        self.events.put(("fatal", error))
        proc.close()

    def feed(self, proc: _Process) -> bool:
        """Hand submissions to ``proc`` until told to stop or the run fails (False), or
        until it dies (True: the slot starts another)."""
        while True:
            task = self.todo.get()
            if task is None:
                proc.close()
                return False
            try:
                reply = proc.ask(task, self.seconds)
                if reply is not None and "error" in reply:
                    self.todo.put(task)  # not this submission's doing: another process may try
                    self._refused(proc, reply)
                    return False
                result = submission_from_dict(reply["result"]) if reply is not None else None
            except Exception as exc:  # noqa: BLE001 - an unreadable answer: as if it died
                proc.proc.kill()
                result, detail = None, f"an unreadable answer ({type(exc).__name__})"
            else:
                detail = ""
            if result is None:
                self._died(task, detail or proc.how_it_ended())
                proc.close()
                return True
            self.events.put(("result", result))

    def _died(self, task: _Task, detail: str) -> None:
        tries = task.tries + 1
        sub = task.submission
        if task.reason is not None:  # even answering it failed: answer it here
            self.events.put(("result", fallback_result(self.config, sub, task.reason)))
        elif tries >= TRIES:
            times = "twice" if tries == 2 else f"{tries} times"
            reason = f"{INTERNAL_ERROR}: its grading process died {times} ({detail}); it was not graded"
            self.todo.put(_Task(sub, tries, reason))
        else:
            self.todo.put(_Task(sub, tries))


def fallback_result(config: RunConfig, sub: Submission, reason: str) -> SubmissionResult:
    """An error result built from the rubric alone (a test per rubric entry), for a
    submission no grading process could answer for."""
    topics = {}
    for name, topic in config.rubric.topics.items():
        if config.topics and name not in config.topics:
            continue
        failed = Outcome("error", 0.0, reason)
        tests = [score_test(f"{name}::{g.name}", failed, g.points) for g in topic.groups.values()]
        topics[name] = topic_result(name, tests, "error")
    return submission_result(sub.id, str(sub.path), topics, [reason], {})


def grade_parallel(
    config: RunConfig, submissions: list[Submission], on_result: Callable[[SubmissionResult], None], jobs: int
) -> None:
    with tempfile.TemporaryDirectory(prefix="grader-par-") as tmp:
        rubric_file = os.path.join(tmp, "rubric.json")
        with open(rubric_file, "w", encoding="utf-8") as fh:
            json.dump(_rubric_to_data(config.rubric), fh)
        pool = _Pool(config, jobs, _config_payload(config, rubric_file), tmp)
        for sub in submissions:
            pool.todo.put(_Task(sub))
        slots = [threading.Thread(target=pool.slot, daemon=True) for _ in range(jobs)]
        for slot in slots:
            slot.start()
        try:
            unfinished = _collect(pool, {s.id for s in submissions}, on_result)
        finally:
            pool.finished.set()
            for _ in slots:
                pool.todo.put(None)
            for slot in slots:
                slot.join(timeout=120)
    if unfinished is not None:
        errors, lost = unfinished
        if errors and errors[0].startswith(_USAGE):
            raise UsageError(errors[0][len(_USAGE):])
        raise GraderError((errors or lost or ["a grading process stopped early"])[0])


def _collect(
    pool: _Pool, remaining: set[str], on_result: Callable[[SubmissionResult], None]
) -> tuple[list[str], list[str]] | None:
    """Pass results on until every submission has one (None) or no slot is left (the
    errors that ended them)."""
    errors: list[str] = []
    lost: list[str] = []
    live = pool.jobs
    while remaining and live:
        kind, payload = pool.events.get()
        if kind == "result":
            result = payload
            assert isinstance(result, SubmissionResult)
            if result.id in remaining:
                remaining.discard(result.id)
                on_result(result)
        elif kind == "fatal":
            errors.append(str(payload))
        elif kind == "lost":
            lost.append(str(payload))
        elif kind == "end":
            live -= 1
    return (errors, lost) if remaining else None


def _exit_with_parent(lifeline: int) -> None:
    """End this process as soon as ``lifeline`` reads end of file: the parent is gone.

    A daemon thread waits on it, whatever the main thread is doing. Nothing is cleaned up
    here: the fork server sees its control socket close (and gets its parent-death
    signal) and kills the workers; the parent would have removed this process's files.
    """

    def watch() -> None:
        while True:
            try:
                if os.read(lifeline, 64):
                    continue  # nothing is ever written; ignore it if something is
            except InterruptedError:
                continue
            except OSError:
                pass
            os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve() -> None:
    """Entry point of a grading process (see module docstring)."""
    from grader.engine import grade_in_process
    from grader.errors import GraderError as _GraderError

    if len(sys.argv) > 1:
        _exit_with_parent(int(sys.argv[1]))
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but results on the real stdout
    header = json.loads(sys.stdin.readline())
    with open(header["rubric"], encoding="utf-8") as fh:
        rubric = parse_rubric(json.load(fh), header["rubric_source"])
    config = RunConfig(
        Path(header["tests_dir"]),
        rubric,
        Path(header["reference_dir"]) if header["reference_dir"] else None,
        tuple(header["topics"]) if header["topics"] else None,
        header["device"],
        Policy(**header.get("isolation", {})),
        bool(header.get("allow_weak_isolation")),
    )

    def say(message: dict) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    def source():
        say({"ready": True})  # the suites are collected and the sandbox probed
        for line in sys.stdin:
            spec = json.loads(line)
            topics, groups = spec.get("topics"), spec.get("groups")
            sub = Submission(spec["id"], Path(spec["path"]), tuple(topics) if topics is not None else None,
                             frozenset(groups) if groups is not None else None)
            yield GiveUp(sub, spec["give_up"]) if spec.get("give_up") else sub

    try:
        grade_in_process(config, source(), lambda result: say({"result": submission_to_dict(result)}))
    except _GraderError as exc:
        say({"error": str(exc), "exit_code": exc.exit_code})
