"""The adversarial corpus (tests/adversarial/): hostile submissions, graded in one batch
with two honest controls, earn exactly their honest parts, leak nothing and leave the
grader standing.

Each case's expectations live in ``tests/adversarial/cases.yaml``. The expectations are
strict: a case that only OS isolation (mount, PID or network namespaces, a dedicated
uid, seccomp) can stop fails here until that isolation exists.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import py_compile
import secrets
import shutil
import socket
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
import yaml

from grader.course import Course
from grader.engine import grade
from grader.plugin import RunConfig
from grader.scoring import SubmissionResult
from grader.submission import Submission

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parent / "adversarial"
MANIFEST = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))
CASES = {case["name"]: case for case in MANIFEST["cases"]}
HONEST = {case["name"]: case for case in MANIFEST["honest"]}
GROUPS = ("cross_entropy", "mse_loss", "bad_reduction", "inputs_unchanged")
DEFAULT_POINTS = {"cross_entropy": 4.0, "mse_loss": 0.0, "bad_reduction": 0.0, "inputs_unchanged": 0.0}

# Tighter than the minicourse's 3 s per call so the hanging cases cost less; an honest
# call takes milliseconds.
LIMITS = {"call_timeout": 1, "cpu_seconds": 20, "wall_seconds": 30}
# Measured 45 s for the whole batch on 2 cores (strict sandbox, 56 submissions); about twice that.
BATCH_BUDGET_S = 90.0
# Late writers (fork children, daemons) wait 2-3 s before writing their markers.
LATE_WRITER_WAIT_S = 4.0
SECRET_VAR = "GRADER_ADV_SECRET"


class Listener:
    """A TCP and a UDP socket on one loopback port, recording whatever arrives."""

    def __init__(self) -> None:
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.tcp.settimeout(0.2)
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.udp.settimeout(0.2)
        self.heard: list[bytes] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._accept, self._receive)]
        for thread in self._threads:
            thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(0.5)
                try:
                    self.heard.append(b"tcp:" + conn.recv(4096))
                except OSError:
                    self.heard.append(b"tcp:")

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                self.heard.append(b"udp:" + self.udp.recv(4096))
            except OSError:
                continue

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.tcp.close()
        self.udp.close()


def _render(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    return text


def render_case(case: dict, dest: Path, values: dict[str, str]) -> None:
    """Copy a case folder to ``dest`` with placeholders filled, then make its generated files."""
    source = CORPUS / case["name"]
    dest.mkdir(parents=True)
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_dir() or "__pycache__" in rel.parts or rel.name == "NOTE.md":
            continue
        name = rel.name[: -len(".inert")] if rel.name.endswith(".inert") else rel.name
        target = dest / rel.parent / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_render(path.read_text(encoding="utf-8"), values), encoding="utf-8")
    generate = case.get("generate") or {}
    for name, origin in (generate.get("copies") or {}).items():
        (dest / name).write_bytes(Path(_render(origin, values)).read_bytes())
    for name, target in (generate.get("symlinks") or {}).items():
        os.symlink(_render(target, values), dest / name)
    for name, members in (generate.get("zip") or {}).items():
        with zipfile.ZipFile(dest / name, "w") as archive:
            for member, content in members.items():
                content = _render(content, values)
                data = Path(content[5:]).read_bytes() if content.startswith("file:") else content.encode()
                archive.writestr(zipfile.ZipInfo(_render(member, values)), data)
    for name, spec in (generate.get("magic_notebook") or {}).items():
        code = (dest / spec["code"]).read_text(encoding="utf-8")
        magics = "".join("%time pass\n" if i % 2 else "!echo magic\n" for i in range(int(spec["magics"])))
        notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
            {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": magics},
            {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": code},
        ]}
        (dest / name).write_text(json.dumps(notebook), encoding="utf-8")
    for module, origin in (generate.get("pyc") or {}).items():
        cfile = dest / "__pycache__" / f"{module}.{sys.implementation.cache_tag}.pyc"
        py_compile.compile(
            _render(origin, values), cfile=str(cfile), doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )


def group_points(result: SubmissionResult, group: str) -> float:
    return sum(t.score for t in result.topics["losses"].tests if t.id.startswith(f"losses::{group}"))


def expected_points(entry: dict) -> dict[str, float]:
    return {**DEFAULT_POINTS, **{k: float(v) for k, v in (entry.get("points") or {}).items()}}


def messages(result: SubmissionResult) -> str:
    return " | ".join(t.message for t in result.topics["losses"].tests)


@dataclass
class Batch:
    results: dict[str, SubmissionResult]
    order: list[str]
    alone: dict[str, SubmissionResult]
    seconds: float
    leaks: dict[str, list[str]]
    heard: list[bytes]


def _remove(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


@contextlib.contextmanager
def graded_corpus(
    root: Path, course: Course, adjust: Callable[[RunConfig], RunConfig] | None = None
) -> Iterator[Batch]:
    """Render the corpus under ``root``, grade it in one batch, then look for leaks.

    ``adjust`` may change the run configuration (a script checking that the cases bite
    turns sandbox layers off with it). Markers are removed when the context ends,
    whatever happened.
    """
    marker_dir = root / "markers"
    marker_dir.mkdir()
    token = secrets.token_hex(6)
    rubric = yaml.safe_load(course.rubric_path.read_text(encoding="utf-8"))
    rubric["limits"] = dict(LIMITS)
    rubric_path = root / "rubric.yaml"
    rubric_path.write_text(yaml.safe_dump(rubric), encoding="utf-8")
    config = course.hidden(device="cpu", rubric=rubric_path)
    if adjust is not None:
        config = adjust(config)
    listener = Listener()
    markers: dict[str, list[str]] = {}
    old_secret = os.environ.get(SECRET_VAR)
    try:
        subs: dict[str, Submission] = {}
        for entry in [*MANIFEST["cases"], *MANIFEST["honest"]]:
            folder = root / "submissions" / entry["name"]
            values = {
                "MARKERS": str(marker_dir),
                "TOKEN": token,
                "SUBMISSION": str(folder),
                "REFERENCE": str((course.reference_dir).resolve()),
                "HOME": str(Path.home()),
                "PORT": str(listener.port),
                "GRADER_UID": str(os.getuid()),
                "CASE": entry["name"],
            }
            render_case(entry, folder, values)
            subs[entry["name"]] = Submission(entry["name"], folder)
            markers[entry["name"]] = [_render(m, values) for m in entry.get("markers") or [] if m != "listener"]
        # Honest controls go in the middle and last, where anything a hostile case left
        # behind (a dead fork server, a poisoned /tmp, a stray process) would hit them.
        names = list(CASES)
        order = names[: len(names) // 2] + ["honest_wrong_mse"] + names[len(names) // 2 :] + ["honest_full"]
        os.environ[SECRET_VAR] = f"do-not-leak-{token}"
        t0 = time.monotonic()
        results = grade(config, [subs[n] for n in order], jobs=2)
        seconds = time.monotonic() - t0
        os.environ.pop(SECRET_VAR, None)
        waited_from = time.monotonic()
        alone = {r.id: r for r in grade(config, [subs["honest_full"], subs["honest_wrong_mse"]])}
        time.sleep(max(0.0, LATE_WRITER_WAIT_S - (time.monotonic() - waited_from)))
        leaks = {name: [p for p in paths if os.path.lexists(p)] for name, paths in markers.items()}
        leaks["(marker folder)"] = sorted(os.listdir(marker_dir))
        yield Batch({r.id: r for r in results}, order, alone, seconds, leaks, list(listener.heard))
    finally:
        if old_secret is None:
            os.environ.pop(SECRET_VAR, None)
        else:
            os.environ[SECRET_VAR] = old_secret
        listener.close()
        for paths in markers.values():
            for path in paths:
                _remove(path)
        shutil.rmtree(marker_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def batch(tmp_path_factory, minicourse):
    with graded_corpus(tmp_path_factory.mktemp("adversarial"), minicourse) as graded:
        yield graded


def test_corpus_is_large_and_well_formed():
    assert len(CASES) >= 34
    for name, entry in {**CASES, **HONEST}.items():
        assert (CORPUS / name).is_dir(), f"{name}: no folder"
        assert entry.get("attacks"), f"{name}: say what it attacks"
        assert set(entry.get("points") or {}) <= set(GROUPS), f"{name}: unknown rubric group"
    assert sorted(CASES) == sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and p.name not in HONEST)


def test_grader_survives_with_one_result_per_submission(batch):
    assert sorted(batch.results) == sorted(batch.order)
    assert len(batch.results) == len(CASES) + len(HONEST)
    for result in batch.results.values():
        assert result.max_score == 10.0
    os.kill(os.getpid(), 0)  # this process, which ran the grader, is still here


def test_batch_within_budget(batch):
    assert batch.seconds < BATCH_BUDGET_S, f"the batch took {batch.seconds:.1f} s"


@pytest.mark.parametrize("name", sorted(HONEST))
def test_honest_scores_as_if_alone(batch, name):
    result, alone = batch.results[name], batch.alone[name]
    assert [(t.id, t.score, t.status) for t in result.topics["losses"].tests] == [
        (t.id, t.score, t.status) for t in alone.topics["losses"].tests
    ]
    got = {g: group_points(result, g) for g in GROUPS}
    assert got == pytest.approx(expected_points(HONEST[name]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_earns_only_its_honest_parts(batch, name):
    result = batch.results[name]
    expected = expected_points(CASES[name])
    got = {g: group_points(result, g) for g in GROUPS}
    assert got == pytest.approx(expected), messages(result)[:1500]
    penalty = float(CASES[name].get("penalty", 0))
    assert result.score == pytest.approx(sum(expected.values()) - penalty), (result.score, result.flags)
    fragment = CASES[name].get("message")
    if fragment:
        assert re.search(fragment, messages(result)), messages(result)[:1500]
    if CASES[name].get("flag"):
        assert any(re.search(CASES[name]["flag"], f) for f in result.flags), result.flags
    if CASES[name].get("no_flag"):
        assert not any(re.search(CASES[name]["no_flag"], f) for f in result.flags), result.flags


@pytest.mark.parametrize("name", sorted(CASES))
def test_nothing_leaks(batch, name):
    assert batch.leaks[name] == []
    if "listener" in (CASES[name].get("markers") or []):
        assert batch.heard == []


def test_marker_folder_stays_empty(batch):
    # any case may have written here; the per-case test names which did
    assert batch.leaks["(marker folder)"] == []


# Control characters a terminal would act on: C0 but the line breaks the reports make,
# DEL, C1, and the bidi overrides. The student's text must reach every output escaped.
_RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_student_text_reaches_every_output_escaped(batch, tmp_path):
    from grader.reports import csv_text, gradescope_document, render_details, render_table

    results = [batch.results[n] for n in batch.order]
    texts = {"table": render_table(results), "csv": csv_text(results).replace("\r\n", "\n")}  # CSV's own line ends
    texts.update({f"details {r.id}": render_details(r) for r in results})
    texts.update({f"gradescope {r.id}": json.dumps(gradescope_document(r), ensure_ascii=False) for r in results})
    for where, text in texts.items():
        assert not _RAW.search(text), f"{where}: {_RAW.search(text).group()!r} reached the output"
    details = render_details(batch.results["terminal_escapes"])
    assert "\\x1b[2J" in details and "ALL TESTS PASSED" in details
    forged = [line for line in details.splitlines() if "10/10    10/10" in line]
    assert forged and all("PASSED" in line for line in forged)  # the forged row stays inside the message
