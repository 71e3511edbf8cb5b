"""The process split: what a worker can and cannot do to the grader."""

from __future__ import annotations

import os
import textwrap
import time

import pytest
import torch

from grader.errors import BadReturn, StaleObject, StudentCrash, StudentError, StudentImportError, StudentTimeout, TopicMissing
from grader.sandbox import SandboxLimits
from grader.session import RemoteObject, SubmissionSession

STUDENT = textwrap.dedent(
    """
    import os, sys, time, subprocess, warnings
    import torch

    def add(a, b):
        return a + b

    def kinds():
        return {"t": torch.ones(2, dtype=torch.float64), "f": 1.5, "s": "x", "l": [1, (2, 3)], "n": None}

    def fails():
        raise ValueError("bad reduction 'avg'")

    def exits():
        os._exit(3)

    def segfault():
        import ctypes
        ctypes.string_at(0)

    def sleeps():
        time.sleep(60)

    def sleeps_with_child(path):
        try:
            subprocess.Popen(["sh", "-c", f"sleep 2; echo late > {path}"])
        except PermissionError:  # refused where seccomp is on
            pass
        time.sleep(60)

    def spin():
        while True:
            pass

    def hog_memory():
        return torch.empty(10**11).sum()

    def flood():
        sys.stdout.write("x" * (10 << 20))
        warnings.warn("just a warning")
        print("to stderr", file=sys.stderr)
        return 7

    def environment():
        return {"env": dict(os.environ), "cwd": os.getcwd(), "threads": torch.get_num_threads()}

    def write_file(n):
        with open("big.bin", "wb") as fh:
            fh.write(b"0" * n)
        return os.path.getsize("big.bin")

    def huge_result():
        return torch.zeros(40 << 20, dtype=torch.uint8)

    def apply(fn, x):
        return fn(x) + 1

    class Counter:
        def __init__(self, start):
            self.value = start
        def bump(self, by=1):
            self.value = self.value + by
            return self
    """
)


@pytest.fixture
def session(tmp_path, zygote):
    subdir = tmp_path / "modules"
    subdir.mkdir()
    (subdir / "losses.py").write_text(STUDENT)
    (subdir / "gradients.py").write_text("import os\nos._exit(0)\n")
    (subdir / "init.py").write_text("while True:\n    pass\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    limits = SandboxLimits(call_timeout=2, cpu_seconds=30, wall_seconds=60, memory_mb=2048, file_size_mb=1, result_mb=16)
    s = SubmissionSession(zygote, str(subdir), str(scratch), {"losses", "gradients", "init"}, limits)
    yield s
    s.close()


def call(s, name, *args, **kwargs):
    return s.call({"path": f"losses.{name}"}, args, kwargs, label=name, topic="losses")


def test_values_come_back_as_plain_data(session):
    assert torch.equal(call(session, "add", torch.ones(3), torch.ones(3)), torch.full((3,), 2.0))
    out = call(session, "kinds")
    assert out["t"].dtype == torch.float64 and out["f"] == 1.5 and out["l"] == [1, (2, 3)] and out["n"] is None


def test_student_exceptions_carry_type_message_and_line(session):
    with pytest.raises(StudentError) as err:
        call(session, "fails")
    assert err.value.type_name == "ValueError" and err.value.is_a("Exception")
    assert "bad reduction" in err.value.message and "losses.py:12 in fails" in err.value.message


def test_a_crash_fails_one_call_and_the_next_call_works(session):
    with pytest.raises(StudentCrash, match="exited with status 3"):
        call(session, "exits")
    with pytest.raises(StudentCrash, match="SIGSEGV"):
        call(session, "segfault")
    assert float(call(session, "add", torch.ones(1), torch.ones(1))) == 2.0
    assert session.stats.workers == 3


def test_timeout_kills_the_whole_process_group(session, tmp_path):
    marker = tmp_path / "late.txt"
    t0 = time.monotonic()
    with pytest.raises(StudentTimeout, match="did not finish within 2 s"):
        call(session, "sleeps_with_child", str(marker))
    assert time.monotonic() - t0 < 6
    time.sleep(2.5)
    assert not marker.exists(), "a child process outlived the timeout"


def test_a_function_that_timed_out_twice_is_not_called_again(session):
    for _ in range(2):
        with pytest.raises(StudentTimeout):
            call(session, "sleeps")
    t0 = time.monotonic()
    with pytest.raises(StudentTimeout, match="already timed out twice"):
        call(session, "sleeps")
    assert time.monotonic() - t0 < 0.5
    assert call(session, "add", 1, 2) == 3


def test_cpu_budget_stops_a_spinning_submission(tmp_path, zygote):
    subdir = tmp_path / "m"
    subdir.mkdir()
    (subdir / "losses.py").write_text(STUDENT)
    limits = SandboxLimits(call_timeout=30, cpu_seconds=2, wall_seconds=60)
    s = SubmissionSession(zygote, str(subdir), str(tmp_path), {"losses"}, limits)
    try:
        t0 = time.monotonic()
        with pytest.raises(StudentTimeout, match="CPU budget"):
            call(s, "spin")
        assert time.monotonic() - t0 < 10
        with pytest.raises(StudentTimeout, match="CPU budget"):
            call(s, "add", 1, 2)
    finally:
        s.close()


def test_memory_limit_is_an_error_not_a_dead_grader(session):
    with pytest.raises((StudentError, StudentCrash)):
        call(session, "hog_memory")
    assert call(session, "add", 1, 1) == 2


def test_output_floods_and_warnings_are_not_failures(session):
    assert call(session, "flood") == 7
    assert len(session.output.kept) <= 64 << 10 and session.output.total >= 10 << 20


def test_scrubbed_environment_scratch_cwd_and_single_thread(session, monkeypatch):
    info = call(session, "environment")
    assert "GRADER_SECRET" not in info["env"] and info["env"]["HOME"] == info["cwd"]
    assert info["cwd"] == session.scratch_dir
    assert info["threads"] == 1
    with pytest.raises(StudentError, match="File too large|EFBIG|Errno 27"):
        call(session, "write_file", 2 << 20)


def test_oversized_results_are_rejected(session):
    with pytest.raises(BadReturn, match="MiB limit"):
        call(session, "huge_result")
    assert call(session, "add", 2, 2) == 4


def test_callbacks_run_in_the_grader(session):
    assert float(call(session, "apply", lambda x: x * 10, torch.tensor(2.0))) == 21.0
    with pytest.raises(StudentError, match="the grader's function rejected"):
        call(session, "apply", lambda x: (_ for _ in ()).throw(ValueError("the grader's function rejected")), 1)


def test_remote_objects_forward_attributes_and_methods(session):
    counter = call(session, "Counter", torch.tensor(1.0))
    assert isinstance(counter, RemoteObject) and counter.remote_type == "Counter"
    counter.method("bump")(by=2)
    assert float(counter.value) == 3.0
    counter.value = torch.tensor(10.0)
    assert float(counter.bump().value) == 11.0
    with pytest.raises(StudentCrash):
        call(session, "exits")
    with pytest.raises(StaleObject, match="lost when your code crashed"):
        counter.value


def test_import_failures_are_remembered(session):
    with pytest.raises(StudentImportError, match="could not import gradients"):
        session.call({"path": "gradients.f"}, (), {}, label="f", topic="gradients")
    workers = session.stats.workers
    with pytest.raises(StudentImportError):
        session.call({"path": "gradients.g"}, (), {}, label="g", topic="gradients")
    assert session.stats.workers == workers  # a known-broken module is not imported again
    with pytest.raises(StudentImportError, match="did not finish"):
        session.call({"path": "init.f"}, (), {}, label="f", topic="init")
    t0 = time.monotonic()
    with pytest.raises(StudentImportError):
        session.call({"path": "init.g"}, (), {}, label="g", topic="init")
    assert time.monotonic() - t0 < 0.5
    with pytest.raises(TopicMissing):
        session.call({"path": "dropout.f"}, (), {}, label="f", topic="dropout")


@pytest.fixture(autouse=True)
def _secret_env(monkeypatch):
    monkeypatch.setenv("GRADER_SECRET", "do-not-leak")


def test_process_budget_counts_the_users_tasks():
    from grader.sandbox_child import _process_budget

    budget = _process_budget(10)
    if os.getuid() == 0:
        assert budget is None  # root is exempt from RLIMIT_NPROC
    else:
        assert budget is not None and budget >= 11


# -- limits the rubric sets, and the probe's cleanup -----------------------------------------
class _Spawned(Exception):
    def __init__(self, config: dict):
        super().__init__("spawn")
        self.config = config


class _RecordingZygote:
    """Stands in for the fork server: keeps the config a worker would get."""

    def spawn(self, config: dict, fds: list[int]) -> int:
        raise _Spawned(config)

    def isolation_config(self) -> dict:
        return {}


def test_intake_and_scratch_limits_come_from_the_rubric_and_reach_the_worker():
    from grader.errors import RubricError
    from grader.rubric import parse_rubric
    from grader.sandbox import OutputCapture, WorkerProcess

    assert (SandboxLimits().intake_seconds, SandboxLimits().scratch_mb) == (20.0, 256)
    topics = {"losses": {"tests": {"mse_loss": 1}}}
    rubric = parse_rubric({"schema": 1, "limits": {"intake_seconds": 2.5, "scratch_mb": 64}, "topics": topics})
    assert (rubric.limits.intake_seconds, rubric.limits.scratch_mb) == (2.5, 64)
    with pytest.raises(RubricError, match="limits.scratch_mb"):
        parse_rubric({"schema": 1, "limits": {"scratch_mb": 0.5}, "topics": topics})
    with pytest.raises(_Spawned) as spawned:
        WorkerProcess(_RecordingZygote(), "/job/modules", "/job/scratch", rubric.limits, 10.0, False, OutputCapture(64))
    assert spawned.value.config["scratch_mb"] == 64 and spawned.value.config["scratch"] == "/job/scratch"


def test_the_probe_leaves_no_folder_behind(zygote, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    zygote.probe()
    assert list(tmp_path.iterdir()) == []
