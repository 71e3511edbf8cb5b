"""Operating-system layers around a worker: what student code can see and do.

Each test asks a real worker to try something and reports what happened. Layers the
machine cannot offer are skipped with the reason; on the CI machine (Linux, root)
every layer is on and nothing here is skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from grader import isolation
from grader.cleanup import remove_tree
from grader.engine import check_isolation, grade_in_process
from grader.errors import GraderError, StudentTimeout
from grader.isolation import Policy
from grader.reports import render_table
from grader.sandbox import SandboxLimits, Zygote
from grader.session import SubmissionSession
from grader.submission import Submission
from tests.conftest import HONEST_LOSSES, MINICOURSE, make_submission

ROOT = Path(__file__).resolve().parent.parent
IS_ROOT = os.getuid() == 0


def _can_unshare() -> bool:
    """Whether this machine lets a process make the namespaces, asked independently of
    the grader (util-linux's unshare)."""
    if shutil.which("unshare") is None:
        return False
    args = ["unshare", "--net", "--pid", "--mount", "--ipc", "--fork"]
    if not IS_ROOT:
        args.insert(1, "--map-root-user")
    return subprocess.run([*args, "true"], capture_output=True).returncode == 0


CAN_UNSHARE = _can_unshare()
LANDLOCK = isolation.landlock_abi()
SECCOMP_ARCH = isolation.seccomp_program() is not None

PROBE = textwrap.dedent(
    """
    import os, socket, subprocess, threading, time

    def attempt(fn):
        try:
            return ["ok", repr(fn())[:200]]
        except BaseException as exc:
            return [type(exc).__name__, str(exc)[:200]]

    def read(path):
        if os.path.isdir(path):
            return sorted(os.listdir(path))
        with open(path, "rb") as fh:
            return fh.read(20)

    def write(path):
        with open(path, "w") as fh:
            fh.write("planted")
        return path

    def probe(paths, outside):
        out = {"read:" + p: attempt(lambda p=p: read(p)) for p in paths}
        out["write_outside"] = attempt(lambda: write(outside))
        out["write_scratch"] = attempt(lambda: write("mine.txt"))
        out["write_tmp"] = attempt(lambda: write("/tmp/mine.txt"))
        def fork():
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            return os.waitpid(pid, 0)[1]
        out["fork"] = attempt(fork)
        out["exec"] = attempt(lambda: subprocess.run(["/bin/true"]).returncode)
        def inet():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                s.connect(("127.0.0.1", 9))
        out["inet"] = attempt(inet)
        def unix():
            a, b = socket.socketpair(socket.AF_UNIX)
            a.sendall(b"x")
            return b.recv(1)
        out["unix"] = attempt(unix)
        def thread():
            box = []
            t = threading.Thread(target=lambda: box.append(1))
            t.start(); t.join()
            return box
        out["thread"] = attempt(thread)
        out["kill_init"] = attempt(lambda: os.kill(1, 0))
        out["uid"] = os.getuid()
        out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        try:
            out["root"] = sorted(os.listdir("/"))
        except OSError:
            out["root"] = None
        out["cwd"] = os.getcwd()
        return out

    def escape(marker, then_hang):
        # a daemon in its own session, reparented away from the worker
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(4)
                with open(marker, "w") as fh:
                    fh.write("I outlived the run")
                os._exit(0)
            os._exit(0)
        if then_hang:
            time.sleep(60)
        return "left"

    def whoami():
        return os.getuid()

    def fill(count, mb):
        # count files of mb MiB in the scratch folder: how many were written whole,
        # and the error that stopped the next one
        import errno
        chunk = b"x" * (1 << 20)
        for i in range(count):
            try:
                with open(f"big{i}.bin", "wb") as fh:
                    for _ in range(mb):
                        fh.write(chunk)
            except OSError as exc:
                return [i, errno.errorcode.get(exc.errno, str(exc.errno))]
        return [count, None]
    """
)


def _session(zygote: Zygote, tmp_path: Path, name: str = "job", **limits) -> SubmissionSession:
    # like the grader's own job folders: private, under the world-traversable /tmp
    job = Path(tempfile.mkdtemp(prefix="grader-test-job-"))
    (tmp_path / f"{name}.job").write_text(str(job))
    modules = job / "modules"
    modules.mkdir(parents=True)
    (modules / "losses.py").write_text(PROBE)
    scratch = job / "scratch"
    scratch.mkdir()
    limits = SandboxLimits(**{"call_timeout": 3, "cpu_seconds": 30, "wall_seconds": 60, "memory_mb": 2048, **limits})
    return SubmissionSession(zygote, str(modules), str(scratch), {"losses"}, limits)


def _call(session: SubmissionSession, name: str, *args):
    return session.call({"path": f"losses.{name}"}, args, {}, label=name, topic="losses")


def _probe(zygote: Zygote, tmp_path: Path, paths: list[str], outside: Path) -> dict:
    """Run PROBE's probe() in a fresh worker of ``zygote`` and end the worker."""
    session = _session(zygote, tmp_path)
    try:
        return _call(session, "probe", paths, str(outside))
    finally:
        session.close()


@pytest.fixture(autouse=True)
def _remove_job_folders(tmp_path):
    yield
    for note in tmp_path.glob("*.job"):
        remove_tree(note.read_text())


@pytest.fixture(scope="module")
def full():
    z = Zygote().start()
    yield z
    z.close()


def _zygote(**policy):
    return Zygote(Policy(**policy)).start()


# -- what the probe reports -------------------------------------------------------------
def test_the_probe_reports_every_layer_this_machine_offers(full):
    report = full.probe(protect=[str(MINICOURSE / "reference"), str(ROOT / "reference")])
    layers = report["isolation"]["layers"]
    for always in ("process", "rlimits", "scrubbed_env"):
        assert always in layers
    expected = set()
    if CAN_UNSHARE:
        expected |= {"pid_ns", "net_ns", "ipc_ns", "mount_view", "scratch_quota"}
    else:
        assert "scratch_quota" in report["isolation"]["missing"]
    if IS_ROOT:
        expected.add("user")
    if LANDLOCK:
        expected.add("landlock")
    if SECCOMP_ARCH:
        expected.add("seccomp")
    assert expected <= set(layers), report["isolation"]["missing"]
    assert not any(report["checks"]["protected"].values())
    assert isolation.missing_for_hidden({"layers": layers, "checks": report["checks"]}) == []
    if SECCOMP_ARCH:
        assert report["checks"]["fork"].startswith("refused")
    assert report["checks"]["network"].startswith("refused")


# -- the file view ----------------------------------------------------------------------
def test_student_code_cannot_read_hidden_or_other_files(full, tmp_path):
    other = make_submission(tmp_path, "other_student", {"losses.py": HONEST_LOSSES})
    secrets = [
        str(MINICOURSE / "reference" / "losses.py"),
        str(MINICOURSE / "reference" / "suites"),
        str(ROOT / "reference"),
        str(ROOT / "tests"),
        str(other / "losses.py"),
        "/etc/shadow",
    ]
    outside = tmp_path / "planted.txt"
    out = _probe(full, tmp_path, secrets + ["/usr/bin", str(ROOT / "grader")], outside)
    for path in secrets:
        assert out["read:" + path][0] in ("FileNotFoundError", "PermissionError", "NotADirectoryError"), (path, out)
    # what a worker needs stays readable
    assert out["read:/usr/bin"][0] == "ok" and out["read:" + str(ROOT / "grader")][0] == "ok"
    assert out["write_outside"][0] != "ok" and not outside.exists()
    assert out["write_scratch"][0] == "ok"
    if CAN_UNSHARE:
        assert out["write_tmp"][0] == "ok" and not Path("/tmp/mine.txt").exists()  # a private /tmp
        # the view's root holds system folders plus the first folder of each bound path
        # (the checkout, the Python prefixes, the submission), wherever those live
        bound = {Path(p).resolve().parts[1] for p in (ROOT, sys.prefix, sys.base_prefix, tmp_path)
                 if len(Path(p).resolve().parts) > 1}
        assert set(out["root"]) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "root",
                                    "sbin", "sys", "tmp", "usr", "home", "opt", "srv", "var", "mnt"} | bound


@pytest.mark.skipif(not LANDLOCK, reason="Landlock is not available on this kernel")
def test_landlock_alone_hides_the_reference(tmp_path):
    z = _zygote(namespaces=False, dedicated_user=False, seccomp=False)
    try:
        report = z.probe(protect=[str(MINICOURSE / "reference")])
        assert "landlock" in report["isolation"]["layers"] and "mount_view" not in report["isolation"]["layers"]
        assert report["checks"]["protected"] == {str(MINICOURSE / "reference"): False}
        out = _probe(z, tmp_path, [str(MINICOURSE / "reference" / "losses.py"), "/usr/bin"], tmp_path / "planted.txt")
    finally:
        z.close()
    assert out["read:" + str(MINICOURSE / "reference" / "losses.py")][0] == "PermissionError"
    assert out["read:/usr/bin"][0] == "ok"
    assert out["write_outside"][0] == "PermissionError" and not (tmp_path / "planted.txt").exists()
    assert out["write_scratch"][0] == "ok"
    if LANDLOCK >= 4:
        assert out["inet"][0] == "PermissionError"  # TCP connect refused by Landlock itself


# -- the scratch quota -------------------------------------------------------------------
FILLER = HONEST_LOSSES + textwrap.dedent(
    """
    import errno as _errno

    _stopped = None
    for _i in range(8):  # 8 files of 60 MiB: each under the file size limit, 480 MiB in all
        try:
            with open(f"big{_i}.bin", "wb") as _fh:
                for _ in range(60):
                    _fh.write(b"x" * (1 << 20))
        except OSError as _exc:
            _stopped = _errno.errorcode.get(_exc.errno)
            break
    if _stopped != "ENOSPC":
        raise RuntimeError(f"480 MiB went into the scratch folder ({_stopped})")
    """
)


def _quota_or_skip(zygote: Zygote) -> None:
    report = zygote.isolation or zygote.probe()
    if "scratch_quota" not in report["isolation"]["layers"]:
        why = report["isolation"]["missing"].get("scratch_quota", "not reported")
        pytest.skip(f"no scratch quota on this machine: {why}")


def _host_bytes(folder: Path) -> int:
    return sum(os.lstat(os.path.join(base, n)).st_size for base, _, names in os.walk(folder) for n in names)


def test_writing_past_the_scratch_quota_fails_in_the_students_code(full, tmp_path):
    _quota_or_skip(full)
    session = _session(full, tmp_path)  # the default quota, 256 MiB
    try:
        written, error = _call(session, "fill", 8, 60)
        on_host = _host_bytes(Path((tmp_path / "job.job").read_text()))
        assert _call(session, "whoami") is not None  # the worker carries on
    finally:
        session.close()
    assert (written, error) == (4, "ENOSPC")
    assert on_host < 1 << 20


def test_a_submission_over_its_quota_keeps_its_other_tests(full, tmp_path, monkeypatch):
    import grader.plugin as plugin

    _quota_or_skip(full)
    seen = []

    def measured(path, **kwargs):  # the host's job folder, as the grader removes it
        seen.append(_host_bytes(Path(path)))
        return remove_tree(path, **kwargs)

    monkeypatch.setattr(plugin, "remove_tree", measured)
    sub = Submission("filler", make_submission(tmp_path, "filler", {"losses.py": FILLER}))
    results = []
    grade_in_process(_minicourse_config(tmp_path), [sub], results.append, zygote=full)
    (result,) = results
    assert result.score == result.max_score, [t.message for t in result.topics["losses"].tests]
    assert seen and max(seen) < 1 << 20


# -- processes, network, users ------------------------------------------------------------
@pytest.mark.skipif(not SECCOMP_ARCH, reason="no seccomp table for this architecture")
def test_seccomp_refuses_new_processes_and_network_sockets(full, tmp_path):
    out = _probe(full, tmp_path, [], tmp_path / "x")
    assert out["fork"][0] == "PermissionError"
    assert out["exec"][0] == "PermissionError"
    assert out["inet"][0] in ("OSError", "PermissionError") and "not supported" in out["inet"][1].lower() or \
        out["inet"][0] == "PermissionError"
    assert out["unix"] == ["ok", "b'x'"]
    assert out["thread"] == ["ok", "[1]"]


LOOSE = dict(seccomp=False, landlock=False)  # namespaces and uid only: fork and sockets allowed


@pytest.fixture(scope="module")
def loose():
    z = Zygote(Policy(**LOOSE)).start()
    yield z
    z.close()


@pytest.mark.skipif(not CAN_UNSHARE, reason="this machine refuses new namespaces")
def test_network_namespace_has_no_loopback_even_without_seccomp(loose, tmp_path):
    out = _probe(loose, tmp_path, [], tmp_path / "x")
    assert out["inet"][0] == "OSError" and "unreachable" in out["inet"][1].lower()
    assert out["pids"] == [1]  # it sees no process but itself
    assert out["fork"][0] == "ok"


def _escapes(z: Zygote, tmp_path: Path) -> list[Path]:
    """Two workers start a daemon each: one then hangs and is killed at its timeout,
    the other returns and is ended normally. Returns the daemons' marker files."""
    markers = []
    for then_hang in (True, False):
        # scratch_mb=0: the host's scratch folder, where a daemon's late marker would show
        session = _session(z, tmp_path, f"escape{int(then_hang)}", scratch_mb=0)
        marker = Path(session.scratch_dir) / "late.txt"
        markers.append(marker)
        try:
            if then_hang:
                with pytest.raises(StudentTimeout):
                    _call(session, "escape", str(marker), True)
            else:
                assert _call(session, "escape", str(marker), False) == "left"
        finally:
            session.close()
    time.sleep(4.5)  # each daemon writes 4 s after its call began
    return markers


@pytest.mark.skipif(not CAN_UNSHARE, reason="this machine refuses new namespaces")
def test_a_double_forked_daemon_dies_with_its_pid_namespace(loose, tmp_path):
    for marker in _escapes(loose, tmp_path):
        assert not marker.exists(), "a process outlived the worker"


@pytest.mark.skipif(
    not (IS_ROOT and isolation.readable_by_others(sys.prefix)),
    reason="a dedicated uid without namespaces needs root and a Python other users can read",
)
def test_a_double_forked_daemon_dies_in_the_uid_sweep(tmp_path):
    z = _zygote(namespaces=False, seccomp=False, landlock=False)
    try:
        for marker in _escapes(z, tmp_path):
            assert not marker.exists(), "a process outlived the worker"
    finally:
        z.close()


@pytest.mark.skipif(not IS_ROOT, reason="dedicated users need root")
def test_the_user_sweep_kills_what_escaped_the_process_group(tmp_path):
    uid = Policy().uid_base + 200
    marker = tmp_path / "late.txt"
    os.chmod(tmp_path, 0o777)
    code = (
        "import ctypes, os, sys, time\n"
        f"os.setresgid({uid}, {uid}, {uid}); os.setresuid({uid}, {uid}, {uid})\n"
        "ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n"  # not dumpable, like a worker
        "time.sleep(3)\n"
        f"open({str(marker)!r}, 'w').write('alive')\n"
    )
    proc = subprocess.Popen(["/bin/sh", "-c", f"exec {sys.executable} -c \"$0\"", code], start_new_session=True)
    time.sleep(1.0)
    assert proc.poll() is None
    isolation.sweep_user(uid)
    assert proc.wait(timeout=5) == -9
    time.sleep(2.5)
    assert not marker.exists()


@pytest.mark.skipif(not IS_ROOT, reason="dedicated users need root")
def test_concurrent_workers_run_as_distinct_unprivileged_users(full, tmp_path):
    a, b = _session(full, tmp_path, "a"), _session(full, tmp_path, "b")
    try:
        uid_a, uid_b = _call(a, "whoami"), _call(b, "whoami")
    finally:
        a.close()
        b.close()
    assert uid_a != uid_b and min(uid_a, uid_b) >= Policy().uid_base


# -- refusing to grade without the layers ---------------------------------------------------
def _minicourse_config(tmp_path, **policy):
    from grader.course import Course

    config = Course(MINICOURSE).hidden(device="cpu")
    return replace(config, isolation=Policy(**policy))


def test_hidden_suites_are_refused_without_hidden_file_protection(tmp_path):
    # as root a dedicated uid still reads world-readable files: not a protection
    config = _minicourse_config(tmp_path, namespaces=False, landlock=False)
    sub = Submission("s", make_submission(tmp_path, "s", {"losses.py": HONEST_LOSSES}))
    z = Zygote(config.isolation).start()
    try:
        with pytest.raises(GraderError, match="--allow-weak-isolation"):
            grade_in_process(config, [sub], lambda r: None, zygote=z)
        results = []
        grade_in_process(replace(config, allow_weak_isolation=True), [sub], results.append, zygote=z)
    finally:
        z.close()
    (result,) = results
    assert result.score == result.max_score
    assert any(f.startswith(isolation.WEAK_NOTE) for f in result.flags)
    assert "mount_view" not in result.isolation and "landlock" not in result.isolation
    assert render_table(results).startswith("WARNING: " + isolation.WEAK_NOTE)


def test_full_isolation_is_recorded_in_every_result(tmp_path, full):
    from grader.course import Course

    config = Course(MINICOURSE).hidden(device="cpu")
    layers, flag = check_isolation(config, full)
    assert flag is None and "process" in layers and "rlimits" in layers


def test_missing_for_hidden_names_what_is_missing():
    assert isolation.missing_for_hidden({"layers": {"process": 1, "rlimits": 1, "landlock": 1}}) == []
    assert isolation.missing_for_hidden({"layers": {"process": 1, "rlimits": 1}}) == [
        "hidden-file protection (mount_view or landlock)"
    ]
    leaked = {"layers": {"process": 1, "rlimits": 1, "mount_view": 1}, "checks": {"protected": {"/ref": True}}}
    assert isolation.missing_for_hidden(leaked) == ["hidden files are visible to the worker: /ref"]
    assert "rlimits" in isolation.missing_for_hidden({"layers": {"process": 1, "mount_view": 1}})


# -- the seccomp program itself -----------------------------------------------------------
@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_seccomp_programs_are_well_formed(machine):
    import struct

    program = isolation.seccomp_program(machine)
    assert program is not None and len(program) % 8 == 0
    ins = [struct.unpack("<HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    assert len(ins) < 4096
    for i, (code, jt, jf, _) in enumerate(ins):
        if code & 0x07 == 0x05:  # a jump: both targets inside the program
            assert i + 1 + max(jt, jf) < len(ins)
    assert ins[-1] == (0x06, 0, 0, 0x7FFF0000)  # the default is allow
    assert isolation.seccomp_program("sparc") is None


@pytest.mark.skipif(not IS_ROOT, reason="dedicated users need root")
def test_uid_leases_are_exclusive_across_graders_and_reused_after_release():
    base = Policy().uid_base + 500  # away from the slots live workers use
    a = isolation.UidLease.acquire(base, slots=4)
    b = isolation.UidLease.acquire(base, slots=4)
    assert a is not None and b is not None and a.uid != b.uid
    # a second grader on the machine (another process) cannot take a held uid
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from grader.isolation import UidLease; "
        f"l = UidLease.acquire({base}, slots=4); print(l.uid)"
    )
    other = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True)
    assert int(other.stdout) not in (a.uid, b.uid)
    a.release()
    c = isolation.UidLease.acquire(base, slots=4)
    assert c is not None and c.uid == a.uid
    b.release()
    c.release()


USERNS_SCRIPT = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
from grader import isolation

job, secret, link = sys.argv[2], sys.argv[3], sys.argv[4]
scratch, modules = os.path.join(job, "scratch"), os.path.join(job, "modules")
report = isolation.Report()

def inside():
    view = isolation.default_view(link, modules, scratch, cuda=False)
    isolation.build_view(view, os.path.join(job, "view"))
    report.add("mount_view")
    abi = isolation.landlock_abi()
    if abi:
        report.add("landlock", isolation.apply_landlock(["/"], [scratch, "/tmp"], abi))
    report.add("seccomp", isolation.apply_seccomp())
    out = {"layers": sorted(report.layers), "uid": os.getuid()}
    for name, fn in {
        "secret": lambda: open(secret).read(1),
        "module": lambda: open(os.path.join(modules, "losses.py")).read(),
        "scratch": lambda: open(os.path.join(scratch, "x"), "w").write("x"),
        "fork": os.fork,
        "pids": lambda: sorted(p for p in os.listdir("/proc") if p.isdigit()),
    }.items():
        try:
            out[name] = ["ok", fn()]
        except OSError as exc:
            out[name] = [type(exc).__name__, exc.errno]
    os.write(1, json.dumps(out).encode())
    os._exit(0)

if isolation.unshare_namespaces(report, want_user=True):
    isolation.become_init_parent(inside)  # process 1 of the new namespace runs inside()
else:
    print(json.dumps({"refused": report.missing}))
"""


def test_an_unprivileged_user_gets_the_same_view_through_a_user_namespace(tmp_path):
    """The laptop case: no root, a user namespace instead. Run with the system Python
    as an ordinary user (the isolation module needs nothing but the standard library)."""
    python = "/usr/bin/python3"
    if not IS_ROOT or not os.path.exists(python):
        pytest.skip("needs root to become an ordinary user, and a system Python")
    if not (isolation.readable_by_others(str(ROOT / "grader")) and isolation.readable_by_others(str(MINICOURSE))):
        pytest.skip("this checkout is not readable by other users")
    job = Path(tempfile.mkdtemp(prefix="grader-test-userns-"))
    try:
        for name in ("scratch", "modules"):
            (job / name).mkdir()
        (job / "modules" / "losses.py").write_text("x = 1\n")
        link_dir = job / "pkg"
        link_dir.mkdir()
        (link_dir / "grader").symlink_to(ROOT / "grader")
        for path in (job, job / "scratch", job / "modules", link_dir):
            os.chown(path, 65534, 65534)
        os.chmod(job / "modules" / "losses.py", 0o644)
        secret = MINICOURSE / "reference" / "losses.py"
        proc = subprocess.run(
            [python, "-I", "-c", USERNS_SCRIPT, str(ROOT), str(job), str(secret), str(link_dir / "grader")],
            user=65534, group=65534, extra_groups=[], capture_output=True, text=True, timeout=60, cwd="/",
        )
        assert proc.returncode == 0, proc.stderr
        out = __import__("json").loads(proc.stdout)
        if "refused" in out:
            pytest.skip(f"unprivileged user namespaces are refused here: {out['refused']}")
    finally:
        shutil.rmtree(job, ignore_errors=True)
    assert {"userns", "net_ns", "mount_view", "seccomp"} <= set(out["layers"])
    assert out["secret"][0] == "FileNotFoundError"
    assert out["module"] == ["ok", "x = 1\n"]
    assert out["scratch"][0] == "ok"
    assert out["fork"][0] == "PermissionError"
    assert out["pids"] == ["ok", ["1"]]
    assert out["uid"] == 0  # root of its own namespace only


def test_a_dead_fork_server_is_started_again_for_the_next_worker(tmp_path):
    z = _zygote()
    try:
        session = _session(z, tmp_path)
        assert _call(session, "whoami") is not None
        session.close()
        os.killpg(z.proc.pid, 9)  # what a submission able to signal it would do
        z.proc.wait()
        session = _session(z, tmp_path, "again")
        try:
            assert _call(session, "whoami") is not None
        finally:
            session.close()
        assert z.restarts == 1
    finally:
        z.close()


def test_job_folders_live_where_workers_cannot_list_them(tmp_path, monkeypatch):
    from grader.plugin import jobs_root

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    root = jobs_root()
    assert root == str(tmp_path / f"grader-jobs-{os.getuid()}")
    assert (os.stat(root).st_mode & 0o777) == 0o711  # others may pass through, not list
    # a planted link in the temporary folder is not followed
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "t2"))
    (tmp_path / "t2").mkdir()
    (tmp_path / "t2" / f"grader-jobs-{os.getuid()}").symlink_to(other)
    assert jobs_root() is None
