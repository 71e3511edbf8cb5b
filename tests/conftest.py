from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

from grader.course import Course
from grader.sandbox import Zygote

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MINICOURSE = FIXTURES / "minicourse"
# Small tensors everywhere: one thread is faster than a pool that oversubscribes the CPU,
# and it is what the grader itself uses.
torch.set_num_threads(1)

# Property tests draw the same examples on every run, so a CI result does not depend on
# luck; HYPOTHESIS_PROFILE=explore draws fresh random examples (1000 per test that sets
# no count of its own) to hunt for new counterexamples locally.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

HONEST_LOSSES = (MINICOURSE / "reference" / "losses.py").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def minicourse() -> Course:
    return Course(MINICOURSE)


@pytest.fixture(scope="session")
def zygote():
    z = Zygote().start()
    yield z
    z.close()


def make_submission(root: Path, name: str, files: dict[str, str]) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for rel, text in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return folder
