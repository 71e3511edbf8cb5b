"""``grader report``: a static site about a graded class, for the course staff.

From a results file (``grader grade --json``) and, optionally, quiz results (``grader
quiz grade --json``) it writes plain HTML pages that work offline: opened from disk or
served by any static server, they load nothing from elsewhere (styles, the SVG plots and
the few lines that sort tables are inline).

- ``index.html``: the class at a glance: score distributions per topic and in total,
  zero and full marks, the most common mistakes, flags, grading time, and every student.
- ``tests.html``: every test group, sorted by the points it cost the class, with its
  pass rate and the diagnosed mistakes grouped by hint, naming who made them.
- ``capstone.html``: every student's learning curve against the reference's, and the
  modules the capstone found holding students back.
- ``quiz-<id>.html``: the item analysis of a quiz (grader.quiz.analysis).
- ``students/<id>.html``: each student's feedback, as ``grader grade --feedback`` writes it.

Every string that comes from a submission (ids, messages, hints) is escaped for HTML, and
file names come from :func:`grader.textsafe.safe_filenames`.
"""

from __future__ import annotations

import html
import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import quote

from grader.feedback import group_of, html_page
from grader.isolation import WEAK_NOTE
from grader.reports import atomic_write, submission_from_dict
from grader.scoring import SubmissionResult, TestResult
from grader.svgplot import bar_chart, overlay_chart
from grader.textsafe import safe_filenames, terminal

_STYLE = """
body { font-family: sans-serif; max-width: 70em; margin: 1.5em auto; padding: 0 1em; color: #222; }
nav a { margin-right: 1em; } table { border-collapse: collapse; margin: .5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } table.sortable th { cursor: pointer; } td.num, th.num { text-align: right; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; } .flag { color: #a00; } svg text { font: 11px sans-serif; }
details { margin: .2em 0; } summary { cursor: pointer; }
"""

# Sorts a table by the column whose header was clicked (numbers as numbers); inline, so
# the page needs no network.
_SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('thead th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var dir = th.getAttribute('data-dir') === 'asc' ? -1 : 1;
      th.setAttribute('data-dir', dir === 1 ? 'asc' : 'desc');
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute('data-v') || a.cells[col].textContent;
        var y = b.cells[col].getAttribute('data-v') || b.cells[col].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        if (!isNaN(nx) && !isNaN(ny)) { return dir * (nx - ny); }
        return dir * x.localeCompare(y);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def _e(text: Any) -> str:
    return html.escape(terminal(str(text)), quote=True)


def _page(title: str, body: Iterable[str], pages: Sequence[tuple[str, str]] = ()) -> str:
    """A page of the site's top folder: the navigation, the title, the body, the sort script."""
    nav = "".join(f"<a href='{quote(href)}'>{_e(label)}</a>" for href, label in pages)
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width'><title>{_e(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n<nav>{nav}</nav>\n<h1>{_e(title)}</h1>\n"
            + "\n".join(body) + f"\n<script>{_SORT_SCRIPT}</script>\n</body></html>\n")


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def _histogram(title: str, values: Sequence[float], maximum: float, bins: int = 10) -> str:
    counts = [0] * bins
    for v in values:
        k = bins - 1 if maximum <= 0 else min(bins - 1, max(0, int(bins * v / maximum)))
        counts[k] += 1
    labels = [f"{_num(maximum * k / bins, 1)}" for k in range(bins)]
    return bar_chart(title, labels, counts, x_label=f"points (of {_num(maximum)})")


# ------------------------------------------------------------------ class statistics

_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?([eE][-+]?\d+)?")


@dataclass(frozen=True)
class GroupStats:
    """One test group (``topic::group``) across the class."""

    group: str
    max_points: float
    students: int
    full: int                                   # students with every point of the group
    mean_lost: float                            # points lost per student, on average
    mistakes: tuple[tuple[str, tuple[str, ...]], ...]  # (hint, students), most common first


def group_stats(results: Sequence[SubmissionResult]) -> list[GroupStats]:
    """Per test group: pass rate, mean points lost and the diagnosed mistakes (hints) with
    the students who made them; the groups that cost the class most come first."""
    table: dict[str, dict[str, list[TestResult]]] = {}
    for r in results:
        for topic in r.topics.values():
            for t in topic.tests:
                if t.max_score <= 0:
                    continue  # deductions (forbidden calls, argument order) are flags
                table.setdefault(group_of(t.id), {}).setdefault(r.id, []).append(t)
    out = []
    for group, by_student in table.items():
        max_points = max(sum(t.max_score for t in tests) for tests in by_student.values())
        lost = {sid: sum(t.max_score - t.score for t in tests) for sid, tests in by_student.items()}
        hints: dict[str, tuple[str, list[str]]] = {}  # hints that differ only in their numbers are one mistake
        for sid, tests in by_student.items():
            for hint in dict.fromkeys(t.hint for t in tests if t.hint and t.score < t.max_score):
                shown, who = hints.setdefault(_NUMBER.sub("#", hint), (hint, []))
                if sid not in who:
                    who.append(sid)
        mistakes = tuple(sorted(((h, tuple(s)) for h, s in hints.values()), key=lambda m: (-len(m[1]), m[0])))
        out.append(GroupStats(group, max_points, len(by_student), sum(1 for v in lost.values() if v <= 1e-9),
                              sum(lost.values()) / len(lost), mistakes))
    out.sort(key=lambda g: (-g.mean_lost, g.group))
    return out


def common_mistakes(groups: Sequence[GroupStats], limit: int = 10) -> list[tuple[str, int, list[str]]]:
    """The hints most students got, across every test: (hint, students, groups)."""
    by_hint: dict[str, tuple[set[str], list[str]]] = {}
    for g in groups:
        for hint, students in g.mistakes:
            who, where = by_hint.setdefault(hint, (set(), []))
            who.update(students)
            where.append(g.group)
    ranked = sorted(by_hint.items(), key=lambda kv: (-len(kv[1][0]), kv[0]))
    return [(hint, len(who), where) for hint, (who, where) in ranked[:limit]]


def _flag_kind(flag: str) -> str:
    if flag.startswith("forbidden call"):
        return "forbidden calls"
    if WEAK_NOTE in flag:
        return "weak isolation"
    if "internal grader error" in flag:
        return "internal grader errors"
    if "argument" in flag and "order" in flag:
        return "arguments in another order"
    return "other flags"


def culprit_modules(result: SubmissionResult, slack: float = 0.03) -> list[str]:
    """The modules whose reference version brings the capstone's accuracy back (as the
    capstone's hint says), from its recorded metrics and curves."""
    from grader.capstone_grading import culprits

    for topic in result.topics.values():
        for t in topic.tests:
            if "capstone" in t.id and t.metrics:
                reference = t.curves.get("reference_test_accuracy") or []
                swapped = {k[len("accuracy_with_reference_"):]: v for k, v in t.metrics.items()
                           if k.startswith("accuracy_with_reference_")}
                if reference and "accuracy" in t.metrics and t.score < t.max_score:
                    return culprits(t.metrics["accuracy"], swapped, reference[-1], slack)
    return []


# ------------------------------------------------------------------ pages

def _students_table(results: Sequence[SubmissionResult], topics: list[str], names: dict[str, str]) -> str:
    head = "".join(f"<th class='num'>{_e(t)}</th>" for t in topics)
    rows = []
    for r in results:
        cells = "".join(
            f"<td class='num' data-v='{r.topics[t].score:.6f}'>{_num(r.topics[t].score)}</td>" if t in r.topics
            else "<td></td>" for t in topics)
        rows.append(f"<tr><td><a href='students/{quote(names[r.id])}.html'>{_e(r.id)}</a></td>{cells}"
                    f"<td class='num' data-v='{r.score:.6f}'>{_num(r.score)}</td><td class='num'>{len(r.flags)}</td></tr>")
    return (f"<table class='sortable'><thead><tr><th>student</th>{head}<th class='num'>total</th>"
            f"<th class='num'>flags</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _index(results: Sequence[SubmissionResult], topics: list[str], groups: list[GroupStats], names: dict[str, str],
           pages: Sequence[tuple[str, str]]) -> str:
    body = []
    totals = [r.score for r in results]
    max_total = max((r.max_score for r in results), default=0.0)
    if results:
        body.append(f"<p>{len(results)} submissions; total mean {_num(statistics.fmean(totals))}, median "
                    f"{_num(statistics.median(totals))} of {_num(max_total)}.</p>")
    rows = []
    charts = [_histogram("total", totals, max_total)]
    for t in topics:
        scores = [r.topics[t].score for r in results if t in r.topics]
        maximum = max((r.topics[t].max_score for r in results if t in r.topics), default=0.0)
        zero = sum(1 for s in scores if s <= 1e-9)
        full = sum(1 for s in scores if s >= maximum - 1e-9)
        rows.append(f"<tr><td>{_e(t)}</td><td class='num'>{_num(statistics.fmean(scores)) if scores else 'n/a'}</td>"
                    f"<td class='num'>{_num(maximum)}</td><td class='num'>{zero}</td><td class='num'>{full}</td></tr>")
        charts.append(_histogram(t, scores, maximum))
    body.append("<h2>Score distributions</h2><div class='charts'>" + "".join(charts) + "</div>")
    body.append("<table class='sortable'><thead><tr><th>topic</th><th class='num'>mean</th><th class='num'>of</th>"
                "<th class='num'>zero marks</th><th class='num'>full marks</th></tr></thead><tbody>"
                + "".join(rows) + "</tbody></table>")
    body.append("<h2>Most common mistakes</h2>")
    mistakes = common_mistakes(groups)
    if mistakes:
        body.append("<table><thead><tr><th>likely mistake</th><th class='num'>students</th><th>tests</th></tr></thead>"
                    "<tbody>" + "".join(
                        f"<tr><td>{_e(hint)}</td><td class='num'>{n}</td><td>{_e(', '.join(where[:6]))}"
                        f"{' ...' if len(where) > 6 else ''}</td></tr>" for hint, n, where in mistakes)
                    + "</tbody></table>")
    else:
        body.append("<p>No diagnosed mistakes.</p>")
    kinds: dict[str, int] = {}
    for r in results:
        for kind in {_flag_kind(f) for f in r.flags}:
            kinds[kind] = kinds.get(kind, 0) + 1
    statuses: dict[str, int] = {}
    for r in results:
        for status in {t.status for topic in r.topics.values() for t in topic.tests} & {"timeout", "error"}:
            statuses[status] = statuses.get(status, 0) + 1
    body.append("<h2>Flags and failures</h2><ul>"
                + "".join(f"<li>{_e(k)}: {n} submission(s)</li>" for k, n in sorted(kinds.items()))
                + "".join(f"<li>a test with status {_e(s)}: {n} submission(s)</li>" for s, n in sorted(statuses.items()))
                + ("" if kinds or statuses else "<li>none</li>") + "</ul>")
    seconds = [r.timing.get("total_s") for r in results if isinstance(r.timing.get("total_s"), (int, float))]
    if seconds:
        body.append(f"<p>Grading time per submission: mean {_num(statistics.fmean(seconds))} s, longest "
                    f"{_num(max(seconds))} s.</p>")
    body.append("<h2>Students</h2>" + _students_table(results, topics, names))
    return _page("Class overview", body, pages)


def _tests_page(groups: list[GroupStats], names: dict[str, str], pages: Sequence[tuple[str, str]]) -> str:
    rows = []
    for g in groups:
        mistakes = "".join(
            f"<details><summary>{_e(hint)} ({len(students)})</summary>"
            + ", ".join(f"<a href='students/{quote(names[s])}.html'>{_e(s)}</a>" for s in students) + "</details>"
            for hint, students in g.mistakes)
        rate = 100 * g.full / g.students if g.students else 0.0
        rows.append(f"<tr><td>{_e(g.group)}</td><td class='num' data-v='{rate:.4f}'>{_num(rate, 1)}%</td>"
                    f"<td class='num' data-v='{g.mean_lost:.6f}'>{_num(g.mean_lost)}</td>"
                    f"<td class='num'>{_num(g.max_points)}</td><td>{mistakes}</td></tr>")
    body = ["<p>Sorted by the points each test cost the class on average. The pass rate counts the students "
            "with every point of the test; a likely mistake is the hint the grader gave, with who got it.</p>",
            "<table class='sortable'><thead><tr><th>test</th><th class='num'>pass rate</th>"
            "<th class='num'>mean points lost</th><th class='num'>points</th><th>likely mistakes</th></tr></thead>"
            "<tbody>" + "".join(rows) + "</tbody></table>"]
    return _page("Tests", body, pages)


def _capstone_page(results: Sequence[SubmissionResult], pages: Sequence[tuple[str, str]]) -> str | None:
    curves, reference = [], []
    counted: dict[str, int] = {}
    for r in results:
        for topic in r.topics.values():
            for t in topic.tests:
                if "capstone" in t.id and t.curves.get("test_accuracy"):
                    curves.append(t.curves["test_accuracy"])
                    reference = reference or t.curves.get("reference_test_accuracy", [])
        for name in culprit_modules(r):
            counted[name] = counted.get(name, 0) + 1
    if not curves:
        return None
    body = [f"<p>{len(curves)} students' test accuracy per epoch (grey) against the reference's (blue).</p>",
            overlay_chart("capstone test accuracy", curves, reference)]
    body.append("<h2>What held students back</h2>")
    if counted:
        body.append("<table><thead><tr><th>module</th><th class='num'>students</th></tr></thead><tbody>"
                    + "".join(f"<tr><td>{_e(m)}</td><td class='num'>{n}</td></tr>"
                              for m, n in sorted(counted.items(), key=lambda kv: (-kv[1], kv[0])))
                    + "</tbody></table>")
    else:
        body.append("<p>No module: every capstone short of the reference was short with every module swapped too, "
                    "or none fell short.</p>")
    return _page("Capstone", body, pages)


def _quiz_page(analysis: Any, pages: Sequence[tuple[str, str]]) -> str:
    rows = []
    for i in analysis.items:
        cells = [_num(v, 1) for v in (i.facility, i.sd, i.discrimination, i.efficiency)]
        rows.append(f"<tr><td>{_e(i.question)}</td><td>{_e(i.type)}</td>"
                    + "".join(f"<td class='num'>{c}</td>" for c in cells)
                    + f"<td class='num'>{i.full_marks}</td><td class='num'>{i.wrong}</td>"
                      f"<td class='num'>{i.format_errors}</td><td class='num'>{i.blank}</td>"
                      f"<td>{'<br>'.join(_e(f) for f in i.flags)}</td></tr>")
    body = [f"<p>{analysis.students} students; mean total {_num(analysis.mean_total)} of {_num(analysis.max_total)}. "
            "Facility, standard deviation, discrimination index and discriminative efficiency as Moodle computes "
            "them (see docs/quizzes.md).</p>",
            "<table class='sortable'><thead><tr><th>question</th><th>type</th><th class='num'>facility %</th>"
            "<th class='num'>sd %</th><th class='num'>discrimination %</th><th class='num'>efficiency %</th>"
            "<th class='num'>full</th><th class='num'>wrong</th><th class='num'>format errors</th>"
            "<th class='num'>blank</th><th>review</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"]
    for i in analysis.items:
        if i.choices:
            body.append(f"<h2>{_e(i.question)}: choices</h2><table><thead><tr><th>choice</th><th>correct</th>"
                        "<th class='num'>chosen</th><th class='num'>point-biserial</th></tr></thead><tbody>"
                        + "".join(f"<tr><td>{_e(c.label)}</td><td>{'' if c.correct is None else _e(c.correct)}</td>"
                                  f"<td class='num'>{c.chosen} ({100 * c.share:.0f}%)</td>"
                                  f"<td class='num'>{_num(c.point_biserial)}</td></tr>" for c in i.choices)
                        + "</tbody></table>")
    return _page(f"Quiz {analysis.quiz}: item analysis", body, pages)


@dataclass(frozen=True)
class SiteReport:
    pages: tuple[Path, ...]


def build_site(doc: dict, out_dir: str | Path, quiz_docs: Sequence[dict] = (), quizzes: Sequence[Any] = ()) -> SiteReport:
    """Write the site for a results document (and quiz results, each with its loaded quiz
    or None) into ``out_dir``; returns the pages written."""
    out = Path(out_dir)
    results = [submission_from_dict(d) for d in doc.get("submissions") or ()]
    topics = list(dict.fromkeys(t for r in results for t in r.topics))
    names = safe_filenames(r.id for r in results)
    groups = group_stats(results)
    from grader.quiz.analysis import analyse

    analyses = [analyse(q.get("students") or [], quizzes[k] if k < len(quizzes) else None)
                for k, q in enumerate(quiz_docs)]
    quiz_ids = [a.quiz or f"quiz{k + 1}" for k, a in enumerate(analyses)]
    quiz_files = safe_filenames(f"quiz-{q}" for q in quiz_ids)
    has_capstone = any("capstone" in t.id and t.curves.get("test_accuracy")
                       for r in results for topic in r.topics.values() for t in topic.tests)
    nav = [("index.html", "overview"), ("tests.html", "tests")]
    if has_capstone:
        nav.append(("capstone.html", "capstone"))
    nav += [(f"{quiz_files[f'quiz-{q}']}.html", f"quiz {q}") for q in quiz_ids]
    written = []

    def write(rel: str, text: str) -> None:
        atomic_write(out / rel, text)
        written.append(out / rel)

    write("index.html", _index(results, topics, groups, names, nav))
    write("tests.html", _tests_page(groups, names, nav))
    capstone = _capstone_page(results, nav) if has_capstone else None
    if capstone is not None:
        write("capstone.html", capstone)
    for q, analysis in zip(quiz_ids, analyses):
        write(f"{quiz_files[f'quiz-{q}']}.html", _quiz_page(analysis, nav))
    for r in results:
        page = html_page(r, title=f"Feedback for {r.id}")
        page = page.replace("<body>\n", "<body>\n<nav><a href='../index.html'>class overview</a></nav>\n", 1)
        write(f"students/{names[r.id]}.html", page)
    return SiteReport(tuple(written))
