"""Feedback a student reads to the end: one summary, then the failures that matter.

Every place a student or an instructor reads a submission's outcome (``grader grade
--details``, ``grader check``, ``grader.check`` in Jupyter, the nbgrader feedback page,
Gradescope's output and the ``--feedback DIR`` pages) is rendered from the same
:class:`TopicSummary` objects, built here from a :class:`~grader.scoring.SubmissionResult`
by :func:`summarize`. The model decides what is shown; the renderers only lay it out:

- **a summary first**: per topic its score and each test (a rubric entry) with ✓ or ✗
  and its points; a topic that passes everything is one line;
- **functions not started** (a case fails only because a function still raises
  ``NotImplementedError``) collapse into one line per topic naming those functions,
  instead of a row per case;
- **a file-level problem** (a missing file, a syntax error, an unreadable notebook, a
  file over the size cap: every case of the topic fails with the same message) is
  reported once per topic;
- **a failing test** shows its first few failing cases, then "and N more like it".

Three renderers: :func:`render_text` (terminal and Gradescope; every student-controlled
string through :func:`grader.textsafe.terminal`), :func:`render_markdown` (for an LMS or
e-mail; student text in code spans, escaped) and :func:`render_html` (a fragment,
escaped with :func:`html.escape`; :func:`html_page` wraps it in an offline page with the
capstone's learning curves as inline SVG).
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

from grader.scoring import SubmissionResult, TestResult, TopicResult
from grader.textsafe import terminal

PASS, FAIL = "\u2713", "\u2717"  # ✓ ✗
CASES_SHOWN = 3  # failing cases listed per test before "and N more like it"
_EPS = 1e-9


@dataclass(frozen=True)
class TestSummary:
    """One test (a rubric entry) of a topic: its points and the cases worth reading."""

    name: str
    score: float
    max_score: float
    cases: int
    failing: tuple[TestResult, ...]  # cases that lost points for a reason other than a stub
    stubbed: int  # cases that lost points only because a function is not started
    noted: tuple[TestResult, ...]  # passing cases that carry notes (feedback without points)

    @property
    def passed(self) -> bool:
        return not self.failing and not self.stubbed and self.score >= self.max_score - _EPS


@dataclass(frozen=True)
class TopicSummary:
    """A topic as a student should read it."""

    name: str
    score: float
    max_score: float
    status: str
    problem: str  # one file-level problem for the whole topic, "" when there is none
    not_started: tuple[str, ...]  # functions still raising NotImplementedError, in order
    not_started_points: float  # the points of the tests that only stubs failed
    tests: tuple[TestSummary, ...]  # every other test, in the suite's order

    @property
    def all_passed(self) -> bool:
        return not self.problem and not self.not_started and all(t.passed for t in self.tests)

    @property
    def failing(self) -> tuple[TestSummary, ...]:
        return tuple(t for t in self.tests if t.failing)


# -- the model ----------------------------------------------------------------------------
_STUB = "raised NotImplementedError"
_STUB_TEXT = re.compile(r"NotImplementedError: ([A-Za-z_]\w*)\.([A-Za-z_][\w.]*): not implemented yet")


def is_stub(case: TestResult) -> bool:
    """The case lost its points because the function it calls is still the stub."""
    return case.status != "passed" and _STUB in case.message


def stub_function(message: str, topic: str) -> str:
    """The function a stub failure names: the stub's own text (``optimizers.SGD.step``)
    where it is there, else the function the test called (``SGD``)."""
    found = _STUB_TEXT.search(message)
    if found:
        module, name = found.groups()
        return name if module == topic else f"{module}.{name}"
    head = message.split(f" {_STUB}", 1)[0].rsplit(": ", 1)[-1]
    head = re.sub(r"\s*\(via [^)]*\)$", "", head)
    head = re.sub(r"\(.*\)$", "", head).strip()
    return head[:60] or "a function"


def group_of(test_id: str) -> str:
    """``losses::mse_loss[...]`` -> ``losses::mse_loss``."""
    return test_id.split("[", 1)[0]


def test_name(test_id: str) -> str:
    """``losses::mse_loss[...]`` -> ``mse_loss``."""
    return group_of(test_id).split("::", 1)[-1]


def case_label(test_id: str) -> str:
    """A case as the report names it under its test: its parameters (``[randn-mean-cpu]``),
    or the test's name when it has none."""
    head, sep, params = test_id.partition("[")
    return f"[{params}" if sep else head.split("::", 1)[-1]


def _file_problem(topic: TopicResult) -> str:
    if topic.status == "missing":
        return f"{topic.name}.py or {topic.name}.ipynb was not found in the submission"
    if topic.status != "error" or not topic.tests:
        return ""
    graded = [t for t in topic.tests if t.max_score > 0 or t.status != "passed"]
    messages = {t.message for t in graded}
    if len(messages) == 1 and all(t.status != "passed" for t in graded) and len(graded) > 1:
        return next(iter(messages))
    return ""


def summarize_topic(topic: TopicResult) -> TopicSummary:
    problem = _file_problem(topic)
    if problem:
        return TopicSummary(topic.name, topic.score, topic.max_score, topic.status, problem, (), 0.0, ())
    groups: dict[str, list[TestResult]] = defaultdict(list)
    for t in topic.tests:
        groups[group_of(t.id)].append(t)
    names: dict[str, None] = {}
    stub_points = 0.0
    tests = []
    for group, cases in groups.items():
        stubs = [c for c in cases if is_stub(c)]
        for c in stubs:
            names.setdefault(stub_function(c.message, topic.name), None)
        score = sum(c.score for c in cases)
        possible = sum(c.max_score for c in cases)
        if stubs and len(stubs) == len(cases):
            stub_points += possible
            continue
        failing = tuple(c for c in cases if c.status != "passed" and not is_stub(c))
        noted = tuple(c for c in cases if c.status == "passed" and c.notes)
        tests.append(TestSummary(test_name(group), score, possible, len(cases), failing, len(stubs), noted))
    listed = tuple(n for n in names if not any(other.startswith(f"{n}.") for other in names))
    return TopicSummary(topic.name, topic.score, topic.max_score, topic.status, "", listed, stub_points,
                        tuple(tests))


def summarize(result: SubmissionResult) -> list[TopicSummary]:
    return [summarize_topic(t) for t in result.topics.values()]


def fmt(x: float) -> str:
    """Points as people write them: 5, 2.5, 83.05."""
    x = round(x + 0.0, 9)
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def points(score: float, max_score: float) -> str:
    return f"{fmt(score)}/{fmt(max_score)}"


def mark(test: TestSummary) -> str:
    return PASS if test.passed else FAIL


def topic_headline(s: TopicSummary) -> str:
    """The one line a topic gets when nothing in it needs a list (no student text)."""
    if s.status == "missing":
        return "missing"
    if s.all_passed:
        return f"{PASS} its one test passes" if len(s.tests) == 1 else f"{PASS} all {len(s.tests)} tests pass"
    if not s.tests and s.not_started and not s.problem:
        return "not started"
    return ""


def other_tests(n: int) -> str:
    return f"{n} other test passes" if n == 1 else f"{n} other tests pass"


def not_started_line(s: TopicSummary) -> str:
    """``not started (0/45): SGD.step, Adagrad.step`` (student text: escape it for its target)."""
    return f"not started ({points(0, s.not_started_points)}): {', '.join(s.not_started)}"


def _capstone(result: SubmissionResult) -> TestResult | None:
    for topic in result.topics.values():
        for t in topic.tests:
            if t.curves.get("reference_train_loss"):
                return t
    return None


# -- text ---------------------------------------------------------------------------------
def _packed(cells: list[str], indent: str, width: int = 100) -> list[str]:
    """Cells joined with two spaces into lines of at most ``width`` characters."""
    lines: list[str] = []
    line = ""
    for cell in cells:
        if line and len(indent) + len(line) + 2 + len(cell) > width:
            lines.append(indent + line)
            line = cell
        else:
            line = f"{line}  {cell}" if line else cell
    if line:
        lines.append(indent + line)
    return lines


def case_text(t: TestResult, indent: str = "    ", hint: bool = True) -> list[str]:
    """A case, its points and message, then its hint (unless ``hint`` is False: the case
    before said the same) and notes on lines of their own; whatever the test or the
    student's code wrote is escaped, so it stays on its line."""
    label = {"partial": "PART", "failed": "FAIL", "error": "ERR ", "timeout": "TIME", "missing": "MISS"}.get(
        t.status, "PASS"
    )
    line = f"{indent}{label} {terminal(case_label(t.id))} ({points(t.score, t.max_score)})"
    if t.message:
        line += f": {terminal(t.message)}"
    out = [line]
    if t.hint and hint:
        out.append(f"{indent}     likely mistake: {terminal(t.hint)}")
    for note in t.notes:
        out.append(f"{indent}     note: {terminal(note)}")
    return out


def test_details_text(test: TestSummary, per_test: int = CASES_SHOWN, indent: str = "    ") -> list[str]:
    """A test's failing cases (the first ``per_test``), the rest counted, and noted cases."""
    out: list[str] = []
    previous = None
    for c in test.failing[:per_test]:
        out += case_text(c, indent, hint=c.hint != previous)
        previous = c.hint
    if len(test.failing) > per_test:
        out.append(f"{indent}... and {len(test.failing) - per_test} more like it")
    if test.stubbed:
        out.append(f"{indent}({test.stubbed} more cases wait for functions not started yet)")
    for c in test.noted[:per_test]:
        out += case_text(c, indent)
    return out


def summary_text(summaries: list[TopicSummary], full: bool | None = None) -> list[str]:
    """A line per topic, then its tests: every test with its mark and points when
    ``full`` (default: when there is one topic), else the ones that lost points and a
    count of the rest, so ten topics fit a screen."""
    full = len(summaries) == 1 if full is None else full
    width = max((len(s.name) for s in summaries), default=0)
    out = []
    for s in summaries:
        head = f"  {s.name.ljust(width)}  {points(s.score, s.max_score):>9}"
        line = topic_headline(s)
        if s.problem:
            out.append(f"{head}  {FAIL} {terminal(s.problem)}")
            continue
        if line and not s.not_started:
            out.append(f"{head}  {line}")
            continue
        if line == "not started":
            out.append(f"{head}  {terminal(not_started_line(s))}")
            continue
        out.append(head)
        shown = s.tests if full else [t for t in s.tests if not t.passed]
        cells = [f"{mark(t)} {terminal(t.name)} {points(t.score, t.max_score)}" for t in shown]
        passing = sum(1 for t in s.tests if t.passed)
        if not full and passing:
            cells.append(f"{PASS} {other_tests(passing)}")
        out += _packed(cells, "      ")
        if s.not_started:
            out.append(f"      {terminal(not_started_line(s))}")
    return out


def render_text(result: SubmissionResult, per_test: int = CASES_SHOWN, title: str = "") -> str:
    """The whole report for a terminal: summary, then the failing tests' cases, then flags."""
    summaries = summarize(result)
    out = [f"{terminal(result.id)}: {points(result.score, result.max_score)}{title}", *summary_text(summaries)]
    detailed = [s for s in summaries if s.failing or any(t.noted for t in s.tests)]
    for s in detailed:
        out.append(f"\n{s.name}")
        for test in s.tests:
            body = test_details_text(test, per_test)
            if test.failing or test.noted:
                out.append(f"  {mark(test)} {terminal(test.name)} ({points(test.score, test.max_score)})"
                           + (f": {len(test.failing)} of {test.cases} cases fail" if test.cases > 1 and test.failing
                              else ""))
                out += body
    for flag in result.flags:
        out.append(f"\nflag: {terminal(flag)}")
    return "\n".join(out)


# -- markdown -----------------------------------------------------------------------------
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")


def md(text: str) -> str:
    """Student text as literal Markdown text: one line, no markup, no HTML."""
    return _MD_SPECIAL.sub(r"\\\1", terminal(text)).replace("&", "&amp;")


def render_markdown(result: SubmissionResult, per_test: int = CASES_SHOWN) -> str:
    summaries = summarize(result)
    out = [f"# Feedback for {md(result.id)}: {points(result.score, result.max_score)}", "", "## Summary", "",
           "| topic | points | tests |", "|---|---:|---|"]
    for s in summaries:
        if s.problem:
            cell = f"{FAIL} {md(s.problem)}"
        elif topic_headline(s) and not s.not_started:
            cell = topic_headline(s)
        else:
            cells = [f"{mark(t)} {md(t.name)} {points(t.score, t.max_score)}" for t in s.tests if not t.passed]
            passing = sum(1 for t in s.tests if t.passed)
            if passing:
                cells.append(f"{PASS} {other_tests(passing)}")
            if s.not_started:
                cells.append(md(not_started_line(s)))
            cell = " · ".join(cells)
        out.append(f"| {s.name} | {points(s.score, s.max_score)} | {cell} |")
    for flag in result.flags:
        out += ["", f"**Flag:** {md(flag)}"]
    for s in summaries:
        shown = [t for t in s.tests if t.failing or t.noted]
        if not shown:
            continue
        out += ["", f"## {s.name}"]
        for test in shown:
            out += ["", f"### {mark(test)} {md(test.name)} ({points(test.score, test.max_score)})", ""]
            previous = None
            for c in test.failing[:per_test] + test.noted[:per_test]:
                out.append(f"- **{md(case_label(c.id))}** ({points(c.score, c.max_score)}): {md(c.message)}")
                if c.hint and c.hint != previous:
                    out.append(f"  - likely mistake: {md(c.hint)}")
                previous = c.hint
                for note in c.notes:
                    out.append(f"  - note: {md(note)}")
            if len(test.failing) > per_test:
                out.append(f"- ... and {len(test.failing) - per_test} more like it")
    capstone = _capstone(result)
    if capstone is not None:
        out += ["", "## Capstone learning curves", "", "| epoch | your train loss | reference | your test accuracy "
                "| reference |", "|---:|---:|---:|---:|---:|"]
        c = capstone.curves
        for i in range(len(c.get("reference_train_loss", []))):
            row = [_num(c.get(k, []), i) for k in ("train_loss", "reference_train_loss", "test_accuracy",
                                                    "reference_test_accuracy")]
            out.append(f"| {i + 1} | " + " | ".join(row) + " |")
    return "\n".join(out) + "\n"


def _num(series: list[float], i: int) -> str:
    if i >= len(series):
        return ""
    v = series[i]
    return "diverged" if v != v or v in (float("inf"), float("-inf")) else f"{v:.4g}"


# -- HTML ---------------------------------------------------------------------------------
def _e(text: str) -> str:
    """Student text for HTML: control characters made visible (as in the terminal), then
    markup escaped."""
    return html.escape(terminal(str(text)), quote=True)


def _cases_html(test: TestSummary, per_test: int) -> str:
    items = []
    previous = None
    for c in test.failing[:per_test] + test.noted[:per_test]:
        extra = f"<br><em>likely mistake:</em> {_e(c.hint)}" if c.hint and c.hint != previous else ""
        previous = c.hint
        extra += "".join(f"<br><em>note:</em> {_e(n)}" for n in c.notes)
        items.append(f"<li><code>{_e(case_label(c.id))}</code> ({points(c.score, c.max_score)}): "
                     f"{_e(c.message)}{extra}</li>")
    if len(test.failing) > per_test:
        items.append(f"<li>... and {len(test.failing) - per_test} more like it</li>")
    if test.stubbed:
        items.append(f"<li>{test.stubbed} more cases wait for functions not started yet</li>")
    return f"<ul>{''.join(items)}</ul>" if items else ""


def render_html(result: SubmissionResult, per_test: int = CASES_SHOWN, topics: Iterable[str] | None = None,
                full: bool | None = None) -> str:
    """An HTML fragment: one table, a header row per topic and a row per test with its
    mark, points and first failing cases. With several topics (unless ``full``), the
    tests that passed are one row per topic."""
    wanted = set(topics) if topics is not None else None
    summaries = [s for s in summarize(result) if wanted is None or s.name in wanted]
    full = len(summaries) == 1 if full is None else full
    parts = ["<table class='summary'><thead><tr><th>topic / test</th><th>points</th><th></th></tr></thead><tbody>"]
    for s in summaries:
        headline = topic_headline(s)
        note = _e(s.problem) if s.problem else (headline if headline and headline != "not started" else "")
        parts.append(f"<tr class='topic'><th>{_e(s.name)}</th><th>{points(s.score, s.max_score)}</th>"
                     f"<th>{note}</th></tr>")
        if s.problem or (headline and not s.not_started):
            continue
        passing = [t for t in s.tests if t.passed]
        for t in s.tests if full else [t for t in s.tests if not t.passed]:
            cls = "pass" if t.passed else "fail"
            parts.append(f"<tr class='{cls}'><td>{mark(t)} {_e(t.name)}</td>"
                         f"<td>{points(t.score, t.max_score)}</td>"
                         f"<td>{_cases_html(t, per_test) if t.failing or t.noted else ''}</td></tr>")
        if passing and not full:
            names = ", ".join(t.name for t in passing)
            parts.append(f"<tr class='pass'><td>{PASS} {other_tests(len(passing))}</td><td></td>"
                         f"<td>{_e(names)}</td></tr>")
        if s.not_started:
            parts.append(f"<tr class='stub'><td>{FAIL} not started</td><td>{points(0, s.not_started_points)}</td>"
                         f"<td>{_e(', '.join(s.not_started))}</td></tr>")
    parts.append("</tbody></table>")
    for flag in result.flags:
        parts.append(f"<p class='flag'>flag: {_e(flag)}</p>")
    return "\n".join(parts)


_STYLE = """
body { font-family: sans-serif; max-width: 62em; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; width: 100%; } td, th { border: 1px solid #ccc; padding: .3em .5em;
vertical-align: top; text-align: left; } tr.topic th { background: #f3f3f3; } tr.pass td:first-child { color: #060; }
tr.fail td:first-child, tr.stub td:first-child, .flag { color: #a00; } ul { margin: 0; padding-left: 1.2em; }
code { white-space: pre-wrap; } svg text { font: 11px sans-serif; }
"""


def html_page(result: SubmissionResult, per_test: int = CASES_SHOWN, topics: Iterable[str] | None = None,
              title: str = "", stamp: str = "", intro: str = "") -> str:
    """A self-contained page (no script, font or style from elsewhere) for one student."""
    from grader.svgplot import capstone_svg

    heading = title or f"Feedback for {result.id}"
    body = [f"<h1>{_e(heading)}: {points(result.score, result.max_score)}</h1>"]
    if stamp or intro:
        body.append(f"<p>{'Graded ' + _e(stamp) + '. ' if stamp else ''}{_e(intro)}</p>")
    body.append(render_html(result, per_test, topics))
    capstone = _capstone(result)
    if capstone is not None and (topics is None or capstone.id.split("::", 1)[0] in set(topics)):
        body += ["<h2>Capstone learning curves</h2>", capstone_svg(capstone.curves)]
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{_e(heading)}</title><style>{_STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
