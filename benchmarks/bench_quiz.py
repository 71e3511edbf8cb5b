"""Benchmark: grading a class's quiz answers, every shipped quiz.

For each ``quizzes/*.yaml`` it writes one answer file per student (default 200) into a
temporary folder: a mix of answer keys, wrong answers, malformed answers, missing answers
and a few unreadable files. Then it times, per quiz and in total:

1. in-process grading: reading the files, drawing each student's variant, parsing and
   scoring every answer (code_output builds are done beforehand and not timed: they happen
   once per quiz build, never at grading time);
2. the same through the CLI entry (``grader quiz grade`` via click, in-process, with
   ``--json`` and ``--csv``), which adds loading, the build-cache lookup and the reports.

It prints seconds, answers per second and the cost per answer, and compares against the
5 s target for 200 students x all quizzes. As a baseline measured in the same run, the
first --baseline students of one quiz are graded the way a per-student script would:
one `grader quiz grade` process each. It asserts nothing about time.

Usage: python benchmarks/bench_quiz.py [--students 200] [--baseline 10] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from grader.quiz.answers import read_sheet  # noqa: E402
from grader.quiz.build import build  # noqa: E402
from grader.quiz.cli import quiz as quiz_cli  # noqa: E402
from grader.quiz.grading import grade_sheet  # noqa: E402
from grader.quiz.model import Quiz  # noqa: E402
from grader.quiz.schema import load_quiz  # noqa: E402
from grader.quiz.selftest import MALFORMED, wrong_answer_raw  # noqa: E402
from grader.quiz.variant import make_variant  # noqa: E402

TARGET_S = 5.0


def write_class(quiz: Quiz, folder: Path, n: int, outputs: dict[str, str]) -> list[Path]:
    """Answer files for n students: mostly right, some wrong, malformed or missing."""
    salt = quiz.salt()
    paths = []
    for i in range(n):
        student = f"s{i:04d}"
        answers = {}
        for j, q in enumerate(quiz.questions):
            kind = (i + j) % 10
            variant = make_variant(quiz, q, student, salt, outputs)
            if kind < 6:
                answers[q.id] = variant.expected
            elif kind < 8 and q.wrong_answers:
                answers[q.id] = wrong_answer_raw(q, variant, q.wrong_answers[(i + j) % len(q.wrong_answers)].answer)
            elif kind == 8:
                answers[q.id] = MALFORMED[q.type]
        path = folder / f"{student}.yaml"
        if i % 50 == 49:
            path.write_text("student: [unclosed\n", encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump({"student": student, "quiz": quiz.id, "answers": answers}),
                            encoding="utf-8")
        paths.append(path)
    return paths


BASELINE_QUIZ = "losses"


def per_student_processes(quiz_path: Path, files: list[Path], cache: Path) -> float:
    """Mean seconds per student when every answer file gets its own `grader quiz grade` process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    for f in files:
        subprocess.run([sys.executable, "-m", "grader", "quiz", "grade", str(quiz_path), str(f), "--quiet",
                        "--cache", str(cache)], check=True, env=env, capture_output=True)
    return (time.perf_counter() - start) / len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--baseline", type=int, default=10,
                        help="students graded one `grader quiz grade` process each, as a per-student script would")
    args = parser.parse_args()
    quiz_files = sorted((ROOT / "quizzes").glob("*.yaml"))
    rows, total_lib, total_cli, total_answers = [], 0.0, 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        for path in quiz_files:
            quiz = load_quiz(path)
            folder = Path(tmp) / quiz.id
            folder.mkdir()
            students = [f"s{i:04d}" for i in range(args.students)]
            outputs = build(quiz, students, quiz.salt(), cache)  # build time, not grading time
            files = write_class(quiz, folder, args.students, outputs)
            start = time.perf_counter()
            results = [grade_sheet(quiz, read_sheet(f), quiz.salt(), outputs) for f in files]
            lib = time.perf_counter() - start
            start = time.perf_counter()
            out = CliRunner().invoke(quiz_cli, ["grade", str(path), *map(str, files), "--quiet", "--cache", str(cache),
                                                "--json", str(folder / "out.json"), "--csv", str(folder / "out.csv")])
            cli = time.perf_counter() - start
            if out.exit_code != 0:
                raise SystemExit(f"CLI failed for {path.name}: {out.output}")
            n_answers = sum(len(r.answers) for r in results)
            errors = sum(1 for r in results for a in r.answers if a.format_error)
            rows.append({"quiz": quiz.id, "answers": n_answers, "format_errors": errors,
                         "library_s": round(lib, 3), "cli_s": round(cli, 3)})
            total_lib, total_cli, total_answers = total_lib + lib, total_cli + cli, total_answers + n_answers
            if quiz.id == BASELINE_QUIZ and args.baseline:
                baseline = per_student_processes(path, files[: args.baseline], cache)
                ours = cli / len(files)
    print(f"{'quiz':<14}{'answers':>9}{'fmt err':>9}{'library s':>11}{'cli s':>9}")
    for r in rows:
        print(f"{r['quiz']:<14}{r['answers']:>9}{r['format_errors']:>9}{r['library_s']:>11.3f}{r['cli_s']:>9.3f}")
    per_answer_us = 1e6 * total_lib / max(total_answers, 1)
    print(f"{'total':<14}{total_answers:>9}{'':>9}{total_lib:>11.3f}{total_cli:>9.3f}")
    print(f"per answer: {per_answer_us:.0f} us in the library; {total_answers / total_lib:.0f} answers/s")
    print(f"target: {args.students} students x {len(rows)} quizzes within {TARGET_S:g} s; "
          f"library {total_lib / TARGET_S:.2f}x of the budget, CLI {total_cli / TARGET_S:.2f}x")
    if args.baseline:
        print(f"baseline ({BASELINE_QUIZ}): one grader process per student, {args.baseline} students: "
              f"{baseline:.3f} s each; one run for the class: {ours:.4f} s each ({baseline / ours:.0f}x faster)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "library_s": total_lib, "cli_s": total_cli,
                                         "per_answer_us": per_answer_us}, indent=1))


if __name__ == "__main__":
    main()
