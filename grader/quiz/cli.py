"""``grader quiz``: validate, render, grade and export quizzes (a thin layer over the library)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from grader.cli_group import OneLineErrors
from grader.errors import GraderError, UsageError
from grader.quiz.answers import read_sheet
from grader.quiz.build import build, build_many
from grader.quiz.export import export_quiz, suffix
from grader.quiz.grading import grade_sheet
from grader.quiz.model import Quiz, QuizError
from grader.quiz.render import render_quiz
from grader.quiz.report import format_table, write_csv, write_json
from grader.quiz.schema import load_quiz
from grader.quiz.selftest import SAMPLE_STUDENTS, selftest_quiz
from grader.textsafe import terminal

SALT_ENV = "GRADER_QUIZ_SALT"
CACHE_ENV = "GRADER_QUIZ_CACHE"


def _cache_dir(option: str | None) -> Path | None:
    """``--cache DIR``, else $GRADER_QUIZ_CACHE, else the user cache folder; "none" disables."""
    value = option or os.environ.get(CACHE_ENV)
    if value == "none":
        return None
    if value:
        return Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nn-grader" / "quiz-build"


_salt = click.option("--salt", envvar=SALT_ENV, default=None,
                     help=f"Course salt for the per-student draws (default: the quiz's seed_salt; env {SALT_ENV}).")
_cache = click.option("--cache", "cache", default=None, metavar="DIR",
                      help=f"Folder caching code_output builds ('none' to disable; env {CACHE_ENV}).")


@click.group(cls=OneLineErrors)
def quiz() -> None:
    """YAML quizzes: per-student parameters, auto-grading, LMS exports."""


@quiz.command()
@click.argument("quizzes", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--no-selftest", is_flag=True, help="Only check the schema, do not run the self-tests.")
@_cache
def validate(quizzes: tuple[str, ...], no_selftest: bool, cache: str | None) -> None:
    """Check QUIZ files against the schema and run every question's self-test."""
    problems: list[str] = []
    loaded: list[Quiz] = []
    for name in quizzes:
        try:
            loaded.append(load_quiz(name))
        except QuizError as exc:
            problems.extend(exc.issues)
    outputs: dict[str, str] = {}
    if not no_selftest:
        try:
            outputs = build_many(loaded, SAMPLE_STUDENTS, None, _cache_dir(cache))
        except GraderError as exc:
            problems.append(str(exc))
            no_selftest = True
    for one in loaded:
        found = [] if no_selftest else selftest_quiz(one, SAMPLE_STUDENTS, outputs=outputs)
        problems.extend(found)
        if not found:
            click.echo(f"ok {one.path}: {len(one.questions)} questions, {one.max_points:g} points")
    for line in problems:
        click.echo(line, err=True)
    if problems:
        raise UsageError(f"{len(problems)} problem(s) in {len(quizzes)} quiz file(s)")


@quiz.command()
@click.argument("quiz_file", metavar="QUIZ", type=click.Path(dir_okay=False))
@click.option("--student", required=True, help="Student id whose variant to render.")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "ipynb"]), default="md", show_default=True,
              help="Markdown, an HTML page, or a Jupyter notebook.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write here instead of stdout.")
@_salt
def render(quiz_file: str, student: str, fmt: str, output: str | None, salt: str | None) -> None:
    """Render QUIZ as one student sees it (no answers)."""
    loaded = load_quiz(quiz_file)
    text = render_quiz(loaded, student, fmt, loaded.salt(salt))
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@quiz.command()
@click.argument("quiz_file", metavar="QUIZ", type=click.Path(dir_okay=False))
@click.argument("answers", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write every graded answer here.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="A row per student, a column per question.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print the table.")
@_salt
@_cache
def grade(quiz_file: str, answers: tuple[str, ...], json_path: str | None, csv_path: str | None,
          quiet: bool, salt: str | None, cache: str | None) -> None:
    """Grade ANSWERS files (one YAML or JSON file per student) for QUIZ."""
    loaded = load_quiz(quiz_file)
    course_salt = loaded.salt(salt)
    sheets = [read_sheet(path) for path in answers]
    outputs = build(loaded, [s.student for s in sheets], course_salt, _cache_dir(cache))
    results = [grade_sheet(loaded, sheet, course_salt, outputs) for sheet in sheets]
    if json_path:
        write_json(results, Path(json_path))
    if csv_path:
        write_csv(loaded, results, Path(csv_path))
    if not quiet:
        click.echo(format_table(loaded, results))
    for result in results:
        if result.error:
            click.echo(f"format error: {terminal(result.error)}", err=True)  # names the student's file


@quiz.command()
@click.argument("results_file", metavar="RESULTS", type=click.Path(dir_okay=False))
@click.option("--quiz", "quiz_file", type=click.Path(dir_okay=False),
              help="The quiz file: marks the correct choices and lists the ones nobody picked.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the statistics as JSON.")
def analyse(results_file: str, quiz_file: str | None, json_path: str | None) -> None:
    """Item analysis of RESULTS (from `grader quiz grade --json`): facility, discrimination
    and discriminative efficiency per question (Moodle's), how often each choice was picked
    and its point-biserial (Canvas's), format errors and blanks, and the items to review."""
    import json

    from grader.quiz.analysis import analyse as analyse_items
    from grader.quiz.analysis import analysis_to_dict, render_analysis
    from grader.reports import atomic_write

    try:
        data = json.loads(Path(results_file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{results_file}: cannot read quiz results ({type(exc).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("students"), list):
        raise UsageError(f"{results_file}: not the output of grader quiz grade --json")
    analysis = analyse_items(data["students"], load_quiz(quiz_file) if quiz_file else None)
    click.echo(render_analysis(analysis))
    if json_path:
        atomic_write(json_path, json.dumps(analysis_to_dict(analysis), indent=1, allow_nan=False) + "\n")


@quiz.command()
@click.argument("quiz_file", metavar="QUIZ", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["qti", "moodle-xml", "gift"]), required=True,
              help="qti: a Canvas QTI 1.2 zip; moodle-xml or gift: a Moodle question bank.")
@click.option("--variants", type=click.IntRange(1, 200), default=5, show_default=True,
              help="Variants per parameterized question (a pool).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Output file (default: <quiz id>.qti.zip, .moodle.xml or .gift.txt).")
@click.option("--strict", is_flag=True, help="Exit 2 when a question cannot be carried by the format.")
@_salt
@_cache
def export(quiz_file: str, fmt: str, variants: int, output: str | None, strict: bool, salt: str | None,
           cache: str | None) -> None:
    """Export QUIZ for Canvas (QTI 1.2 zip) or Moodle (XML, GIFT)."""
    loaded = load_quiz(quiz_file)
    target = Path(output or f"{loaded.id}{suffix(fmt)}")
    report = export_quiz(loaded, fmt, target, variants, loaded.salt(salt), _cache_dir(cache))
    for line in report.skipped + report.notes:
        click.echo(line, err=True)
    click.echo(f"wrote {target}: {report.exported} question(s), {len(report.skipped)} not carried")
    if strict and report.skipped:
        raise UsageError(f"{len(report.skipped)} question(s) cannot be carried by {fmt}")
