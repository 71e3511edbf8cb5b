"""The ``grader`` command: a thin click layer over the library.

Commands parse their arguments, call library functions and print. Library errors
(:class:`~grader.errors.GraderError`) become one line on stderr and the exit status the
contract names: 2 for a usage error, 1 when the grader itself failed.

Whatever a submission controls (its id, messages, an nbgrader student id) is printed
through :func:`grader.textsafe.terminal`: the reports escape their own text, and this
layer escapes the rest, error lines included, so nothing a student wrote reaches the
terminal as a control sequence or as a line of its own.
"""

from __future__ import annotations

import difflib
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import click

from grader import __version__
from grader.cli_group import OneLineErrors
from grader.errors import UsageError
from grader.journal import Journal, run_fingerprint
from grader.reports import (
    atomic_write, render_details, render_table, write_csv, write_feedback_files, write_gradescope, write_json,
)
from grader.scoring import SubmissionResult
from grader.submission import Submission, expand_class_folders, find_submissions
from grader.textsafe import terminal
from grader.topics import TOPICS

class _Topic(click.ParamType):
    """A course topic; a typo gets the closest topic, not the whole list as the name."""

    name = "topic"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "TOPIC"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if value in TOPICS:
            return value
        close = difflib.get_close_matches(str(value), list(TOPICS), n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'? " if close else ""
        self.fail(f"unknown topic '{terminal(str(value))}'; {hint}the topics are {', '.join(TOPICS)}", param, ctx)


_TOPIC = _Topic()
_DEVICE = click.Choice(["auto", "cpu", "cuda"])
_DEVICE_HELP = "Where student code runs: auto adds the CUDA cases when CUDA is available."


class _Group(OneLineErrors):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:  # an error may name a student's file: one line, escaped
            exc.message = terminal(exc.message)
            raise
        except KeyboardInterrupt:
            click.echo("interrupted: finished submissions are kept for --resume when --json was given", err=True)
            ctx.exit(130)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="grader")
def cli() -> None:
    """Grade neural-network assignments: hidden suites in a sandbox, rubric scores.

    Students: `grader check` runs the public tests on your work. Instructors: `grader
    grade` grades submissions, `grader validate` checks the course.
    """


def _meta(device: str, started: float) -> dict[str, Any]:
    return {
        "version": __version__,
        "device": device,
        "python": platform.python_version(),
        "seconds": round(time.time() - started, 3),
    }


def _run(
    config, subs: list[Submission], jobs: int, quiet: bool,
    on_result: Callable[[SubmissionResult], None] | None = None,
) -> list[SubmissionResult]:
    from grader.engine import grade as run_grade  # torch: loaded by the commands that grade

    if len(subs) == 1 or quiet:
        return run_grade(config, subs, on_result=on_result, jobs=jobs)
    with click.progressbar(
        length=len(subs), label="grading", show_pos=True, show_eta=True, file=sys.stderr
    ) as bar:

        def progress(result: SubmissionResult) -> None:
            if on_result is not None:
                on_result(result)
            bar.update(1)

        return run_grade(config, subs, on_result=progress, jobs=jobs)


def _write_outputs(
    results: list[SubmissionResult], meta: dict, json_path: str | None, csv_path: str | None, gs_path: str | None,
    feedback_dir: str | None = None, shown: dict | None = None,
) -> None:
    """Every output asked for; student-facing ones (Gradescope, feedback files) leave out
    what the rubric's visibility withholds (``shown``: its due date and --published)."""
    shown = shown or {}
    if json_path:
        write_json(json_path, results, meta)
    if csv_path:
        write_csv(csv_path, results)
    if gs_path:
        write_gradescope(gs_path, results, shown.get("due"), bool(shown.get("published")))
    if feedback_dir:
        write_feedback_files(feedback_dir, results, shown.get("due"), bool(shown.get("published")))


@cli.command()
@click.argument("submissions", nargs=-1, type=click.Path(), metavar="[SUBMISSION]...")
@click.option("--topic", "topics", multiple=True, type=_TOPIC, help="Grade only these topics (repeatable).")
@click.option("--device", type=_DEVICE, default="auto", show_default=True, help=_DEVICE_HELP)
@click.option("--jobs", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Submissions graded at once, each in its own sandbox (up to the number of cores).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write results as JSON (schema 1).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write a row per student, a column per topic.")
@click.option("--gradescope", "gs_path", type=click.Path(),
              help="Write Gradescope results.json: PATH is the file for one submission, a folder for several.")
@click.option("--feedback", "feedback_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Write DIR/<student>.html and DIR/<student>.md: each student's feedback, for an LMS or e-mail.")
@click.option("--course", type=click.Path(file_okay=False), help="Course folder (default: current folder or this checkout).")
@click.option("--rubric", type=click.Path(dir_okay=False), help="Use this rubric instead of the course's.")
@click.option("--details/--no-details", default=None, help="Show failing cases (default: for a single submission).")
@click.option("--quiet", is_flag=True, help="No progress bar and no table.")
@click.option(
    "--resume", is_flag=True,
    help="Keep the submissions an interrupted run already graded into --json FILE; grade the rest.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --json FILE (refused otherwise).")
@click.option("--submitted-at", "times_path", type=click.Path(dir_okay=False, exists=True), metavar="TIMES.csv",
              help="Submission times for the rubric's late policy: rows 'student,time' (with the time zone).")
@click.option("--published", is_flag=True,
              help="Grades are published: tests whose rubric visibility is after_published show in student feedback.")
@click.option("--compare", "compare_path", type=click.Path(dir_okay=False, exists=True), metavar="OLD.json",
              help="After grading, show per student and per test what changed since OLD.json, and why.")
@click.option(
    "--allow-weak-isolation", "weak", is_flag=True,
    help="Grade even where the sandbox cannot hide the hidden suites (every report says so).",
)
@click.option("--nbgrader", "nb_root", type=click.Path(file_okay=False),
              help="nbgrader course folder: grade its collected submissions and fill its gradebook.")
@click.option("--assignment", help="With --nbgrader: the assignment (a topic) to grade.")
@click.option("--student", "students", multiple=True, help="With --nbgrader: only this student (repeatable).")
def grade(submissions, topics, device, jobs, json_path, csv_path, gs_path, feedback_dir, course, rubric, details, quiet,
          resume, overwrite, times_path, published, compare_path, weak, nb_root, assignment, students) -> None:
    """Grade SUBMISSION folders (or an nbgrader course's collected work) against the hidden suites.

    A SUBMISSION is a folder of <topic>.py / <topic>.ipynb files or a .zip of one; a
    folder holding submission folders (class/ for class/*) grades each of them.
    """
    started = time.time()
    shown_to_students: dict[str, Any] = {}  # the rubric's due date and --published, for student-facing outputs
    if resume and not json_path:
        raise UsageError("--resume needs --json FILE: the results of the interrupted run are kept there")
    if json_path and Path(json_path).exists() and not (resume or overwrite):
        raise UsageError(f"{json_path} exists: pass --overwrite to replace it, --resume to finish the run that "
                         f"wrote it, or write elsewhere and --compare {json_path} to see what changed")
    old_results = None
    if compare_path:
        from grader.regrade import load_results

        try:
            old_results = load_results(compare_path)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    filed: Callable[[SubmissionResult], None] | None = None
    summary: Callable[[], None] = lambda: None
    if nb_root:
        if submissions:
            raise UsageError("give either SUBMISSION folders or --nbgrader COURSE_DIR, not both")
        if not assignment:
            raise UsageError("--nbgrader needs --assignment NAME")
        subs, topics, filed, summary = _nbgrader_run(Path(nb_root), assignment, tuple(students), topics, quiet,
                                                     shown_to_students)
    else:
        if assignment or students:
            raise UsageError("--assignment and --student go with --nbgrader COURSE_DIR")
        if not submissions:
            raise UsageError("name at least one SUBMISSION folder (or use --nbgrader COURSE_DIR)")
        paths, notes = expand_class_folders(list(submissions))
        for note in notes:
            if not quiet:
                click.echo(f"note: {note}", err=True)
        subs = find_submissions(paths)
    from grader.course import find_course

    config = find_course(course).hidden(tuple(topics), device, Path(rubric) if rubric else None)
    config = replace(config, allow_weak_isolation=weak)
    shown_to_students.update(due=config.rubric.due, published=published)
    late = _late_policy(config.rubric, times_path, shown_to_students.get("time_of"))
    shown_to_students["late"] = late
    if filed is not None:
        file_one = filed
        filed = lambda result: file_one(late(result))  # noqa: E731 (the gradebook gets the penalty too)
    meta = _meta(device, started)
    if json_path or old_results is not None:  # what a results file (or the comparison) records
        meta["fingerprints"] = _fingerprints(config, topics, device)
    if json_path:
        fingerprint = run_fingerprint(config.rubric, tuple(topics), device)
        meta["fingerprint"] = fingerprint
        journal = Journal.open(json_path, fingerprint, resume)
        done = {s.id: journal.done[s.id] for s in subs if s.id in journal.done}
        todo = [s for s in subs if s.id not in done]
        if resume and not quiet:
            click.echo(f"resuming: {len(done)} already graded, {len(todo)} to grade", err=True)
        fresh = _run(config, todo, jobs, quiet, on_result=_both(journal.record, filed)) if todo else []
        by_id = {**done, **{r.id: r for r in fresh}}
        results = [late(by_id[s.id]) for s in subs]
        meta["seconds"] = round(time.time() - started, 3)
        _write_outputs(results, meta, json_path, csv_path, gs_path, feedback_dir, shown_to_students)
        journal.close()
    else:
        results = [late(r) for r in _run(config, subs, jobs, quiet, on_result=filed)]
        _write_outputs(results, meta, json_path, csv_path, gs_path, feedback_dir, shown_to_students)
    if old_results is not None:
        from grader.regrade import diff_results, render_diff
        from grader.reports import results_document

        click.echo(render_diff(diff_results(old_results, results_document(results, meta))))
    if quiet:
        return
    if details is None:
        details = len(results) == 1
    if details:
        for r in results:
            click.echo(render_details(r))
            click.echo()
    click.echo(render_table(results))
    summary()


def _late_policy(rubric, times_path: str | None, time_of: Callable[[str], Any] | None
                 ) -> Callable[[SubmissionResult], SubmissionResult]:
    """The rubric's late policy as a function of a result (grader.late): the submission's
    time comes from --submitted-at, else from nbgrader's timestamp.txt."""
    from grader.late import apply_late, read_times

    if rubric.late is None:
        if times_path:
            raise UsageError("--submitted-at needs a late policy in the rubric (late: ... next to due:)")
        return lambda result: result
    times = read_times(times_path) if times_path else {}

    def late(result: SubmissionResult) -> SubmissionResult:
        submitted = times.get(result.id) or (time_of(result.id) if time_of is not None else None)
        return apply_late(result, rubric.late, rubric.due, submitted)

    return late


def _fingerprints(config, topics: tuple[str, ...], device: str) -> dict:
    """What decided these grades (grader.regrade): suites, rubric, reference, grader."""
    from grader.parallel import _rubric_to_data
    from grader.regrade import course_fingerprints

    graded = topics or tuple(config.rubric.topics)
    return course_fingerprints(config.tests_dir, _rubric_to_data(config.rubric), config.reference_dir, graded, device,
                               config.rubric.late, config.rubric.due)


def _both(
    first: Callable[[SubmissionResult], None], second: Callable[[SubmissionResult], None] | None
) -> Callable[[SubmissionResult], None]:
    if second is None:
        return first

    def call(result: SubmissionResult) -> None:
        first(result)
        second(result)

    return call


def _nbgrader_run(root: Path, assignment: str, students: tuple[str, ...], topics: tuple[str, ...], quiet: bool,
                  shown: dict[str, Any]):
    """The collected submissions, the topic, and a callback filing each result in the gradebook."""
    from grader import nbgrader_bridge as bridge

    nb_course = bridge.load_course(root)
    topic = bridge.topic_of(assignment)
    if topics and tuple(topics) != (topic,):
        raise UsageError(f"--topic cannot differ from the assignment's topic ({topic}) with --nbgrader")
    subs = bridge.collected(nb_course, assignment, students)
    gradebook = bridge.open_gradebook(nb_course)
    pages: list[Path] = []
    shown["time_of"] = lambda sid: bridge.submission_time(nb_course.submitted_dir(sid, assignment))

    def file_result(result: SubmissionResult) -> None:
        entry = bridge.write_grade(gradebook, nb_course, assignment, result)
        page = bridge.write_feedback(nb_course, assignment, result, shown.get("due"), bool(shown.get("published")))
        pages.append(page)
        if nb_course.file_name(result.id) != result.id:
            missed = "" if bridge.LMS_FEEDBACK in page.parts else ", which `nbgrader release_feedback` will not find"
            click.echo(f"note: the student id '{terminal(result.id)}' cannot name a file as it is; its feedback "
                       f"page is {terminal(str(page))}{missed}", err=True)
        if entry.manual_score is not None:
            click.echo(f"note: {terminal(entry.student)} keeps the manual score {entry.manual_score:g} set in the "
                       f"formgrader (automatic score {entry.auto_score:g} recorded beside it)", err=True)

    def summary() -> None:
        if quiet or not pages:
            return
        lms = sum(1 for p in pages if bridge.LMS_FEEDBACK in p.parts)
        click.echo(f"gradebook: {len(pages)} automatic score(s) written for {assignment!r}; "
                   f"see them with `nbgrader export` or the formgrader")
        if len(pages) > lms:
            click.echo(f"feedback: {len(pages) - lms} page(s) in {nb_course.feedback}/<student>/{assignment}/; "
                       f"deliver with `nbgrader release_feedback {assignment}`")
        if lms:
            click.echo(f"feedback: {lms} page(s) for LMS submissions in {bridge.LMS_FEEDBACK}/{assignment}/")

    return subs, (topic,), file_result, summary


@cli.group(cls=OneLineErrors)
def nbgrader() -> None:
    """Set up an nbgrader course for these topics.

    `grader nbgrader init` writes the course folder; nbgrader itself then generates,
    releases and collects the assignments, and `grader grade --nbgrader` grades them
    into its gradebook.
    """


@nbgrader.command("init")
@click.argument("course_dir", type=click.Path(file_okay=False))
@click.option("--course-id", default="nn-course", show_default=True, help="nbgrader's course id.")
@click.option("--topic", "topics", multiple=True, type=_TOPIC, help="Only these topics (repeatable; default all).")
@click.option("--exchange", type=click.Path(file_okay=False), help="nbgrader exchange folder (default: nbgrader's).")
@click.option("--course", type=click.Path(file_okay=False), help="The grader's course folder (reference, rubric).")
def nbgrader_init(course_dir, course_id, topics, exchange, course) -> None:
    """Write COURSE_DIR/nbgrader_config.py and source/<topic>/ for every topic."""
    from grader.course import find_course
    from grader.nbgrader_bridge import init_course

    root = Path(course_dir)
    written = init_course(root, find_course(course), course_id, tuple(topics),
                          str(Path(exchange).resolve()) if exchange else None)
    for path in written:
        click.echo(f"wrote {path.relative_to(root)}")
    click.echo(f"next: cd {course_dir} && nbgrader generate_assignment <topic> && nbgrader release_assignment <topic>")


@cli.command()
@click.argument("topics", nargs=-1, type=_TOPIC)
@click.option("--path", "path", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder with your topic files.")
@click.option("--tests", "tests", type=click.Path(file_okay=False), help="Public tests folder.")
@click.option("--device", type=_DEVICE, default="auto", show_default=True, help=_DEVICE_HELP)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the results as JSON.")
@click.option("--strict", is_flag=True, help="Exit with status 1 unless every public test passes (for scripts).")
def check(topics, path, tests, device, json_path, strict) -> None:
    """Run the public tests on your own work (all topics, or the TOPICs named).

    Names each file it checks and when it was saved, then the points of the public
    tests: a self-check, not your grade, which comes from the course's hidden tests.
    """
    from grader.selfcheck import run_check

    started = time.time()
    report = run_check(tuple(topics), path, tests, device)
    if report.problem:
        raise UsageError(report.problem)
    _write_outputs(list(report.results), _meta(device, started), json_path, None, None)
    click.echo(str(report))
    if strict and not report.ok:
        raise click.exceptions.Exit(1)


@cli.command()
@click.option("--course", type=click.Path(file_okay=False), help="Course folder.")
@click.option("--jobs", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Gradings run at once (up to the number of cores).")
@click.option("--device", type=_DEVICE, default="auto", show_default=True, help=_DEVICE_HELP)
def validate(course, jobs, device) -> None:
    """Check the course: reference full marks, stubs zero, repeatable scores."""
    from grader.course import find_course
    from grader.validate import validate_course

    findings = validate_course(find_course(course), jobs=jobs, device=device)
    for f in findings:
        click.echo(f"{'ok  ' if f.ok else 'FAIL'} {f.name}")
        for line in ((f.detail if not f.ok else "") + ("\n" + f.info if f.info else "")).strip().splitlines():
            click.echo(f"     {line}")
    if not all(f.ok for f in findings):
        raise click.exceptions.Exit(1)


@cli.command()
@click.argument("results", type=click.Path(dir_okay=False, exists=True), metavar="RESULTS.json")
@click.option("--quiz", "quiz_results", multiple=True, type=click.Path(dir_okay=False, exists=True),
              metavar="QUIZ_RESULTS.json", help="Quiz results (grader quiz grade --json) to analyse too (repeatable).")
@click.option("--quiz-file", "quiz_files", multiple=True, type=click.Path(dir_okay=False, exists=True),
              metavar="QUIZ.yaml", help="The quiz of each --quiz, in the same order: marks the correct choices.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), metavar="SITE",
              help="Folder to write the site into (SITE/index.html first).")
def report(results, quiz_results, quiz_files, output) -> None:
    """Write a static site about a graded class: score distributions, the tests that cost
    most and the mistakes behind them, capstone curves, quiz item analysis and every
    student's feedback. It loads nothing from a network."""
    import json

    from grader.regrade import load_results
    from grader.site import build_site

    try:
        doc = load_results(results)
        quiz_docs = [json.loads(Path(p).read_text(encoding="utf-8")) for p in quiz_results]
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise UsageError(str(exc)[:300]) from None
    if any(not isinstance(q, dict) or not isinstance(q.get("students"), list) for q in quiz_docs):
        raise UsageError("a --quiz file is not the output of grader quiz grade --json")
    quizzes = []
    if quiz_files:
        from grader.quiz.schema import load_quiz

        quizzes = [load_quiz(p) for p in quiz_files]
    site = build_site(doc, output, quiz_docs, quizzes)
    click.echo(f"wrote {len(site.pages)} pages; open {Path(output) / 'index.html'}")


@cli.command()
@click.argument("old", type=click.Path(dir_okay=False, exists=True), metavar="OLD.json")
@click.argument("new", type=click.Path(dir_okay=False, exists=True), metavar="NEW.json")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the changes as JSON.")
def diff(old, new, json_path) -> None:
    """Show per student and per test what changed between two results files, and why
    (which suites, rubric sections, references or grader version differ)."""
    from grader.regrade import diff_results, diff_to_dict, load_results, render_diff

    try:
        changes = diff_results(load_results(old), load_results(new))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    click.echo(render_diff(changes))
    if json_path:
        import json

        atomic_write(json_path, json.dumps(diff_to_dict(changes), indent=1, allow_nan=False) + "\n")


@cli.command()
@click.option("--course", type=click.Path(file_okay=False), help="Course folder.")
@click.option("--check", "check_only", is_flag=True, help="Only report stubs that are out of date (exit 1 if any).")
def stubs(course, check_only) -> None:
    """Regenerate the stubs, notebooks and docs/api.md from the reference's solution regions."""
    from grader.course import find_course
    from grader.stubgen import sync_stubs

    root = find_course(course).root
    changed = sync_stubs(root, write=not check_only)
    for path in changed:
        click.echo(f"{'out of date' if check_only else 'wrote'}: {path.relative_to(root)}")
    if not changed:
        click.echo("stubs are up to date")
    if check_only and changed:
        raise click.exceptions.Exit(1)


def _add_quiz_commands() -> None:
    from grader.quiz.cli import quiz

    cli.add_command(quiz)


_add_quiz_commands()


def main() -> None:
    cli(prog_name="grader")


if __name__ == "__main__":
    main()
