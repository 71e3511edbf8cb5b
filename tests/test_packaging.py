"""What students install: the wheel holds the grader and never the course's secrets.

The wheel (and the sdist) are built once, offline, from a copy of the checkout's files
in a temporary folder, so no build artefact lands in the repository. The slow test
installs the wheel into a fresh virtual environment and runs ``grader check`` there the
way a student does.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tokenize
import zipfile
from pathlib import Path

import pytest

from grader.stubgen import BEGIN, END
from tests.mutation import ROOT

MARKERS = (BEGIN, END)


def _checkout_files() -> list[str]:
    """The checkout's files as git knows them: tracked, plus new ones not ignored."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the files to package are unknown")
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode("utf-8")
    return [name for name in out.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    src = tmp_path_factory.mktemp("checkout")
    for name in _checkout_files():
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    dist = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), "."],
        cwd=src, env=env, check=True, capture_output=True,
    )
    subprocess.run(
        [sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(dist)!r})"],
        cwd=src, env=env, check=True, capture_output=True,
    )
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def _wheel_files(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist() if not name.endswith("/")}


def _sdist_files(path: Path) -> dict[str, bytes]:
    """The sdist's files, named without the leading ``nn_grader-<version>/``."""
    out = {}
    with tarfile.open(path) as tf:
        for member in tf.getmembers():
            if member.isfile():
                out[member.name.split("/", 1)[1]] = tf.extractfile(member).read()
    return out


def _has_solution_marker(name: str, data: bytes) -> bool:
    """A solution region as a reference writes it: a ``### BEGIN SOLUTION`` comment in
    Python (the grader's own code names the marker in strings and docstrings, which is
    no solution), a line of its own anywhere else (a JSON-escaped one included)."""
    text = data.decode("utf-8", errors="replace")
    if name.endswith(".py"):
        try:
            return any(
                tok.type == tokenize.COMMENT and tok.string.strip() in MARKERS
                for tok in tokenize.generate_tokens(io.StringIO(text).readline)
            )
        except (tokenize.TokenError, SyntaxError):
            pass
    lines = text.replace("\\n", "\n").splitlines()
    return any(line.strip().strip('",').strip() in MARKERS for line in lines)


def _course_secrets() -> dict[str, bytes]:
    """Every file of reference/ (modules, rubric, hidden suites) by its path."""
    return {
        str(p.relative_to(ROOT)): p.read_bytes()
        for p in (ROOT / "reference").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def _assert_no_secrets(files: dict[str, bytes], what: str) -> None:
    secrets = _course_secrets()
    assert any(name.startswith("reference/suites/test_") for name in secrets)  # the check has teeth
    contents = {data for data in secrets.values() if data.strip()}
    for name, data in files.items():
        parts = name.split("/")
        assert parts[0] not in ("reference", "assignments", "examples"), f"{what} holds {name}"
        assert "suites" not in parts and parts[-1] != "rubric.yaml", f"{what} holds {name}"
        assert data not in contents, f"{what}: {name} is a copy of a file of reference/"
        assert not _has_solution_marker(name, data), f"{what}: {name} holds a solution region"


def test_the_wheel_has_the_grader_and_its_command(built):
    files = _wheel_files(built["wheel"])
    for name in ("grader/__init__.py", "grader/cli.py", "grader/selfcheck.py", "grader/notebook_plots.py",
                 "grader/course.py", "grader/apidoc.py", "grader/quiz/cli.py"):
        assert name in files, name
    info = built["wheel"].name.split("-")[0] + "-" + built["wheel"].name.split("-")[1] + ".dist-info"
    entry_points = files[f"{info}/entry_points.txt"].decode()
    assert "[console_scripts]" in entry_points and "grader = grader.cli:main" in entry_points
    metadata = files[f"{info}/METADATA"].decode()
    assert "Provides-Extra: student" in metadata
    assert any(line.startswith("Requires-Dist: matplotlib") and 'extra == "student"' in line
               for line in metadata.splitlines())
    assert {name.split("/")[0] for name in files} == {"grader", info}


def test_the_wheel_holds_no_reference_no_hidden_suite_no_rubric(built):
    files = _wheel_files(built["wheel"])
    _assert_no_secrets(files, "the wheel")
    assert not [n for n in files if n.rsplit("/", 1)[-1].startswith("test_")], "a test file in the wheel"
    assert not [n for n in files if not n.endswith(".py") and not n.split("/")[0].endswith(".dist-info")]


def test_the_sdist_holds_no_reference_no_hidden_suite_no_rubric(built):
    files = _sdist_files(built["sdist"])
    assert "grader/cli.py" in files and "pyproject.toml" in files
    _assert_no_secrets(files, "the sdist")


def test_the_marker_check_finds_a_solution():
    """The check above would see a reference module under any name."""
    source = (ROOT / "reference" / "losses.py").read_bytes()
    assert _has_solution_marker("grader/anything.py", source)
    assert _has_solution_marker("x.ipynb", json.dumps({"source": source.decode()}).encode())
    assert not _has_solution_marker("grader/stubgen.py", (ROOT / "grader" / "stubgen.py").read_bytes())


# -- installed the way a student installs it ----------------------------------------------
def _venv(tmp_path: Path, wheel: Path) -> tuple[Path, dict[str, str]]:
    """A fresh venv that sees the preinstalled torch and numpy, with the wheel in it."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, capture_output=True)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "GRADER_COURSE")}
    env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}", PIP_DISABLE_PIP_VERSION_CHECK="1")
    # pip comes from the system site-packages and installs into the venv, from the file alone
    subprocess.run(
        [str(bindir / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed",
         str(wheel)],
        check=True, capture_output=True, env=env, cwd=tmp_path,
    )
    return bindir, env


@pytest.mark.slow
def test_a_student_installs_the_wheel_and_checks_their_folder(built, tmp_path):
    bindir, env = _venv(tmp_path, built["wheel"])
    python = str(bindir / "python")
    outside = tmp_path / "elsewhere"
    outside.mkdir()

    where = subprocess.run([python, "-c", "import grader; print(grader.__file__)"], cwd=outside, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(tmp_path / "venv"), where
    secret = subprocess.run([python, "-c", "import reference"], cwd=outside, env=env, capture_output=True, text=True)
    assert secret.returncode != 0 and "No module named 'reference'" in secret.stderr

    # a student's folder as released: their work, and public_tests/ beside it
    work = tmp_path / "nn-course"
    shutil.copytree(ROOT / "assignments" / "public_tests", work / "public_tests")
    shutil.copy(ROOT / "reference" / "activations.py", work / "activations.py")  # solved
    shutil.copy(ROOT / "assignments" / "losses.py", work / "losses.py")  # not started
    res = subprocess.run([str(bindir / "grader"), "check", "activations", "losses", "--device", "cpu",
                          "--json", str(tmp_path / "check.json")],
                         cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    (result,) = json.loads((tmp_path / "check.json").read_text())["submissions"]
    activations, losses = result["topics"]["activations"], result["topics"]["losses"]
    assert activations["score"] == activations["max_score"] > 0
    assert losses["score"] == 0 < losses["max_score"]
    assert not [t for t in losses["tests"] if t["status"] == "passed"]
    assert "activations" in res.stdout and "Traceback" not in res.stdout + res.stderr

    # nothing bundled stands in for the public tests: without them the check says so
    (outside / "activations.py").write_bytes((work / "activations.py").read_bytes())
    res = subprocess.run([str(bindir / "grader"), "check", "activations"], cwd=outside, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "no public tests found" in res.stderr + res.stdout


# -- Gradescope (examples/gradescope, docs/gradescope.md) ---------------------------------
GRADESCOPE = ROOT / "examples" / "gradescope"


def _grader_command(script: Path) -> list[str]:
    """The arguments of ``grader grade`` in a shell script, continuation lines joined."""
    import shlex

    text = script.read_text(encoding="utf-8").replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.strip().startswith('exec "$grader" grade ')]
    words = shlex.split(line)
    assert words[:3] == ["exec", "$grader", "grade"]
    return words[3:]


def test_the_autograder_scripts_are_valid_bash():
    for name in ("setup.sh", "run_autograder", "build_zip.sh"):
        path = GRADESCOPE / name
        assert os.access(path, os.X_OK), f"{name} is not executable"
        subprocess.run(["bash", "-n", str(path)], check=True)


@pytest.mark.parametrize("topics", [[], ["--topic", "losses", "--topic", "dropout"]])
def test_run_autograders_grader_command_parses(topics):
    from grader.cli import cli

    script = (GRADESCOPE / "run_autograder").read_text(encoding="utf-8")
    assert "\ntopics=()\n" in script  # all topics unless the assignment names its own
    values = {"$submission": ["/tmp/x/submission"], "$course": ["/autograder/source/course"],
              "$root/results/results.json": ["/autograder/results/results.json"], "${topics[@]}": topics}
    args = [word for a in _grader_command(GRADESCOPE / "run_autograder") for word in values.get(a, [a])]
    assert not [a for a in args if "$" in a], args
    parent = cli.make_context("grader", ["grade", *args])
    grade = cli.get_command(parent, "grade")
    params = grade.make_context("grade", list(args), parent=parent).params  # parses, runs nothing
    assert params["submissions"] == ("/tmp/x/submission",)
    assert params["topics"] == tuple(topics[1::2])
    assert params["course"] == "/autograder/source/course" and params["device"] == "cpu"
    assert params["gs_path"] == "/autograder/results/results.json"  # one submission: the file itself
    assert not params["weak"]


def test_the_autograder_zip_has_gradescopes_layout(tmp_path):
    out = tmp_path / "autograder.zip"
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0"}  # offline, this setuptools
    subprocess.run(["bash", str(GRADESCOPE / "build_zip.sh"), str(out)], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    with zipfile.ZipFile(out) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert infos[script].external_attr >> 16 & 0o111, f"{script} is not executable in the zip"
    wheels = [n for n in infos if n.endswith(".whl")]
    assert len(wheels) == 1 and "/" not in wheels[0]
    assert "course/reference/rubric.yaml" in infos and "course/reference/suites/test_losses.py" in infos
    assert {n.split("/")[0] for n in infos} == {"setup.sh", "run_autograder", wheels[0], "course"}
    assert not [n for n in infos if "__pycache__" in n]


@pytest.mark.slow
def test_run_autograder_grades_an_upload_into_results_json(tmp_path):
    """The script end to end on a small course: an upload zipped as a folder, a stray link."""
    root = tmp_path / "autograder"
    shutil.copytree(ROOT / "tests" / "fixtures" / "minicourse", root / "source" / "course",
                    ignore=shutil.ignore_patterns("__pycache__"))
    upload = root / "submission" / "my-work"
    upload.mkdir(parents=True)
    (upload / "losses.py").write_text(
        (ROOT / "tests" / "fixtures" / "minicourse" / "reference" / "losses.py").read_text(encoding="utf-8"),
        encoding="utf-8")
    (root / "submission" / "notes.txt").write_text("not code", encoding="utf-8")
    wrapper = tmp_path / "grader"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m grader "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "GRADER_COURSE"}
    env.update(AUTOGRADER=str(root), GRADER=str(wrapper), PYTHONPATH=str(ROOT))
    res = subprocess.run([str(GRADESCOPE / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert doc["score"] == 10.0 and doc["tests"] and doc["visibility"] == "visible"
    assert all({"name", "score", "max_score", "status", "output"} <= set(t) for t in doc["tests"])
    assert sum(t["score"] for t in doc["tests"]) == pytest.approx(doc["score"])


def _code_lines(text: str) -> list[str]:
    import re

    lines = (re.sub(r"\s+#\s.*$", "", line).rstrip() for line in text.splitlines())
    return [line for line in lines if line and not line.lstrip().startswith("#")]


def test_the_how_to_shows_the_scripts_as_shipped():
    import re

    doc = (ROOT / "docs" / "gradescope.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", doc, flags=re.S)
    shown = {("run_autograder" if "run_autograder" in b or "exec \"$grader\"" in b else "setup.sh"): b for b in blocks}
    for name in ("setup.sh", "run_autograder"):
        assert _code_lines(shown[name]) == _code_lines((GRADESCOPE / name).read_text(encoding="utf-8")), name
