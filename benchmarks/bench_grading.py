"""Benchmark: what grading costs per submission, and against what.

Measures, on this machine, in one run:

1. one complete submission (all ten topics): fork-server start, the
   worker's start (fork + imports), the suites' own time (pytest test bodies: reference,
   student calls and comparisons) and the overhead beyond it (intake, static check,
   scheduling, scoring);
2. 30 submissions graded in a row by one grader process (--jobs 1) and by two (--jobs 2);
3. the baseline: a fresh ``grader grade`` process per submission, the way a per-student
   script runs a grader, timed on a few submissions and quoted per submission.

Usage: python benchmarks/bench_grading.py [--class-size 30] [--baseline 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.course import Course  # noqa: E402
from grader.engine import grade  # noqa: E402
from grader.sandbox import Zygote  # noqa: E402
from grader.submission import Submission  # noqa: E402

SAMPLES = ["alice", "bob", "carol"]


def make_class(dest: Path, size: int) -> list[Submission]:
    subs = []
    for i in range(size):
        name = f"student{i:03d}"
        shutil.copytree(ROOT / "examples" / "class" / SAMPLES[i % len(SAMPLES)], dest / name)
        subs.append(Submission(name, dest / name))
    return subs


def overhead(result) -> float:
    return result.timing["total_s"] - result.timing["suite_s"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--class-size", type=int, default=30)
    parser.add_argument("--baseline", type=int, default=3, help="submissions timed with a process each")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    config = Course(ROOT).hidden(device="cpu")
    report: dict = {}

    with tempfile.TemporaryDirectory() as tmp:
        subs = make_class(Path(tmp), args.class_size)

        t0 = time.perf_counter()
        z = Zygote().start()
        z.wait_ready()
        report["fork_server_start_s"] = time.perf_counter() - t0
        z.close()

        # 1. one complete (correct) submission, alone in its run
        t0 = time.perf_counter()
        (single,) = grade(config, [subs[0]])
        report["single"] = {"wall_s": time.perf_counter() - t0, **single.timing, "overhead_s": overhead(single)}

        # 2. the class in a row, one process and two
        for jobs in (1, 2):
            t0 = time.perf_counter()
            results = grade(config, subs, jobs=jobs)
            wall = time.perf_counter() - t0
            steady = results[len(SAMPLES):] if jobs == 1 else results
            report[f"class_jobs{jobs}"] = {
                "submissions": len(results),
                "wall_s": wall,
                "per_submission_s": wall / len(results),
                "mean_total_s": statistics.mean(r.timing["total_s"] for r in results),
                "mean_suite_s": statistics.mean(r.timing["suite_s"] for r in results),
                "mean_overhead_s": statistics.mean(overhead(r) for r in steady),
                "max_overhead_s": max(overhead(r) for r in steady),
                "mean_spawn_s": statistics.mean(r.timing["spawn_s"] for r in results),
                "scores": sorted({r.score for r in results}),
            }

        # 3. baseline: a fresh grader process per submission
        times = []
        for sub in subs[: args.baseline]:
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "grader", "grade", str(sub.path), "--quiet", "--device", "cpu"],
                cwd=ROOT, check=True,
            )
            times.append(time.perf_counter() - t0)
        report["baseline_process_per_submission_s"] = statistics.mean(times)

    per_sub = report["class_jobs1"]["per_submission_s"]
    report["speedup_vs_process_per_submission_jobs1"] = report["baseline_process_per_submission_s"] / per_sub
    report["speedup_vs_process_per_submission_jobs2"] = (
        report["baseline_process_per_submission_s"] / report["class_jobs2"]["per_submission_s"]
    )

    single = report["single"]
    print(f"fork server start (one per run):      {report['fork_server_start_s']:.2f} s")
    print("one submission alone (first in its run):")
    print(f"  total {single['total_s']:.2f} s = suites {single['suite_s']:.2f} s + overhead {single['overhead_s']:.3f} s"
          f" (worker start {single['spawn_s']:.3f} s, {single['student_calls']} calls into student code)")
    for jobs in (1, 2):
        c = report[f"class_jobs{jobs}"]
        print(f"{c['submissions']} submissions, --jobs {jobs}: {c['wall_s']:.1f} s wall, {c['per_submission_s']:.2f} s per "
              f"submission; suites {c['mean_suite_s']:.2f} s, overhead mean {c['mean_overhead_s']:.3f} s "
              f"(max {c['max_overhead_s']:.3f} s)")
    print(f"baseline, a grader process per submission: {report['baseline_process_per_submission_s']:.2f} s per submission")
    print(f"speed-up over the baseline: {report['speedup_vs_process_per_submission_jobs1']:.1f}x (--jobs 1), "
          f"{report['speedup_vs_process_per_submission_jobs2']:.1f}x (--jobs 2)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
