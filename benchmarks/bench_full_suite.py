"""Benchmark: the complete hidden suite (all topics) for one submission.

Grades a submission made from the reference (every topic, so every test runs to the
end) twice in one grader run and reports, for the first submission (which pays for
warm-up: imports, reference runs that are then cached) and the second (steady state),
the total time and each topic's suite time. Also times the capstone's reference
pipeline on its own and records the accuracy it reaches.

Usage: python benchmarks/bench_full_suite.py [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from grader import capstone, capstone_grading  # noqa: E402
from grader.course import Course  # noqa: E402
from grader.engine import grade  # noqa: E402
from grader.reference import ReferenceModules  # noqa: E402
from grader.rubric import load_rubric  # noqa: E402
from grader.stubgen import strip_markers  # noqa: E402
from grader.submission import Submission  # noqa: E402
from grader.topics import TOPICS  # noqa: E402


def reference_submission(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for topic in TOPICS:
        source = (ROOT / "reference" / f"{topic}.py").read_text(encoding="utf-8")
        (dest / f"{topic}.py").write_text(strip_markers(source), encoding="utf-8")
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    course = Course(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        subs = [Submission(f"reference-{i}", reference_submission(Path(tmp) / f"ref{i}")) for i in (1, 2)]
        t0 = time.perf_counter()
        results = grade(course.hidden(device="cpu"), subs, jobs=1)
        wall = time.perf_counter() - t0
    rows = []
    for r in results:
        per_topic = {t: r.timing.get(f"suite_s.{t}", 0.0) for t in TOPICS}
        rows.append({"score": r.score, "max_score": r.max_score, "total_s": r.timing["total_s"], "topics_s": per_topic})

    options = dict(load_rubric(ROOT / "reference" / "rubric.yaml").settings.get("capstone", {}))
    options.pop("slack", None)
    spec = capstone.PipelineSpec(**options)
    reference = ReferenceModules(ROOT / "reference")
    t0 = time.perf_counter()
    data = capstone.digits(seed=0)
    history = capstone_grading.history(capstone_grading.run_reference(reference, spec, data), spec, data)
    capstone_s = time.perf_counter() - t0

    report = {
        "wall_s_two_submissions": round(wall, 2),
        "first": rows[0],
        "steady": rows[1],
        "capstone_reference_s": round(capstone_s, 2),
        "capstone_reference_accuracy": history[-1]["test_accuracy"],
        "capstone_epochs": spec.epochs,
    }
    print(f"two reference submissions, all topics, one grader process: {wall:.1f} s wall")
    for label, row in (("first (with warm-up)", rows[0]), ("steady state", rows[1])):
        print(f"{label}: {row['total_s']:.2f} s total, score {row['score']:g}/{row['max_score']:g}")
        print("  " + ", ".join(f"{t} {s:.2f} s" for t, s in row["topics_s"].items()))
    print(
        f"capstone reference pipeline alone: {capstone_s:.2f} s for {spec.epochs} epochs, "
        f"test accuracy {history[-1]['test_accuracy']:.4f}"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
