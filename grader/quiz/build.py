"""Build time: run code_output snippets in a child Python and capture what they print.

Snippets are the instructor's code (trusted, unlike student input), but they still run in
a separate process with a time limit, in the course environment (the interpreter running
the grader, with torch and numpy). Each snippet gets a fresh namespace and seeds 0 for
``random``, numpy and torch. Outputs are cached on disk by the SHA-256 of the snippet and
the versions of Python, numpy and torch, so a rebuild only runs what changed.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

from grader.errors import GraderError
from grader.quiz.model import Question, Quiz
from grader.quiz.params import draw, format_value
from grader.quiz.schema import PLACEHOLDER

_CHILD = r"""
import contextlib, io, json, random, signal, sys, traceback
jobs = json.load(sys.stdin)
def alarm(signum, frame):
    raise TimeoutError("snippet ran past its time limit")
signal.signal(signal.SIGALRM, alarm)
results = []
for job in jobs:
    random.seed(0)
    try:
        import numpy; numpy.random.seed(0)
    except ImportError:
        pass
    if "torch" in job["code"]:
        import torch; torch.manual_seed(0)
    buffer = io.StringIO()
    signal.setitimer(signal.ITIMER_REAL, job["timeout"])
    try:
        with contextlib.redirect_stdout(buffer):
            exec(compile(job["code"], "<" + job["label"] + ">", "exec"), {"__name__": "__main__"})
        results.append({"ok": True, "out": buffer.getvalue()})
    except BaseException as exc:
        line = traceback.format_exception_only(type(exc), exc)[-1].strip()
        results.append({"ok": False, "out": buffer.getvalue(), "error": line})
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
sys.__stdout__.write(json.dumps(results))
"""


class BuildError(GraderError):
    """A code_output snippet failed or timed out; the message names the question."""


@dataclass(frozen=True)
class Snippet:
    label: str
    code: str
    timeout_s: float


def substitute(text: str, params: Mapping[str, Any]) -> str:
    """Replace every ``{{name}}`` in ``text`` with the formatted parameter value."""
    return PLACEHOLDER.sub(lambda m: format_value(params[m.group(1)]), text)


def _fingerprint() -> str:
    parts = [platform.python_version()]
    for dist in ("numpy", "torch"):
        try:
            parts.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist}=none")
    return ";".join(parts)


def _cache_file(cache_dir: Path, code: str) -> Path:
    digest = hashlib.sha256(f"{_fingerprint()}\x1f{code}".encode("utf-8")).hexdigest()
    return cache_dir / f"{digest}.json"


def run_snippets(snippets: Iterable[Snippet], cache_dir: Path | None = None) -> dict[str, str]:
    """Printed output of every snippet, keyed by its code; cached snippets are not rerun."""
    outputs: dict[str, str] = {}
    todo: dict[str, Snippet] = {}
    for snip in snippets:
        if snip.code in outputs or snip.code in todo:
            continue
        cached = _cache_file(cache_dir, snip.code) if cache_dir else None
        if cached is not None and cached.is_file():
            outputs[snip.code] = json.loads(cached.read_text(encoding="utf-8"))["out"]
        else:
            todo[snip.code] = snip
    if not todo:
        return outputs
    jobs = [{"label": s.label, "code": s.code, "timeout": s.timeout_s} for s in todo.values()]
    limit = 60 + sum(s.timeout_s for s in todo.values())
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD], input=json.dumps(jobs), capture_output=True,
                              text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        raise BuildError(f"building code_output questions took more than {limit:.0f} s") from None
    try:
        results = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise BuildError(f"code_output build process failed: {tail[0]}") from None
    for snip, result in zip(todo.values(), results):
        if not result["ok"]:
            raise BuildError(f"{snip.label}: code failed: {result['error']}")
        outputs[snip.code] = result["out"]
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            _cache_file(cache_dir, snip.code).write_text(json.dumps({"out": result["out"]}), encoding="utf-8")
    return outputs


def snippet(quiz: Quiz, question: Question, params: Mapping[str, Any]) -> Snippet:
    """The snippet of one code_output question with ``params`` substituted."""
    return Snippet(f"{quiz.path}: question '{question.id}'", substitute(question.code or "", params),
                   question.timeout_s)


def quiz_snippets(quiz: Quiz, students: Iterable[str], salt: str) -> list[Snippet]:
    """The snippets these students' variants need: a question without parameters is one
    snippet whoever the student, a parameterized one a snippet per distinct code."""
    students = list(students)
    snippets: list[Snippet] = []
    for q in quiz.questions:
        if q.type != "code_output":
            continue
        for student in students if q.params else [""]:
            snippets.append(snippet(quiz, q, draw(q.params, salt, quiz.id, q.id, student)))
    return snippets


def build(quiz: Quiz, students: Iterable[str], salt: str, cache_dir: Path | None = None) -> dict[str, str]:
    """Run (or fetch from the cache) every code_output snippet these students need."""
    return run_snippets(quiz_snippets(quiz, students, salt), cache_dir)


def build_many(quizzes: Iterable[Quiz], students: Iterable[str], salt: str | None = None,
               cache_dir: Path | None = None) -> dict[str, str]:
    """:func:`build` for several quizzes in one child process (each with its own salt
    unless ``salt`` is given)."""
    students = list(students)
    snippets = [s for quiz in quizzes for s in quiz_snippets(quiz, students, quiz.salt(salt))]
    return run_snippets(snippets, cache_dir)
