"""The sandbox dies with the grader: ``kill -9`` of a grading run leaves no process behind.

A grader killed outright runs no clean-up of its own. Its grading processes (``--jobs``)
watch a pipe only the grader holds, its fork servers get a signal from the kernel when
the process that started them ends, and so do the workers they fork; each checks right
after arming that signal that its parent has not died already.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grader import sandbox_child
from grader.cleanup import remove_tree
from tests.conftest import MINICOURSE

ROOT = Path(__file__).resolve().parent.parent
LINUX = sys.platform.startswith("linux")
pytestmark = pytest.mark.skipif(not LINUX, reason="parent-death signals and /proc are Linux only")

# Importing it keeps a worker busy for a minute: long enough that only dying with the
# grader ends it within the test.
SLEEPY = "import time\ntime.sleep(60)\n"


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of ``pid``, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0], int(fields[19])


def _descendants(root: int) -> dict[int, int]:
    """Every process below ``root``, by pid, with its depth under it (1: a child)."""
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            info = _stat(int(name))
            if info is not None and info[1] != "Z":
                parents[int(name)] = info[0]
    depth: dict[int, int] = {}
    frontier, level = [root], 0
    while frontier:
        level += 1
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier and pid not in depth]
        depth.update(dict.fromkeys(frontier, level))
    return depth


def _alive(pid: int, started: int) -> bool:
    info = _stat(pid)
    return info is not None and info[1] != "Z" and info[2] == started


@pytest.mark.slow
def test_kill_9_of_a_jobs_2_run_takes_every_grading_process_fork_server_and_worker_along(tmp_path):
    # Workers may run as a dedicated user: the run's temporary folder must be passable.
    work = Path(tempfile.mkdtemp(prefix="grader-test-pdeath-"))
    work.chmod(0o755)
    try:
        subs = []
        for name in ("s1", "s2"):
            sub = work / name
            sub.mkdir()
            (sub / "losses.py").write_text(SLEEPY)
            sub.chmod(0o755)
            (sub / "losses.py").chmod(0o644)
            subs.append(str(sub))
        rubric = tmp_path / "rubric.yaml"
        text = (MINICOURSE / "reference" / "rubric.yaml").read_text()
        text = text.replace("call_timeout: 3,", "call_timeout: 120,").replace("wall_seconds: 60", "wall_seconds: 300")
        rubric.write_text(text)
        assert "call_timeout: 120" in rubric.read_text()
        env = {**os.environ, "TMPDIR": str(work)}
        err = tmp_path / "stderr"
        with err.open("wb") as err_out:
            grader = subprocess.Popen(
                [sys.executable, "-m", "grader", "grade", *subs, "--course", str(MINICOURSE), "--rubric", str(rubric),
                 "--device", "cpu", "--jobs", "2", "--quiet", "--allow-weak-isolation"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err_out,
            )
        try:
            # grader -> grading process -> fork server -> worker: two of each, and the
            # workers busy with the submissions (the probe worker comes and goes first)
            deadline = time.monotonic() + 60
            while True:
                tree = _descendants(grader.pid)
                busy = [pid for pid, depth in tree.items() if depth == 3]
                if len([p for p, d in tree.items() if d == 2]) == 2 and len(busy) >= 2:
                    time.sleep(0.5)
                    tree = _descendants(grader.pid)
                    if len([p for p, d in tree.items() if d >= 3]) >= 2:
                        break
                assert grader.poll() is None, err.read_text(errors="replace")
                assert time.monotonic() < deadline, f"the run never started its workers: {tree}"
                time.sleep(0.05)
            started = {pid: info[2] for pid in tree if (info := _stat(pid)) is not None}
            grader.kill()
            grader.wait()
            killed = time.monotonic()
            left = dict(started)
            while left and time.monotonic() - killed < 3:
                left = {pid: t for pid, t in left.items() if _alive(pid, t)}
                time.sleep(0.02)
            spent = time.monotonic() - killed
        finally:
            if grader.poll() is None:
                grader.kill()
                grader.wait()
        survivors = {pid: tree[pid] for pid in left}
        for pid, t in left.items():  # leave nothing running, whatever the outcome
            if _alive(pid, t):
                os.kill(pid, signal.SIGKILL)
        assert not survivors, f"still running {spent:.1f} s after the grader died (pid: depth): {survivors}"
        assert len(started) >= 6  # two grading processes, two fork servers, their workers
    finally:
        remove_tree(work)


def _forked(body) -> bytes:
    """Run ``body(write_fd)`` in a forked child; what it wrote, once every copy of the
    pipe's write end is closed (the child, and anything it forked, ended)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            body(w)
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            if select.select([r], [], [], 0.1)[0]:
                data = os.read(r, 1024)
                if not data:
                    break
                chunks.append(data)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    return b"".join(chunks)


def test_a_worker_whose_parent_dies_is_killed_and_one_whose_parent_already_died_ends_itself():
    def parent(w: int) -> None:
        armed_r, armed_w = os.pipe()
        if os.fork() == 0:  # the worker
            me = os.getppid()
            sandbox_child.stay_with_parent(me)
            os.write(armed_w, b"x")
            time.sleep(5)
            os.write(w, b"outlived its parent")
            os._exit(0)
        os.read(armed_r, 1)
        os.write(w, b"armed;")
        # the parent ends here: the worker must die with it

    assert _forked(parent) == b"armed;"

    def late(w: int) -> None:
        if os.fork() == 0:
            me = os.getppid()
            while os.getppid() == me:  # armed only after the parent ended
                time.sleep(0.01)
            sandbox_child.stay_with_parent(me)
            os.write(w, b"ran on without its parent")
            os._exit(0)

    assert _forked(late) == b""


def test_process_1_of_a_namespace_learns_of_its_parent_through_the_lifeline():
    def gone(w: int) -> None:
        r, held = os.pipe()
        os.close(held)  # as if the parent (which holds the only write end) had died
        sandbox_child.stay_with_parent(lifeline=r)
        os.write(w, b"ran on without its parent")

    def there(w: int) -> None:
        r, held = os.pipe()
        sandbox_child.stay_with_parent(lifeline=r)
        os.write(w, b"kept")

    assert _forked(gone) == b""
    assert _forked(there) == b"kept"
