"""One submission never stops the class run.

Hostile submissions sit between honest ones: one builds a 3000-level directory chain
when imported, one trips an internal failure of the grader (injected), one kills its
grading process (``--jobs``, simulated). Each gets a result of its own with a one-line
flag, every honest submission gets exactly the result it gets alone, every output is
written, the run exits 0, ``--resume`` works afterwards, and no job folder is left.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import grader.plugin as plugin
from grader import parallel
from grader.cleanup import RemovalReport, remove_tree
from grader.cli import cli
from grader.engine import grade
from grader.isolation import Policy
from grader.plugin import INTERNAL_ERROR, GradingPlugin
from grader.reports import submission_to_dict
from grader.submission import Submission
from tests.conftest import HONEST_LOSSES, MINICOURSE, make_submission

pytestmark = pytest.mark.slow

BUGGY = HONEST_LOSSES.replace("sq.mean()", "sq.sum()")
DEEP = HONEST_LOSSES + (
    "\nimport os as _os\n"
    "_fd = _os.open('.', _os.O_RDONLY)\n"
    "for _ in range(3000):  # deeper than shutil.rmtree's recursion and than PATH_MAX\n"
    "    _os.mkdir('chain', dir_fd=_fd)\n"
    "    _next = _os.open('chain', _os.O_RDONLY, dir_fd=_fd)\n"
    "    _os.close(_fd)\n"
    "    _fd = _next\n"
    "_os.close(_fd)\n"
)
# A grading process that dies (as if the kernel killed it) whenever it is handed a
# submission whose id starts with "killer".
KILLER_BOOT = (
    "import os, sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from grader import plugin; real = plugin.GradingPlugin.grade; "
    "plugin.GradingPlugin.grade = lambda self, s: "
    "os.kill(os.getpid(), 9) if s.id.startswith('killer') else real(self, s); "
    "from grader.parallel import serve; serve()"
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("robust")
    sources = {"good": HONEST_LOSSES, "deep": DEEP, "faulty": HONEST_LOSSES, "faulty_mid": HONEST_LOSSES,
               "killer": HONEST_LOSSES, "buggy": BUGGY}
    return {name: make_submission(root, name, {"losses.py": text}) for name, text in sources.items()}


@pytest.fixture
def own_tmp(monkeypatch):
    """The run's temporary folders in a fresh folder (traversable, as /tmp is), which
    must hold nothing but the empty folder of job folders afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="grader-robust-"))
    folder.chmod(0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))  # for --jobs grading processes
    yield folder
    remove_tree(folder)


def _left(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.name.startswith("grader-jobs-"))


def _comparable(result) -> dict:
    data = submission_to_dict(result) if not isinstance(result, dict) else dict(result)
    data.pop("timing", None)
    return data


def _subs(folders: dict[str, Path], *names: str) -> list[Submission]:
    return [Submission(name, folders[name]) for name in names]


@pytest.fixture(scope="module")
def alone(minicourse, folders) -> dict[str, dict]:
    """The honest submissions graded without hostile neighbours, with every layer and
    without namespaces."""
    out = {}
    for policy in (Policy(), Policy(namespaces=False)):
        config = replace(minicourse.hidden(device="cpu"), isolation=policy, allow_weak_isolation=True)
        for result in grade(config, _subs(folders, "good", "buggy")):
            out[result.id, policy.namespaces] = _comparable(result)
    return out


def _inject_faults(monkeypatch) -> None:
    """Intake raises for 'faulty'; grading stops after three tests for 'faulty_mid'."""
    real_prepare = plugin.prepare

    def prepare(sub, *args, **kwargs):
        if sub.id == "faulty":
            raise RuntimeError("injected fault\nover two lines")
        return real_prepare(sub, *args, **kwargs)

    real_run_item = GradingPlugin._run_item

    def run_item(self, item, nextitem, current):
        if current.prepared.submission.id == "faulty_mid" and len(current.outcomes) == 3:
            raise KeyError("fault mid-way")
        return real_run_item(self, item, nextitem, current)

    monkeypatch.setattr(plugin, "prepare", prepare)
    monkeypatch.setattr(GradingPlugin, "_run_item", run_item)


@pytest.mark.parametrize("namespaces", [True, False], ids=["every-layer", "no-namespaces"])
def test_hostile_submissions_between_honest_ones(minicourse, folders, alone, own_tmp, monkeypatch, namespaces):
    _inject_faults(monkeypatch)
    config = replace(minicourse.hidden(device="cpu"), isolation=Policy(namespaces=namespaces),
                     allow_weak_isolation=True)
    names = ("good", "deep", "faulty", "faulty_mid", "buggy")
    results = {r.id: r for r in grade(config, _subs(folders, *names))}
    assert list(results) == list(names)
    for name in ("good", "buggy"):
        assert _comparable(results[name]) == alone[name, namespaces]
    # the chain is built (in the worker's tmpfs, or on the host disk without namespaces)
    # and removed: the submission is graded like an honest one
    deep = results["deep"]
    assert deep.score == 10.0 and _comparable(deep)["flags"] == alone["good", namespaces]["flags"]

    faulty = results["faulty"]
    flag = "internal grader error while grading this submission: RuntimeError: injected fault over two lines"
    assert faulty.flags[0] == flag and faulty.score == 0.0
    assert faulty.topics["losses"].status == "error"
    assert {t.message for t in faulty.topics["losses"].tests} == {flag}

    mid = results["faulty_mid"]
    assert mid.flags[0] == f"{INTERNAL_ERROR}: KeyError: 'fault mid-way'"
    tests = mid.topics["losses"].tests
    assert [t.status for t in tests[:3]] == ["passed"] * 3
    assert mid.topics["losses"].status == "error" and 0 < mid.score < 10
    assert all(t.message == mid.flags[0] for t in tests if t.status != "passed")
    assert _left(own_tmp) == [] and not any((own_tmp / f"grader-jobs-{os.getuid()}").iterdir())


def test_what_cleanup_leaves_is_a_flag(minicourse, folders, own_tmp, monkeypatch):
    def stubborn(path, **kwargs):
        remove_tree(path)
        return RemovalReport(str(path), 3, stopped="removing it took longer than 60 s")

    monkeypatch.setattr(plugin, "remove_tree", stubborn)
    (result,) = grade(minicourse.hidden(device="cpu"), _subs(folders, "good"))
    assert result.score == 10.0
    assert result.flags[-1] == (
        "the grader could not remove all of this submission's files afterwards: "
        "stopped after removing 3 entries: removing it took longer than 60 s"
    )


def _run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _outputs(out: Path, *subs: Path, extra: tuple = ()):
    return _run("grade", *subs, "--course", MINICOURSE, "--device", "cpu", "--quiet", "--json", out / "r.json",
                "--csv", out / "r.csv", "--gradescope", out / "gs", *extra)


def _check_outputs(out: Path, names: list[str]) -> dict[str, dict]:
    doc = json.loads((out / "r.json").read_text())
    assert [s["id"] for s in doc["submissions"]] == names
    assert [row["id"] for row in csv.DictReader((out / "r.csv").open())] == names
    assert sorted(p.name for p in (out / "gs").iterdir()) == sorted(names)
    assert not (out / "r.json.journal").exists()
    return {s["id"]: s for s in doc["submissions"]}


def test_cli_with_an_internal_failure_writes_every_output_and_resumes(folders, alone, own_tmp, tmp_path, monkeypatch):
    _inject_faults(monkeypatch)
    out = tmp_path / "out"
    names = ["good", "faulty", "deep", "buggy"]
    subs = [folders[n] for n in names]
    first = _outputs(out, *subs)
    assert first.exit_code == 0, first.output
    by_id = _check_outputs(out, names)
    for name in ("good", "buggy"):
        assert _comparable(by_id[name]) == alone[name, True]
    assert by_id["faulty"]["flags"][0].startswith(f"{INTERNAL_ERROR}: RuntimeError: injected fault")
    again = _outputs(out, *subs, extra=("--resume",))
    assert again.exit_code == 0, again.output
    assert _check_outputs(out, names) == by_id  # taken from the first run, not graded again
    assert _left(own_tmp) == []


def test_jobs_2_replaces_a_killed_grading_process(folders, alone, own_tmp, tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "_BOOT", KILLER_BOOT)
    out = tmp_path / "out"
    names = ["good", "killer", "deep", "buggy"]
    result = _outputs(out, *[folders[n] for n in names], extra=("--jobs", "2"))
    assert result.exit_code == 0, result.output
    by_id = _check_outputs(out, names)
    for name in ("good", "buggy"):
        assert _comparable(by_id[name]) == alone[name, True]
    assert by_id["deep"]["score"] == 10.0
    killer = by_id["killer"]
    assert killer["flags"] == [
        f"{INTERNAL_ERROR}: its grading process died twice (killed by SIGKILL); it was not graded"
    ]
    assert killer["score"] == 0.0 and killer["topics"]["losses"]["status"] == "error"
    assert len(killer["topics"]["losses"]["tests"]) == len(by_id["good"]["topics"]["losses"]["tests"])
    assert _left(own_tmp) == [] and not any((own_tmp / f"grader-jobs-{os.getuid()}").iterdir())


def test_jobs_2_still_stops_on_a_rubric_out_of_step_with_the_suite(folders, own_tmp, tmp_path):
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text("schema: 1\ntopics:\n  losses:\n    tests: {mse_loss: 1, cross_entropy: 1, bad_reduction: 1}\n")
    result = _run("grade", folders["good"], folders["buggy"], "--course", MINICOURSE, "--rubric", rubric,
                  "--device", "cpu", "--jobs", "2", "--quiet")
    assert result.exit_code == 2 and "no entry for test 'inputs_unchanged'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert _left(own_tmp) == []
