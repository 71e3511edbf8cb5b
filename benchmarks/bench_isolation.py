"""Benchmark: what the operating-system layers cost per worker and per submission.

Two sandbox policies are measured in one run, interleaved so machine noise hits both:

- ``process only``: the process split, rlimits and the scrubbed environment, with every
  optional layer turned off (what a machine without namespaces, Landlock or seccomp gets);
- ``all layers``: PID/network/IPC/mount namespaces with the private file view, a dedicated
  uid (as root), Landlock and seccomp (what the grader uses wherever the kernel allows).

1. Worker start: spawn a worker, wait for its isolation report, make one call, end it.
2. Whole submissions: bundled example submissions graded for the chosen topics with one
   grader process; the per-submission time is compared.

Usage: python benchmarks/bench_isolation.py [--workers 40] [--class-size 6] [--topic T]... [--json F]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from grader.course import Course  # noqa: E402
from grader.engine import grade_in_process  # noqa: E402
from grader.isolation import Policy  # noqa: E402
from grader.sandbox import SandboxLimits, Zygote  # noqa: E402
from grader.session import SubmissionSession  # noqa: E402
from grader.submission import Submission  # noqa: E402

POLICIES = {
    "process only": Policy(namespaces=False, dedicated_user=False, landlock=False, seccomp=False),
    "all layers": Policy(),
}


def worker_starts(zygote: Zygote, n: int) -> list[float]:
    job = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    try:
        (job / "modules").mkdir()
        (job / "modules" / "losses.py").write_text("def add(a, b):\n    return a + b\n")
        times = []
        for i in range(n):
            scratch = job / f"scratch{i}"
            scratch.mkdir()
            t0 = time.perf_counter()
            session = SubmissionSession(zygote, str(job / "modules"), str(scratch), {"losses"}, SandboxLimits())
            assert session.call({"path": "losses.add"}, (1, 2), {}, label="add", topic="losses") == 3
            session.close()
            times.append(time.perf_counter() - t0)
        return times
    finally:
        shutil.rmtree(job, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=40)
    parser.add_argument("--class-size", type=int, default=6)
    parser.add_argument("--topic", action="append", dest="topics")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    topics = tuple(args.topics or ("losses", "activations", "optimizers"))
    report: dict = {"topics": list(topics), "policies": {}}

    zygotes = {name: Zygote(policy).start() for name, policy in POLICIES.items()}
    try:
        for name, z in zygotes.items():
            z.wait_ready()
            layers = z.probe()["isolation"]["layers"]
            report["policies"][name] = {"layers": list(layers)}
            worker_starts(z, 3)  # warm up
        starts: dict[str, list[float]] = {name: [] for name in zygotes}
        for _ in range(args.workers // 4):  # interleaved rounds
            for name, z in zygotes.items():
                starts[name] += worker_starts(z, 4)
        for name, times in starts.items():
            report["policies"][name]["worker_start_ms"] = {
                "median": round(1000 * statistics.median(times), 1),
                "p90": round(1000 * sorted(times)[int(0.9 * len(times))], 1),
            }

        course = Course(ROOT)
        base = course.hidden(topics=topics, device="cpu")
        dest = Path(tempfile.mkdtemp(prefix="grader-bench-class-"))
        try:
            samples = ["alice", "bob", "carol"]
            subs = []
            for i in range(args.class_size):
                shutil.copytree(ROOT / "examples" / "class" / samples[i % 3], dest / f"s{i:02d}")
                subs.append(Submission(f"s{i:02d}", dest / f"s{i:02d}"))
            per_sub: dict[str, list[float]] = {name: [] for name in zygotes}
            scores: dict[str, list[float]] = {name: [] for name in zygotes}
            for sub in subs:
                for name, z in zygotes.items():
                    out = []
                    config = replace(base, isolation=POLICIES[name], allow_weak_isolation=True)
                    grade_in_process(config, [sub], out.append, zygote=z)
                    per_sub[name].append(out[0].timing["total_s"])
                    scores[name].append(out[0].score)
            assert scores["process only"] == scores["all layers"], "the layers changed a score"
            for name, times in per_sub.items():
                report["policies"][name]["submission_s"] = {
                    "median": round(statistics.median(times), 3),
                    "mean": round(statistics.mean(times), 3),
                }
        finally:
            shutil.rmtree(dest, ignore_errors=True)
    finally:
        for z in zygotes.values():
            z.close()

    base_p, full_p = report["policies"]["process only"], report["policies"]["all layers"]
    report["worker_start_overhead_ms"] = round(
        full_p["worker_start_ms"]["median"] - base_p["worker_start_ms"]["median"], 1
    )
    report["worker_start_ratio"] = round(full_p["worker_start_ms"]["median"] / base_p["worker_start_ms"]["median"], 2)
    report["submission_ratio"] = round(full_p["submission_s"]["mean"] / base_p["submission_s"]["mean"], 3)
    report["submission_overhead_s"] = round(full_p["submission_s"]["mean"] - base_p["submission_s"]["mean"], 3)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
