"""Benchmark: the adversarial corpus with and without the operating-system layers.

Grades every case of tests/adversarial/ in one batch (as the test suite does), once with
all the layers this machine offers and once with the process split, rlimits and the
scrubbed environment only, and lists the cases that beat the grader in each run (more
points than their honest parts, or a file left outside the scratch folder), how many
messages reached the loopback listener, and the batch time of each run.

Usage: python benchmarks/bench_adversarial_layers.py [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from grader.course import Course  # noqa: E402
from grader.isolation import Policy  # noqa: E402
from tests.test_adversarial import CASES, GROUPS, expected_points, graded_corpus  # noqa: E402

PROCESS_ONLY = Policy(namespaces=False, dedicated_user=False, landlock=False, seccomp=False)


def beaten(batch) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, case in CASES.items():
        result = batch.results[name]
        why = []
        want = expected_points(case)
        for group in GROUPS:
            got = sum(t.score for t in result.topics["losses"].tests if t.id.split("[")[0] == f"losses::{group}")
            if got > want[group] + 1e-9:
                why.append(f"{group} {got:g} > {want[group]:g}")
        if batch.leaks.get(name):
            why.append("left " + ", ".join(batch.leaks[name]))
        if why:
            out[name] = why
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    course = Course(ROOT / "tests" / "fixtures" / "minicourse")
    report = {}
    for label, policy in (("all layers", Policy()), ("process only", PROCESS_ONLY)):
        with tempfile.TemporaryDirectory(prefix="grader-bench-adv-") as tmp:
            adjust = (lambda c, p=policy: replace(c, isolation=p, allow_weak_isolation=True))
            with graded_corpus(Path(tmp), course, adjust=adjust) as batch:
                layers = sorted({layer for r in batch.results.values() for layer in r.isolation})
                report[label] = {
                    "layers": layers,
                    "cases": len(CASES),
                    "batch_s": round(batch.seconds, 1),
                    "beaten_by": beaten(batch),
                    "loopback_listener_heard": len(batch.heard),
                }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
