"""`make demo` and `make test` run pip only when the install is missing or out of date.

Everything here is a dry run (`make -n`): the commands make would run are printed,
nothing is installed. The stamp goes to a temporary folder (INSTALL_STAMP), and the
environment's state (INSTALL_STATE, normally what the Makefile's check prints) is given
on the command line where a test needs a particular one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _make(*args: str, python: str = sys.executable) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    proc = subprocess.run(["make", "--no-print-directory", *args, f"PYTHON={python}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _dry_demo(stamp: Path, state: str = "env0 ok") -> str:
    return _make("-n", "demo", f"INSTALL_STAMP={stamp}", f"INSTALL_STATE={state}")


def test_pip_runs_once_then_only_when_pyproject_changes_or_the_environment_lost_the_install(tmp_path):
    stamp = tmp_path / "stamp"
    first = _dry_demo(stamp)
    assert "pip install -e" in first and f"touch {stamp}" in first  # no stamp yet: install
    assert "grader grade examples/class/alice" in first
    stamp.touch()  # what the install step leaves behind
    second = _dry_demo(stamp)
    assert "pip install" not in second and "grader grade examples/class/alice" in second
    # pyproject.toml newer than the stamp (edited, or another branch checked out)
    past = (ROOT / "pyproject.toml").stat().st_mtime - 60
    os.utime(stamp, (past, past))
    assert "pip install -e" in _dry_demo(stamp)
    stamp.touch()
    assert "pip install" not in _dry_demo(stamp)
    # the environment no longer holds the install: a fresh venv where the old one was
    assert "pip install -e" in _dry_demo(stamp, state="env0 stale")
    # `make test` and `make bench` go through the same step
    assert "pip install" not in _make("-n", "test", f"INSTALL_STAMP={stamp}", "INSTALL_STATE=env0 ok")


def _state(python: str = sys.executable) -> list[str]:
    return _make("-s", "--eval", "print-state: ; @echo $(INSTALL_STATE)", "print-state", python=python).split()


def _installed_here() -> bool:
    """Whether this checkout is installed, editable, in the running environment."""
    from importlib import metadata

    for dist in metadata.distributions(name="nn-grader"):
        url = json.loads(dist.read_text("direct_url.json") or "{}")
        if url.get("dir_info", {}).get("editable"):
            if os.path.realpath(unquote(urlparse(url.get("url", "")).path)) == str(ROOT.resolve()):
                return True
    return False


def test_the_environment_check_knows_an_installed_checkout_from_a_missing_one():
    key, state = _state()
    assert len(key) == 16 and state == ("ok" if _installed_here() else "stale")
    # without site-packages nothing is installed: the same environment, not its install
    assert _state(f"{sys.executable} -S") == [key, "stale"]


def test_the_stamps_are_git_ignored():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    proc = subprocess.run(["git", "check-ignore", "-q", ".make/installed-0123456789abcdef"], cwd=ROOT)
    assert proc.returncode == 0
