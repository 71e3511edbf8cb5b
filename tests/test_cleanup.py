"""Removing what a submission left: deep chains, locked folders, links, budgets."""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Callable

import pytest

from grader import cleanup
from grader.cleanup import RemovalReport, remove_tree

IS_ROOT = os.getuid() == 0
NOBODY = 65534


def _chain(top: Path, depth: int, name: str = "d") -> None:
    """``depth`` nested folders under ``top``, each with a file, built through
    descriptors (the full path is far longer than PATH_MAX)."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
            os.mkdir(name, dir_fd=fd)
            deeper = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = deeper
    finally:
        os.close(fd)


def test_a_3000_level_chain_longer_than_path_max_is_removed(tmp_path):
    top = tmp_path / "job"
    top.mkdir()
    _chain(top, 3000, name="n" * 30)  # about 93,000 characters of path
    open_fds = len(os.listdir("/proc/self/fd"))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # far fewer descriptors than levels: the walk holds a bounded number open
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_fds + 100, hard))
    try:
        started = time.perf_counter()
        report = remove_tree(top)
        spent = time.perf_counter() - started
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert report.complete and report.describe() == ""
    assert report.removed == 6001  # 3000 folders, 3000 files and the top
    assert not top.exists() and spent < 10
    assert len(os.listdir("/proc/self/fd")) == open_fds


def test_links_are_removed_never_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("grader's")
    top = tmp_path / "job"
    (top / "a").mkdir(parents=True)
    (top / "a" / "to_folder").symlink_to(outside)
    (top / "a" / "to_file").symlink_to(outside / "keep.txt")
    (top / "dangling").symlink_to(tmp_path / "nowhere")
    assert remove_tree(top).complete
    assert not top.exists() and (outside / "keep.txt").read_text() == "grader's"
    link = tmp_path / "link"
    link.symlink_to(outside)  # the tree itself is a link: only the link goes
    assert remove_tree(link).complete
    assert not link.is_symlink() and (outside / "keep.txt").exists()


def test_a_file_or_a_missing_path(tmp_path):
    single = tmp_path / "single"
    single.write_text("x")
    assert remove_tree(single).complete and not single.exists()
    gone = remove_tree(tmp_path / "never-there")
    assert gone.complete and gone.removed == 0


def test_budgets_stop_the_removal_with_a_report(tmp_path):
    top = tmp_path / "many"
    top.mkdir()
    for i in range(200):
        (top / f"f{i}").write_text("")
    report = remove_tree(top, max_entries=50)
    assert not report.complete and "more than 50 entries" in (report.stopped or "")
    assert report.describe().startswith("stopped after removing") and top.exists()
    slow = remove_tree(top, seconds=0)
    assert "longer than 0 s" in (slow.stopped or "")
    assert remove_tree(top).complete and not top.exists()


def test_it_never_raises(tmp_path, monkeypatch):
    top = tmp_path / "job"
    (top / "a").mkdir(parents=True)

    def broken(*args, **kwargs):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(cleanup.os, "scandir", broken)
    report = remove_tree(top)
    assert isinstance(report, RemovalReport) and report.stopped == "RuntimeError: the disk caught fire"


@pytest.fixture
def open_tmp():
    """A folder another user can reach (pytest's own are private to their owner)."""
    folder = Path(tempfile.mkdtemp(prefix="grader-cleanup-test-"))
    os.chmod(folder, 0o755)
    yield folder
    remove_tree(folder)


def _in_child(body: Callable[[], dict]) -> dict:
    """``body()`` run in a forked child; what it returns comes back as JSON (an exception
    as ``{"error": ...}``)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(read)
            os.write(write, json.dumps(body()).encode())
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            os.write(write, json.dumps({"error": repr(exc)}).encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def _as_nobody(work: Path, body: Callable[[Path], dict]) -> dict:
    """``body(work)`` run as an ordinary user (root is exempt from permissions)."""
    if not IS_ROOT:
        return body(work)

    def demoted() -> dict:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
        return body(work)

    return _in_child(demoted)


def _locked_tree(work: Path) -> dict:
    top = work / "job"
    for sub in ("closed", "readonly", "search_only"):
        (top / sub / "inner").mkdir(parents=True)
        (top / sub / "inner" / "f").write_text("x")
        (top / sub / "f").write_text("x")
    os.chmod(top / "closed" / "inner", 0)
    os.chmod(top / "closed", 0)
    os.chmod(top / "readonly", 0o500)
    os.chmod(top / "search_only", 0o100)
    os.chmod(top, 0o500)
    report = remove_tree(top)
    return {"complete": report.complete, "describe": report.describe(), "exists": top.exists()}


def test_folders_the_grader_owns_but_locked_are_unlocked_and_removed(open_tmp):
    if IS_ROOT:
        os.chown(open_tmp, NOBODY, NOBODY)
    assert _as_nobody(open_tmp, _locked_tree) == {"complete": True, "describe": "", "exists": False}


def _remove_job(work: Path) -> dict:
    report = remove_tree(work / "job")
    return {"complete": report.complete, "describe": report.describe(), "left": [x.path for x in report.leftovers]}


@pytest.mark.skipif(not IS_ROOT, reason="needs root to put another user's folder in the tree")
def test_what_cannot_be_removed_is_named_in_one_line(open_tmp):
    top = open_tmp / "job"
    foreign = top / "a\nb" / "foreign"
    foreign.mkdir(parents=True)
    (foreign / "f").write_text("root's")
    os.chmod(foreign, 0o700)  # root's, inside nobody's tree: nobody cannot empty it
    for folder in (open_tmp, top, top / "a\nb"):
        os.chown(folder, NOBODY, NOBODY)
    seen = _as_nobody(open_tmp, _remove_job)
    assert not seen["complete"] and seen["left"] == ["a\\nb/foreign"]
    assert "left a\\nb/foreign: Permission denied" in seen["describe"] and "\n" not in seen["describe"]
    assert (foreign / "f").exists()


@pytest.mark.skipif(not IS_ROOT, reason="needs root to mount a file system")
def test_another_file_system_inside_the_tree_is_left_alone(tmp_path):
    from grader import isolation

    top = tmp_path / "job"
    (top / "mnt").mkdir(parents=True)

    def in_private_mounts() -> dict:  # the mount never shows outside this test
        if isolation.load_libc().unshare(isolation.CLONE_NEWNS) != 0:
            return {"skip": True}
        isolation._mount(None, "/", None, isolation.MS_REC | isolation.MS_PRIVATE)
        isolation._mount("tmpfs", str(top / "mnt"), "tmpfs", 0, "size=1m")
        (top / "mnt" / "inside").write_text("x")
        report = remove_tree(top)
        return {"describe": report.describe(), "kept": (top / "mnt" / "inside").exists()}

    seen = _in_child(in_private_mounts)
    if seen.get("skip"):
        pytest.skip("this machine refuses a new mount namespace")
    assert seen == {"describe": "left mnt: another file system is mounted there", "kept": True}
    assert remove_tree(top).complete  # outside the namespace it is an empty folder
