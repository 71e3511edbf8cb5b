"""Operating-system isolation for a worker: namespaces, a private file view, a dedicated
user, Landlock and seccomp.

The process split (:mod:`grader.sandbox`) already keeps the grade out of student code's
reach: the comparison and the score live in the grader's process. This module keeps the
*secrets* and the *machine* out of reach too. A worker forked by the fork server calls
:func:`enter` before it imports any student code; each layer is applied when the kernel
allows it and reported by name, and the grader refuses to run hidden suites when the
layers it needs are missing (see :func:`missing_for_hidden`).

Layers (Linux):

``pid_ns``     the worker is process 1 of its own PID namespace: it sees no other
               process, and every process it starts dies with it (a double fork or
               ``setsid`` cannot outlive the run).
``net_ns``     a network namespace with no usable interface: no connection anywhere,
               not even to the loopback address of the machine.
``ipc_ns``     no shared System V memory or message queues with other processes.
``mount_view`` the worker's whole file system is a fresh tmpfs holding read-only views
               of the system and Python folders, the grader's package, the submission,
               and its own writable scratch folder. The reference, the hidden suites,
               other submissions and the results do not exist in it.
``scratch_quota`` inside that view the scratch folder is a size-capped tmpfs of its own:
               the total a submission writes is capped, not only each file, and none
               of it reaches the host's disk.
``user``       a dedicated unprivileged uid per concurrent worker (when the grader runs
               as root), so the process limit applies and no other process can be
               signalled or traced.
``userns``     without root, a user namespace provides the above without privileges.
``landlock``   the kernel refuses reads outside the allowed folders and writes outside
               the scratch folder, TCP, and signals to processes outside the sandbox.
``seccomp``    system calls a submission has no business making fail: new processes,
               exec, sockets other than UNIX ones, ptrace, mount, namespaces, bpf,
               kernel keyrings, io_uring, ...

Everything here runs in the freshly forked worker, which has not yet run student code.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import signal
import stat
import struct
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

LINUX = sys.platform.startswith("linux")
# How results graded without the required layers begin their flag.
WEAK_NOTE = "graded with weak isolation"
# The layers the grader needs before it runs a hidden suite; see missing_for_hidden().
HIDING_LAYERS = ("mount_view", "landlock")

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_THREAD = 0x00010000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MNT_DETACH = 2

_ST_TO_MS = {
    os.ST_NOSUID if hasattr(os, "ST_NOSUID") else 2: MS_NOSUID,
    os.ST_NODEV if hasattr(os, "ST_NODEV") else 4: MS_NODEV,
    os.ST_NOEXEC if hasattr(os, "ST_NOEXEC") else 8: MS_NOEXEC,
    os.ST_NOATIME if hasattr(os, "ST_NOATIME") else 1024: MS_NOATIME,
    os.ST_NODIRATIME if hasattr(os, "ST_NODIRATIME") else 2048: MS_NODIRATIME,
    os.ST_RELATIME if hasattr(os, "ST_RELATIME") else 4096: MS_RELATIME,
}

# System call numbers: (x86_64, aarch64). Only these two architectures get a seccomp
# filter; elsewhere the layer is reported as unavailable.
_SYSCALLS = {
    "pivot_root": (155, 41),
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "mount": (165, 40),
    "umount2": (166, 39),
    "unshare": (272, 97),
    "setns": (308, 268),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "chroot": (161, 51),
    "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "execve": (59, 221),
    "execveat": (322, 281),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
    "name_to_handle_at": (303, 264),
    "open_by_handle_at": (304, 265),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "reboot": (169, 142),
    "acct": (163, 89),
    "settimeofday": (164, 170),
    "clock_settime": (227, 112),
    "quotactl": (179, 60),
    "lookup_dcookie": (212, 18),
    "pidfd_getfd": (438, 438),
    "kcmp": (312, 272),
    "personality": (135, 92),
    "syslog": (103, 116),
    "fork": (57, None),
    "vfork": (58, None),
    "iopl": (172, None),
    "ioperm": (173, None),
}
_CLONE = (56, 220)
_CLONE3 = (435, 435)
_SOCKET = (41, 198)
_AUDIT_ARCH = {"x86_64": (0xC000003E, 0), "aarch64": (0xC00000B7, 1), "arm64": (0xC00000B7, 1)}

_SYS_LANDLOCK_CREATE = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT = 446

PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2

_libc: Any = None


def load_libc() -> Any:
    """The C library, loaded once (errno kept)."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


@dataclass(frozen=True)
class Policy:
    """Which layers to try. Every layer the machine supports is on by default; tests and
    instructors with special machines may turn single layers off."""

    namespaces: bool = True
    userns: bool = True
    dedicated_user: bool = True
    landlock: bool = True
    seccomp: bool = True
    uid_base: int = 62000

    def config(self, grader_link: str) -> dict:
        return {
            "namespaces": self.namespaces,
            "userns": self.userns,
            "user": "auto" if self.dedicated_user else None,
            "uid_base": self.uid_base,
            "landlock": self.landlock,
            "seccomp": self.seccomp,
            "grader_link": grader_link,
        }


@dataclass
class Report:
    """What a worker applied, and why a layer is missing when it is."""

    layers: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, detail: str = "on") -> None:
        self.layers[name] = detail
        self.missing.pop(name, None)

    def skip(self, name: str, why: str) -> None:
        if name not in self.layers:
            self.missing[name] = why

    def as_dict(self) -> dict:
        return {"layers": dict(self.layers), "missing": dict(self.missing)}


# -- namespaces -------------------------------------------------------------------------
def unshare_namespaces(report: Report, want_user: bool) -> bool:
    """Enter new PID, network, IPC, UTS and mount namespaces; a user namespace first
    when not root. Returns whether the namespaces were entered."""
    if not LINUX:
        for name in ("pid_ns", "net_ns", "ipc_ns", "mount_view"):
            report.skip(name, f"namespaces are Linux only (this is {sys.platform})")
        return False
    libc = load_libc()
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    user = uid != 0
    if user:
        if not want_user:
            report.skip("pid_ns", "not root and user namespaces are turned off")
            return False
        flags |= CLONE_NEWUSER
    if libc.unshare(ctypes.c_int(flags)) != 0:
        err = ctypes.get_errno()
        why = f"unshare refused ({os.strerror(err)})"
        for name in ("pid_ns", "net_ns", "ipc_ns", "mount_view"):
            report.skip(name, why)
        if user:
            report.skip("userns", why)
        return False
    if user:
        try:
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"0 {uid} 1")
            _write("/proc/self/gid_map", f"0 {gid} 1")
        except OSError as exc:
            report.skip("userns", f"cannot map the user ({exc.strerror})")
            raise
        report.add("userns", f"uid {uid} as root of its own user namespace")
    report.add("net_ns", "no network interfaces")
    report.add("ipc_ns")
    return True


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def become_init_parent(on_child: Callable[[], None], keep: tuple[int, ...] = ()) -> None:
    """Fork the namespace's process 1 and wait for it, mirroring how it ended.

    The caller (already in a new PID namespace) stays outside it as a plain waiter; when
    process 1 ends, the kernel kills everything else in the namespace. The waiter closes
    every descriptor but the standard ones and ``keep``, which process 1 closes instead
    (the write end of a pipe process 1 watches to learn that the waiter is gone).
    """
    pid = os.fork()
    if pid == 0:
        for fd in keep:
            os.close(fd)
        on_child()
        os._exit(70)
    for fd in open_fds():
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(70)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        except (OSError, ValueError):
            pass
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def open_fds() -> list[int]:
    """This process's open file descriptors."""
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 256))


# -- the private file view --------------------------------------------------------------
@dataclass
class View:
    """What the worker may see: read-only trees, writable folders, devices.

    With ``scratch_mb``, the ``scratch`` folder is not the host's folder but a fresh
    tmpfs of that size (owned by ``scratch_uid`` when given): writing past it fails
    with ENOSPC, and nothing the worker writes there reaches the host's disk.
    """

    read_only: list[str]
    writable: list[str]
    links: dict[str, str]
    devices: list[str]
    etc_files: list[str]
    cuda: bool = False
    scratch: str | None = None
    scratch_mb: int = 0
    scratch_uid: int | None = None


_SYSTEM_TREES = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/alternatives")
_ETC_FILES = (
    "/etc/ld.so.cache", "/etc/localtime", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
    "/etc/hosts", "/etc/mime.types",
)
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


def python_trees() -> list[str]:
    """Folders the worker's Python needs to read: the interpreter's prefixes and the
    site folders on sys.path (never the current folder or a project checkout)."""
    trees = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for entry in sys.path:
        if entry and os.path.isdir(entry) and ("site-packages" in entry or "dist-packages" in entry):
            trees.add(entry)
    for entry in list(trees):
        trees.add(os.path.realpath(entry))
    return sorted(t for t in trees if t and os.path.isdir(t))


def default_view(
    grader_link: str, submission: str, scratch: str, cuda: bool, scratch_mb: int = 0, scratch_uid: int | None = None
) -> View:
    """The file view for one worker.

    ``grader_link`` is the fork server's ``<tmp>/grader`` link to the grader package: the
    view holds that link and the package folder it points to, and nothing else of the
    checkout the package lives in. ``scratch_mb`` > 0 gives the scratch folder a quota
    (see :class:`View`).
    """
    grader_dir = os.path.realpath(grader_link)
    read_only = [t for t in _SYSTEM_TREES if os.path.isdir(t) and not os.path.islink(t)]
    links = {t: os.readlink(t) for t in _SYSTEM_TREES if os.path.islink(t)}
    links[grader_link] = grader_dir
    read_only += python_trees() + [grader_dir, submission]
    devices = [d for d in _DEVICES if os.path.exists(d)]
    if cuda:
        devices += sorted(
            f"/dev/{n}" for n in os.listdir("/dev") if n.startswith("nvidia") and not os.path.isdir(f"/dev/{n}")
        )
        if os.path.isdir("/sys"):
            read_only.append("/sys")
    etc = [f for f in _ETC_FILES if os.path.isfile(f)]
    return View(read_only, [scratch], links, devices, etc, cuda, scratch, max(0, int(scratch_mb)), scratch_uid)


def _mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    libc = load_libc()
    res = libc.mount(
        None if src is None else src.encode(),
        dst.encode(),
        None if fstype is None else fstype.encode(),
        ctypes.c_ulong(flags),
        None if data is None else data.encode(),
    )
    _check(res, f"mount {src or fstype} on {dst}")


def _bind(src: str, dst: str, read_only: bool) -> None:
    _mount(src, dst, None, MS_BIND)
    if not read_only:
        return
    base = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
    try:
        _mount(None, dst, None, base)
    except OSError:
        # in a user namespace the source's atime and exec flags are locked: keep them
        try:
            keep = os.statvfs(src).f_flag
        except OSError:
            keep = 0
        extra = 0
        for st_flag, ms_flag in _ST_TO_MS.items():
            if keep & st_flag:
                extra |= ms_flag
        _mount(None, dst, None, base | extra)


def _mkdirs(root: str, path: str) -> str:
    target = root + path
    os.makedirs(target, mode=0o755, exist_ok=True)
    return target


def _touch(root: str, path: str) -> str:
    target = root + path
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if not os.path.exists(target):
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
    return target


def build_view(view: View, root: str, tmp_mb: int = 64) -> None:
    """Make ``root`` (an empty folder) the top of a new file system and switch to it.

    Needs a private mount namespace and, for the fresh /proc, a new PID namespace whose
    process 1 is the caller.
    """
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    os.makedirs(root, mode=0o755, exist_ok=True)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    tmp = _mkdirs(root, "/tmp")
    _mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_mb}m,mode=1777")
    for path, target in sorted(view.links.items()):
        link = root + path
        os.makedirs(os.path.dirname(link), mode=0o755, exist_ok=True)
        os.symlink(target, link)
    # outer folders first, so a folder inside another is mounted on top of it
    for path in sorted(set(view.read_only) | set(view.writable), key=len):
        if path in view.writable:
            _mount_writable(view, path, root)
        elif not os.path.islink(root + path):
            _bind(path, _mkdirs(root, path), read_only=True)
    for path in view.etc_files:
        _bind(path, _touch(root, path), read_only=True)
    dev = _mkdirs(root, "/dev")
    _mount("tmpfs", dev, "tmpfs", MS_NOSUID, "size=1m,mode=755")
    for device in view.devices:
        _bind(device, _touch(root, device), read_only=False)
    shm = _mkdirs(root, "/dev/shm")
    _mount("tmpfs", shm, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_mb}m,mode=1777")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    proc = _mkdirs(root, "/proc")
    _mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _pivot(root)


def _mount_writable(view: View, folder: str, root: str) -> None:
    """The scratch folder as a tmpfs of its quota, other writable folders as binds."""
    if folder != view.scratch or view.scratch_mb <= 0:
        _bind(folder, _mkdirs(root, folder), read_only=False)
        return
    owner = f",uid={view.scratch_uid},gid={view.scratch_uid}" if view.scratch_uid is not None else ""
    _mount("tmpfs", _mkdirs(root, folder), "tmpfs", MS_NOSUID | MS_NODEV, f"size={view.scratch_mb}m,mode=0700{owner}")


def scratch_quota_text(view: View) -> str:
    """How the scratch folder is capped, for the isolation report."""
    return (
        f"the scratch folder is a tmpfs of {view.scratch_mb} MiB: writing more fails with ENOSPC, "
        "the host disk is untouched"
    )


def _pivot(root: str) -> None:
    libc = load_libc()
    os.chdir(root)
    arch = _AUDIT_ARCH.get(platform.machine())
    if arch is not None:
        nr = _SYSCALLS["pivot_root"][arch[1]]
        if libc.syscall(ctypes.c_long(nr), b".", b".") == 0:
            # the old root is now stacked under the new one: detach it
            _check(libc.umount2(b".", ctypes.c_int(MNT_DETACH)), "detach the old root")
            os.chdir("/")
            return
    # fallback: move the new root over / and chroot into it
    _mount(root, "/", None, 8192)  # MS_MOVE
    _check(libc.chroot(b"."), "chroot")
    os.chdir("/")


# -- a dedicated user -------------------------------------------------------------------
def hand_over(uid: int, owned: list[str], readable: list[str], traverse: list[str]) -> None:
    """Give ``uid`` the ``owned`` folders, its own read-only copy of the ``readable``
    trees (no other user can read them) and the right to pass through ``traverse``
    folders without listing them. Run before the view is built, on the grader's own
    private copies of the submission."""
    for folder in owned:
        os.chown(folder, uid, uid)
    for folder in readable:
        for base, _dirs, files in os.walk(folder):
            os.chown(base, uid, uid)
            os.chmod(base, 0o500)
            for name in files:
                path = os.path.join(base, name)
                if stat.S_ISREG(os.lstat(path).st_mode):
                    os.chown(path, uid, uid)
                    os.chmod(path, 0o400)
    for folder in traverse:
        mode = stat.S_IMODE(os.stat(folder).st_mode)
        os.chmod(folder, mode | 0o111)


def readable_by_others(path: str) -> bool:
    """Whether a user other than the owner can reach ``path`` and list it."""
    path = os.path.realpath(path)
    parts = Path(path).parts
    for i in range(1, len(parts) + 1):
        try:
            mode = os.stat(os.path.join(*parts[:i])).st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


def drop_to(uid: int) -> None:
    """Become ``uid`` for good: no groups, no way back."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError(errno.EPERM, "the user switch did not take")


LEASE_DIR = os.path.join("/run" if os.path.isdir("/run") else tempfile.gettempdir(), "grader-uids")
LEASE_SLOTS = 1024


class UidLease:
    """A dedicated uid held by one worker, machine-wide.

    Several grading processes may run at once (``--jobs``, two courses): each uid is
    taken with an exclusive lock on a file named after it, held for the worker's life
    and released after its processes were swept. A crashed grader's locks go with it.
    """

    def __init__(self, uid: int, fd: int):
        self.uid = uid
        self.fd = fd

    @classmethod
    def acquire(cls, base: int, slots: int = LEASE_SLOTS) -> "UidLease | None":
        import fcntl

        try:
            os.makedirs(LEASE_DIR, mode=0o700, exist_ok=True)
        except OSError:
            return None
        for uid in range(base, base + slots):
            try:
                fd = os.open(f"{LEASE_DIR}/{uid}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            if os.pread(fd, 4, 0) == b"busy":
                sweep_user(uid)  # its last holder died without cleaning up
            os.pwrite(fd, b"busy", 0)
            return cls(uid, fd)
        return None

    def release(self) -> None:
        """Give the uid back; call after sweeping its processes."""
        if self.fd >= 0:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = -1


def _pids_of(uid: int) -> list[int]:
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for name in entries:
        if not name.isdigit():
            continue
        try:
            # the status file, not the folder's owner: a non-dumpable process's /proc
            # folder belongs to root whatever its uid
            with open(f"/proc/{name}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"Uid:"):
                        if uid in {int(x) for x in line.split()[1:]}:
                            found.append(int(name))
                        break
        except (OSError, ValueError):
            continue
    return found


def sweep_user(uid: int) -> None:
    """Kill every process running as ``uid``: escapees that left the worker's process
    group. Usually there are none (the PID namespace took them), which one scan of
    /proc shows; otherwise a helper becomes ``uid`` and signals everything it may,
    which also catches processes forked while it runs."""
    if not _pids_of(uid):
        return
    pid = os.fork()
    if pid == 0:
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        os._exit(0)
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except InterruptedError:
            continue
        except ChildProcessError:
            return


# -- Landlock -------------------------------------------------------------------------
_LL_FS = [
    1 << 0,  # execute
    1 << 1,  # write_file
    1 << 2,  # read_file
    1 << 3,  # read_dir
    1 << 4,  # remove_dir
    1 << 5,  # remove_file
    1 << 6,  # make_char
    1 << 7,  # make_dir
    1 << 8,  # make_reg
    1 << 9,  # make_sock
    1 << 10,  # make_fifo
    1 << 11,  # make_block
    1 << 12,  # make_sym
]
_LL_REFER = 1 << 13
_LL_TRUNCATE = 1 << 14
_LL_IOCTL_DEV = 1 << 15
_LL_READ = (1 << 0) | (1 << 2) | (1 << 3)
_LL_FILE_RIGHTS = (1 << 0) | (1 << 1) | (1 << 2) | _LL_TRUNCATE | _LL_IOCTL_DEV


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is absent or disabled."""
    if not LINUX:
        return 0
    libc = load_libc()
    res = libc.syscall(ctypes.c_long(_SYS_LANDLOCK_CREATE), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return int(res) if res > 0 else 0


def apply_landlock(readable: list[str], writable: list[str], abi: int) -> str:
    """Allow reading ``readable`` trees and everything in ``writable`` ones; nothing else.

    From ABI 4 TCP bind/connect are refused, from ABI 6 signals to processes outside the
    sandbox and abstract UNIX sockets are too.
    """
    libc = load_libc()
    handled = 0
    for bit in _LL_FS:
        handled |= bit
    if abi >= 2:
        handled |= _LL_REFER
    if abi >= 3:
        handled |= _LL_TRUNCATE
    if abi >= 5:
        handled |= _LL_IOCTL_DEV
    fields = [handled]
    if abi >= 4:
        fields.append(0b11)  # bind_tcp | connect_tcp
    if abi >= 6:
        fields.append(0b11)  # scope: abstract unix sockets | signals
    attr = struct.pack(f"<{len(fields)}Q", *fields)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _check(
        int(libc.syscall(ctypes.c_long(_SYS_LANDLOCK_CREATE), buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))),
        "landlock_create_ruleset",
    )
    try:
        rules = [(p, _LL_READ) for p in readable] + [(p, handled) for p in writable]
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    access &= _LL_FILE_RIGHTS
                access &= handled
                rule = ctypes.create_string_buffer(struct.pack("<Qi", access, fd), 12)
                _check(
                    int(libc.syscall(ctypes.c_long(_SYS_LANDLOCK_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(1), rule,
                                     ctypes.c_uint32(0))),
                    f"landlock rule for {path}",
                )
            finally:
                os.close(fd)
        _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        _check(int(libc.syscall(ctypes.c_long(_SYS_LANDLOCK_RESTRICT), ctypes.c_int(ruleset), ctypes.c_uint32(0))),
               "landlock_restrict_self")
    finally:
        os.close(ruleset)
    extra = []
    if abi >= 4:
        extra.append("no TCP")
    if abi >= 6:
        extra.append("no signals out")
    return f"ABI {abi}" + (f" ({', '.join(extra)})" if extra else "")


# -- seccomp ------------------------------------------------------------------------
_BPF_LD_W_ABS = 0x20
_BPF_JEQ = 0x15
_BPF_JGE = 0x35
_BPF_JSET = 0x45
_BPF_RET = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k & 0xFFFFFFFF)


def seccomp_program(machine: str | None = None) -> bytes | None:
    """The filter as classic BPF, or None on an architecture without a table here."""
    arch = _AUDIT_ARCH.get(machine or platform.machine())
    if arch is None:
        return None
    audit, col = arch
    deny = _RET_ERRNO | errno.EPERM
    blocked = sorted({nums[col] for nums in _SYSCALLS.values() if nums[col] is not None})
    prog: list[bytes] = []
    # 0: wrong architecture (e.g. 32-bit calls on a 64-bit kernel) -> refused
    prog.append(_ins(_BPF_LD_W_ABS, 4))
    prog.append(_ins(_BPF_JEQ, audit, jt=1, jf=0))
    prog.append(_ins(_BPF_RET, deny))
    prog.append(_ins(_BPF_LD_W_ABS, 0))
    if col == 0:  # the x32 ABI shares the arch value: refuse it outright
        prog.append(_ins(_BPF_JGE, 0x40000000, jt=0, jf=1))
        prog.append(_ins(_BPF_RET, deny))
    for nr in blocked:
        prog.append(_ins(_BPF_JEQ, nr, jt=0, jf=1))
        prog.append(_ins(_BPF_RET, deny))
    # clone3 cannot be inspected (its flags are behind a pointer): ENOSYS makes glibc
    # fall back to clone, which is checked below
    prog.append(_ins(_BPF_JEQ, _CLONE3[col], jt=0, jf=1))
    prog.append(_ins(_BPF_RET, _RET_ERRNO | errno.ENOSYS))
    # clone: threads only
    prog.append(_ins(_BPF_JEQ, _CLONE[col], jt=0, jf=4))
    prog.append(_ins(_BPF_LD_W_ABS, 16))  # low word of args[0] (flags)
    prog.append(_ins(_BPF_JSET, CLONE_THREAD, jt=1, jf=0))
    prog.append(_ins(_BPF_RET, deny))
    prog.append(_ins(_BPF_RET, _RET_ALLOW))
    # socket: UNIX sockets only
    prog.append(_ins(_BPF_JEQ, _SOCKET[col], jt=0, jf=3))
    prog.append(_ins(_BPF_LD_W_ABS, 16))  # domain
    prog.append(_ins(_BPF_JEQ, 1, jt=1, jf=0))  # AF_UNIX
    prog.append(_ins(_BPF_RET, _RET_ERRNO | errno.EAFNOSUPPORT))
    prog.append(_ins(_BPF_RET, _RET_ALLOW))
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def apply_seccomp() -> str:
    program = seccomp_program() if LINUX else None
    if program is None:
        raise OSError(errno.ENOSYS, f"no system call table for {platform.machine()}")
    libc = load_libc()
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _check(libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp filter")
    return f"{len(program) // 8} BPF instructions: no fork, exec, network sockets, ptrace, mount, namespaces"


# -- the whole sequence -----------------------------------------------------------------
def missing_for_hidden(report: dict) -> list[str]:
    """What a worker lacks for grading hidden suites: process isolation, rlimits and a
    verified protection of the hidden files."""
    layers = report.get("layers", {})
    missing = []
    for name in ("process", "rlimits"):
        if name not in layers:
            missing.append(name)
    if not any(name in layers for name in HIDING_LAYERS) and "hidden_files" not in layers:
        missing.append("hidden-file protection (mount_view or landlock)")
    checks = report.get("checks", {})
    leaked = [path for path, seen in checks.get("protected", {}).items() if seen]
    if leaked:
        missing.append(f"hidden files are visible to the worker: {', '.join(leaked[:3])}")
    return missing


def summary(report: dict) -> str:
    layers = report.get("layers", {})
    return ", ".join(layers) if layers else "none"
