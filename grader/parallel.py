"""``--jobs N``: share submissions out to N grading processes.

Each process is a fresh interpreter running :func:`serve` (its own pytest session and
fork server) that reads submission paths as JSON lines on stdin and writes one JSON
result per line on stdout. The parent hands the next submission to whichever process
finishes first. Only JSON crosses between these trusted processes.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from grader.errors import GraderError, UsageError
from grader.isolation import Policy
from grader.plugin import RunConfig
from grader.reports import submission_from_dict, submission_to_dict
from grader.rubric import Rubric, parse_rubric
from grader.scoring import SubmissionResult
from grader.submission import Submission

_BOOT = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from grader.parallel import serve; serve()"
)


_USAGE = "usage: "  # marks an error a grading process raised as the user's to fix


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
        "topics": {
            name: {
                "forbidden_penalty": t.forbidden_penalty,
                "tests": {
                    g.name: {"points": g.points, "tiers": [{"within": x.within, "credit": x.credit} for x in g.tiers]}
                    for g in t.groups.values()
                },
            }
            for name, t in rubric.topics.items()
        },
    }


def grade_parallel(
    config: RunConfig, submissions: list[Submission], on_result: Callable[[SubmissionResult], None], jobs: int
) -> None:
    todo: "queue.Queue[Submission | None]" = queue.Queue()
    for sub in submissions:
        todo.put(sub)
    done: "queue.Queue[tuple[str, object]]" = queue.Queue()
    root = str(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory(prefix="grader-par-") as tmp:
        rubric_file = os.path.join(tmp, "rubric.json")
        with open(rubric_file, "w", encoding="utf-8") as fh:
            json.dump(_rubric_to_data(config.rubric), fh)
        header = json.dumps(_config_payload(config, rubric_file))
        procs = []
        for i in range(jobs):
            log = open(os.path.join(tmp, f"worker{i}.log"), "w+", encoding="utf-8")
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT, root],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
            )
            procs.append((proc, log))
            threading.Thread(target=_drive, args=(proc, log, header, todo, done), daemon=True).start()
        remaining = len(submissions)
        errors: list[str] = []
        finished_workers = 0
        while remaining and finished_workers < jobs:
            kind, payload = done.get()
            if kind == "result":
                remaining -= 1
                on_result(payload)  # type: ignore[arg-type]
            elif kind == "exit":
                finished_workers += 1
                if payload:
                    errors.append(str(payload))
        for _ in procs:
            todo.put(None)
        for proc, log in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
        if remaining:
            if errors and errors[0].startswith(_USAGE):
                raise UsageError(errors[0][len(_USAGE):])
            raise GraderError(errors[0] if errors else "a grading process stopped early")


def _drive(proc: subprocess.Popen, log, header: str, todo: queue.Queue, done: queue.Queue) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    error = ""
    try:
        proc.stdin.write(header + "\n")
        proc.stdin.flush()
        while True:
            sub = todo.get()
            if sub is None:
                break
            proc.stdin.write(json.dumps({"id": sub.id, "path": str(sub.path)}) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            if not line:
                todo.put(sub)
                break
            reply = json.loads(line)
            if "error" in reply:
                error = reply["error"]
                if reply.get("exit_code") == UsageError.exit_code:
                    error = _USAGE + error
                todo.put(sub)
                break
            done.put(("result", submission_from_dict(reply["result"])))
        proc.stdin.close()
    except (OSError, ValueError) as exc:
        error = f"a grading process failed: {exc}"
    if not error and proc.poll() not in (None, 0):
        log.seek(0)
        lines = log.read().strip().splitlines()
        error = f"a grading process failed: {lines[-1] if lines else 'no output'}"
    done.put(("exit", error))


def serve() -> None:
    """Entry point of a grading process (see module docstring)."""
    from grader.engine import grade_in_process
    from grader.errors import GraderError as _GraderError

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

    def source():
        for line in sys.stdin:
            spec = json.loads(line)
            yield Submission(spec["id"], Path(spec["path"]))

    def emit(result: SubmissionResult) -> None:
        out.write(json.dumps({"result": submission_to_dict(result)}) + "\n")
        out.flush()

    try:
        grade_in_process(config, source(), emit)
    except _GraderError as exc:
        out.write(json.dumps({"error": str(exc), "exit_code": exc.exit_code}) + "\n")
        out.flush()
