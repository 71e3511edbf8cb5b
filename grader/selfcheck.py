"""``grader.check("losses")``: the public tests on a student's saved work.

The same run as ``grader check`` (the public suites and their rubric, one submission),
from Jupyter or a script: it says which file it checks and when that file was saved (a
notebook is checked as saved, not as shown), then shows a :class:`CheckReport`, as an
HTML table in Jupyter and as the text report elsewhere, and returns it. A failing test
is a row of the table; a folder with no topic file or no public tests is one line of
text. Neither raises.

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
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from grader.errors import GraderError, SubmissionError
from grader.textsafe import terminal
from grader.topics import TOPICS

if TYPE_CHECKING:
    from grader.plugin import RunConfig
    from grader.scoring import SubmissionResult


PUBLIC_NOTE = "public-test points: a self-check; your grade comes from the course's hidden tests"


@dataclass
class CheckReport:
    """What a self-check found: the files checked, the results, or why there are none.

    ``str()`` is the terminal report and ``_repr_html_()`` the Jupyter table, both laid
    out by :mod:`grader.feedback`. :func:`check` shows the report itself (:meth:`show`);
    after that the report's own display in a cell is one line, so a cell ending with
    ``grader.check(...)`` does not show the table twice.
    """

    lines: tuple[str, ...]
    results: tuple[SubmissionResult, ...] = ()
    problem: str = ""
    shown: bool = field(default=False, compare=False)

    @property
    def ok(self) -> bool:
        """Every public test passed (False when nothing could be checked)."""
        return bool(self.results) and not self.problem and all(r.score >= r.max_score for r in self.results)

    def headline(self) -> str:
        if self.problem or not self.results:
            return self.problem or "nothing was checked"
        score = sum(r.score for r in self.results)
        max_score = sum(r.max_score for r in self.results)
        verdict = "all public tests pass" if self.ok else "some public tests fail"
        return f"{_fmt(score)}/{_fmt(max_score)} {PUBLIC_NOTE} ({verdict})"

    def __str__(self) -> str:
        lines = [terminal(line) for line in self.lines]
        if self.problem:
            return "\n".join([*lines, terminal(self.problem)])
        from grader.feedback import render_text  # escapes what it renders

        return "\n".join([*lines, *(render_text(r, title=f" {PUBLIC_NOTE}") for r in self.results)])

    def __repr__(self) -> str:
        if self.shown:
            return f"<self-check: {terminal(self.headline())}; the report is shown above>"
        return str(self)

    def _repr_html_(self) -> str | None:
        if self.shown:
            return None  # IPython falls back on __repr__: one line
        parts = [f"<p>{html.escape(line)}</p>" for line in self.lines]
        if self.problem:
            parts.append(f"<p><b>{html.escape(self.problem)}</b></p>")
            return "\n".join(parts)
        from grader.feedback import render_html

        parts.append(f"<p><b>{html.escape(self.headline())}</b></p>")
        parts += [render_html(r, full=True) for r in self.results]
        return "\n".join(parts)

    def show(self) -> None:
        """Jupyter (any IPython shell): display the table; elsewhere print the text report."""
        shell = _ipython()
        if shell is not None:
            from IPython.display import display

            display(self)
        else:
            print(str(self), flush=True)
        self.shown = True


def _ipython():
    """The running IPython shell, or None (a plain Python process, a script)."""
    module = sys.modules.get("IPython")
    if module is None:
        return None
    try:
        return module.get_ipython()
    except Exception:  # an IPython that cannot say: print instead
        return None


def _fmt(x: float) -> str:
    from grader.feedback import fmt

    return fmt(x)


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


def check(*topics: str, path: str | Path = ".", tests: str | Path | None = None, device: str = "cpu",
          show: bool = True) -> CheckReport:
    """Run the public tests on the saved topic files in ``path`` and show the report.

    ``topics`` defaults to every course topic with a file in ``path``. Says which file it
    checks before grading (grading takes a few seconds), then shows the report
    (:meth:`CheckReport.show`: the HTML table in Jupyter, the text report in a script or
    a terminal) and returns it; ``show=False`` only returns it. Never raises on a failing
    test, except inside nbgrader's ``validate`` or ``autograde`` (``NBGRADER_EXECUTION``
    is set), where a check that does not pass raises AssertionError after showing its
    report, so nbgrader's Validate button and cell score mean "the public tests pass".
    ``GRADER_SELF_CHECK=off`` skips the check.
    """
    if os.environ.get("GRADER_SELF_CHECK", "").lower() == "off":
        return CheckReport((), problem="self-check skipped (GRADER_SELF_CHECK=off)")
    report = run_check(topics, path, tests, device)
    if show:
        report.show()
    if os.environ.get("NBGRADER_EXECUTION") in ("validate", "autograde") and not report.ok:
        raise AssertionError(report.problem or "the public tests do not all pass:\n" + str(report))
    return report


def run_check(topics: tuple[str, ...], path: str | Path, tests: str | Path | None, device: str,
              announce: bool = True) -> CheckReport:
    """The self-check without showing it: the files chosen, their public tests graded."""
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
    if announce:
        names = ", ".join(p.name for p in chosen.values())
        print(terminal(f"running the public tests on {names} ..."), flush=True)
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
