"""``grader.check("losses")``: the public tests on a student's saved work, from Jupyter.

The same run as ``grader check`` (the public suites and their rubric, one submission),
but aimed at a notebook: it first says which file it checks and when that file was
saved (a notebook is checked as saved, not as shown), and it returns a
:class:`CheckReport` that Jupyter renders as an HTML table and a terminal prints as the
text report. A failing test is a row of the table; a folder with no topic file or no
public tests is one line of text. Neither raises.

Where a folder holds both ``<topic>.py`` and ``<topic>.ipynb``, the one grading would
take is checked, alone; the line before grading names it.

The text report is escaped for the terminal (:func:`grader.textsafe.terminal`) and the
HTML one with :func:`html.escape`: a message from the student's code shows as text in
both, never as a control sequence or markup.
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from grader.errors import GraderError, SubmissionError
from grader.textsafe import terminal
from grader.topics import TOPICS

if TYPE_CHECKING:
    from grader.plugin import RunConfig
    from grader.scoring import SubmissionResult


@dataclass(frozen=True)
class CheckReport:
    """What a self-check found: the files checked, the results, or why there are none."""

    lines: tuple[str, ...]
    results: tuple[SubmissionResult, ...] = ()
    problem: str = ""

    @property
    def ok(self) -> bool:
        """Every public test passed (False when nothing could be checked)."""
        return bool(self.results) and not self.problem and all(r.score >= r.max_score for r in self.results)

    def __str__(self) -> str:
        lines = [terminal(line) for line in self.lines]
        if self.problem:
            return "\n".join([*lines, terminal(self.problem)])
        from grader.reports import render_details  # escapes what it renders

        return "\n".join([*lines, *(render_details(r) for r in self.results)])

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        parts = [f"<p>{html.escape(line)}</p>" for line in self.lines]
        if self.problem:
            parts.append(f"<p><b>{html.escape(self.problem)}</b></p>")
            return "\n".join(parts)
        for r in self.results:
            parts.append(_html_table(r))
        return "\n".join(parts)


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def _html_table(result: SubmissionResult) -> str:
    """One row per test (its cases summed): points earned/possible and what went wrong."""
    rows = [
        "<table>",
        "<thead><tr><th style='text-align:left'>test</th><th>points</th>"
        "<th style='text-align:left'>message</th></tr></thead>",
        "<tbody>",
    ]
    for topic in result.topics.values():
        rows.append(
            f"<tr><th style='text-align:left'>{html.escape(topic.name)}</th>"
            f"<th>{_fmt(topic.score)}/{_fmt(topic.max_score)}</th><th></th></tr>"
        )
        if topic.status == "missing":
            rows.append(
                f"<tr><td></td><td></td><td>{html.escape(f'{topic.name}.py or {topic.name}.ipynb not found')}</td></tr>"
            )
            continue
        groups: dict[str, list] = defaultdict(list)
        for t in topic.tests:
            groups[t.id.split("[", 1)[0]].append(t)
        for group, cases in groups.items():
            bad = [c for c in cases if c.status != "passed"]
            earned = sum(c.score for c in cases)
            possible = sum(c.max_score for c in cases)
            if bad:
                first = bad[0]
                message = first.message
                if first.hint:
                    message += f" (likely mistake: {first.hint})"
                if len(cases) > 1:
                    message = f"{len(bad)} of {len(cases)} cases fail; first: {message}"
                mark = "&#10007;"
            else:
                message, mark = "passed", "&#10003;"
            rows.append(
                f"<tr><td style='text-align:left'>{mark} {html.escape(group.split('::', 1)[-1])}</td>"
                f"<td>{_fmt(earned)}/{_fmt(possible)}</td>"
                f"<td style='text-align:left'>{html.escape(message)}</td></tr>"
            )
    for flag in result.flags:
        rows.append(f"<tr><td colspan='3' style='text-align:left'>flag: {html.escape(flag)}</td></tr>")
    rows += ["</tbody>", "</table>"]
    return "\n".join(rows)


def _saved(path: Path, now: float) -> str:
    mtime = path.stat().st_mtime
    ago = max(0, int(now - mtime))
    if ago < 60:
        age = f"{ago} s ago"
    elif ago < 3600:
        age = f"{ago // 60} min ago"
    elif ago < 86400:
        age = f"{ago // 3600} h {ago % 3600 // 60} min ago"
    else:
        age = f"{ago // 86400} days ago"
    return f"saved {datetime.fromtimestamp(mtime).strftime('%Y-%m-%d %H:%M:%S')}, {age}"


def choose_files(folder: Path, topics: tuple[str, ...]) -> tuple[dict[str, Path], list[str]]:
    """The file to check per topic, chosen as grading chooses it, and notes.

    With both ``<topic>.py`` and ``<topic>.ipynb`` present, grading takes the one with
    fewer functions left raising NotImplementedError (the ``.py`` on a tie), so the
    self-check predicts the grade of the file that will be graded.
    """
    from grader.submission import load_topic_source

    chosen: dict[str, Path] = {}
    notes: list[str] = []
    for topic in topics:
        found = [p for p in (folder / f"{topic}.py", folder / f"{topic}.ipynb") if p.is_file()]
        if not found:
            continue
        try:
            loaded = load_topic_source(folder, topic)
        except SubmissionError:
            loaded = None
        pick = folder / f"{topic}.{loaded[1]}" if loaded else found[0]
        chosen[topic] = pick
        if len(found) == 2:
            notes.append(
                f"both {topic}.py and {topic}.ipynb are here: checking {pick.name}, the one grading takes "
                f"(fewer functions left to write; the .py on a tie)"
            )
    return chosen, notes


def check(*topics: str, path: str | Path = ".", tests: str | Path | None = None, device: str = "cpu") -> CheckReport:
    """Run the public tests on the saved topic files in ``path``; never raises on a failing test.

    ``topics`` defaults to every course topic with a file in ``path``. Says which file it
    checks and when it was saved before grading (grading takes a few seconds).

    Inside nbgrader's ``validate`` or ``autograde`` (``NBGRADER_EXECUTION`` is set) a
    check that does not pass raises AssertionError, so nbgrader's Validate button and
    cell score mean "the public tests pass". ``GRADER_SELF_CHECK=off`` skips the check.
    """
    if os.environ.get("GRADER_SELF_CHECK", "").lower() == "off":
        return CheckReport((), problem="self-check skipped (GRADER_SELF_CHECK=off)")
    report = _check(topics, path, tests, device)
    if os.environ.get("NBGRADER_EXECUTION") in ("validate", "autograde") and not report.ok:
        raise AssertionError(report.problem or "the public tests do not all pass:\n" + str(report))
    return report


def _check(topics: tuple[str, ...], path: str | Path, tests: str | Path | None, device: str) -> CheckReport:
    folder = Path(path)
    unknown = [t for t in topics if t not in TOPICS]
    if unknown:
        return CheckReport((), problem=f"unknown topic {unknown[0]!r}; the topics are {', '.join(TOPICS)}")
    if not folder.is_dir():
        return CheckReport((), problem=f"{folder}: no such folder")
    wanted = tuple(topics) or tuple(TOPICS)
    chosen, notes = choose_files(folder, wanted)
    if not chosen:
        names = " or ".join(f"{t}.py / {t}.ipynb" for t in wanted[:2]) + (" ..." if len(wanted) > 2 else "")
        return CheckReport((), problem=f"nothing to check: no {names} in {folder.resolve()}")
    from grader.course import find_public_tests, public_config

    try:
        tests_dir = find_public_tests(folder.resolve(), str(tests) if tests is not None else None)
        config = public_config(tests_dir, tuple(topics) or tuple(chosen), device)
    except GraderError as exc:  # in a notebook the option is the keyword argument
        return CheckReport((), problem=str(exc).replace("pass --tests DIR", 'pass tests="FOLDER"'))
    now = time.time()
    lines = tuple(f"checking {p.name} ({_saved(p, now)})" for p in chosen.values()) + tuple(notes)
    print("\n".join(terminal(line) for line in lines) + "\nrunning the public tests ...", flush=True)
    return CheckReport(lines, *_grade(config, folder, chosen))


def _grade(config: RunConfig, folder: Path, chosen: dict[str, Path]) -> tuple[tuple[SubmissionResult, ...], str]:
    """Grade copies of the chosen files (so the notebook is graded, not a stub beside it)."""
    from grader.engine import grade
    from grader.submission import Submission

    with tempfile.TemporaryDirectory(prefix="grader-check-") as tmp:
        work = Path(tmp) / (folder.resolve().name or "submission")
        work.mkdir()
        try:
            for source in chosen.values():
                shutil.copyfile(source, work / source.name)
        except OSError as exc:
            return (), f"cannot read {exc.filename}: {exc.strerror}"
        import torch

        threads = torch.get_num_threads()  # grading pins this process to one thread
        try:
            results = grade(config, [Submission(work.name, work)])
        except (GraderError, SubmissionError) as exc:
            return (), str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        finally:
            torch.set_num_threads(threads)  # the student's own training in this kernel keeps its threads
    return tuple(results), ""
