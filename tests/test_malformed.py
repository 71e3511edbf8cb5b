"""Malformed input never crashes the grader or loses grades.

Every broken submission costs only its own topic, with one line saying what to fix,
while the other students in the same run grade normally and ``grader grade`` exits 0.
Broken instructor input (rubric, arguments) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import contextlib
import dataclasses
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import grader.archive as archive
from grader.cli import cli
from grader.engine import grade
from grader.errors import SubmissionError, UsageError
from grader.submission import Submission, find_submissions, prepare
from tests.conftest import HONEST_LOSSES, MINICOURSE, make_submission

GIB = 1 << 30


class Hung(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail (rather than hang the test run) if the body blocks, e.g. on a FIFO."""

    def expire(signum, frame):
        raise Hung(f"still blocked after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _nb(cells) -> str:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def _entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix, so external_attr carries st_mode
    info.external_attr = mode << 16
    return info


# name: (what to put in the submission folder, words the one-line message must hold);
# words None means the topic grades normally (10/10).
def _syntax(d: Path) -> None:
    (d / "losses.py").write_text(HONEST_LOSSES + "\ndef broken(:\n    pass\n")


def _nb_json(d: Path) -> None:
    (d / "losses.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "x = 1"')


def _nb_cells_not_list(d: Path) -> None:
    (d / "losses.ipynb").write_text(json.dumps({"cells": {"0": "x = 1"}, "nbformat": 4}))


def _nb_source_number(d: Path) -> None:
    (d / "losses.ipynb").write_text(_nb([{"cell_type": "code", "source": 42, "metadata": {}}]))


def _binary(d: Path) -> None:
    (d / "losses.py").write_bytes(bytes((i * 151 + 7) % 256 for i in range(4096)))


def _huge(d: Path) -> None:
    with open(d / "losses.py", "wb") as fh:
        fh.truncate(GIB)  # sparse: takes no disk, and must never be read


def _latin1(d: Path) -> None:
    (d / "losses.py").write_bytes(("# écrit par Zoë\n" + HONEST_LOSSES).encode("latin-1"))


def _utf16(d: Path) -> None:
    (d / "losses.py").write_bytes(HONEST_LOSSES.encode("utf-16"))


def _utf8_bom(d: Path) -> None:
    (d / "losses.py").write_bytes(("# café\n" + HONEST_LOSSES).encode("utf-8-sig"))


def _nul(d: Path) -> None:
    (d / "losses.py").write_bytes(HONEST_LOSSES.encode() + b"\nx = 1\x00\n")


def _empty(d: Path) -> None:
    (d / "losses.py").write_bytes(b"")


def _directory(d: Path) -> None:
    (d / "losses.py").mkdir()
    (d / "losses.py" / "__init__.py").write_text(HONEST_LOSSES)


def _fifo(d: Path) -> None:
    os.mkfifo(d / "losses.py")


def _symlink(d: Path) -> None:
    (d / "losses.py").symlink_to(MINICOURSE / "reference" / "losses.py")


CASES = {
    "syntax": (_syntax, "losses.py has a syntax error at line"),
    "nb_json": (_nb_json, "losses.ipynb is not a valid notebook (JSON error"),
    "nb_cells_not_list": (_nb_cells_not_list, "losses.ipynb is not a valid notebook (no list of cells)"),
    "nb_source_number": (_nb_source_number, "losses.ipynb: cell 0 has no readable source (a int"),
    "binary": (_binary, "losses.py is not UTF-8 text: it looks like binary data"),
    "huge": (_huge, "losses.py is 1 GiB; the limit is 2 MiB"),
    "latin1": (_latin1, "losses.py is not UTF-8 text: byte 2 is 0xE9, as in Latin-1"),
    "utf16": (_utf16, "losses.py is not UTF-8 text: it is UTF-16"),
    "utf8_bom": (_utf8_bom, None),
    "nul": (_nul, "losses.py contains NUL bytes"),
    "empty": (_empty, "losses.py is empty"),
    "directory": (_directory, "losses.py is a folder, not a file"),
    "fifo": (_fifo, "losses.py is a named pipe (FIFO), not a file"),
    "symlink": (_symlink, "losses.py is a symbolic link"),
}
ZIP_CASES = {
    "zipslip": ([("../losses.py", HONEST_LOSSES.encode()), ("losses.py", HONEST_LOSSES.encode())],
                "zipslip.zip: entry '../losses.py' points outside the folder"),
    "zipped": ([("zipped/", b""), ("zipped/losses.py", HONEST_LOSSES.encode()),
                ("__MACOSX/zipped/._losses.py", b"\x00\x05\x16\x07")], None),
}


@pytest.fixture(scope="module")
def class_run(tmp_path_factory) -> list[Submission]:
    """The malformed submissions, with honest students between them."""
    root = tmp_path_factory.mktemp("malformed")
    paths = [make_submission(root, "honest_first", {"losses.py": HONEST_LOSSES})]
    for name, (build, _) in CASES.items():
        folder = root / name
        folder.mkdir()
        build(folder)
        paths.append(folder)
    for name, (entries, _) in ZIP_CASES.items():
        paths.append(_zip(root / f"{name}.zip", entries))
    paths.append(make_submission(root, "honest_last", {"losses.py": HONEST_LOSSES}))
    return find_submissions(paths)


def _expected(sid: str) -> str | None:
    if sid in CASES:
        return CASES[sid][1]
    if sid in ZIP_CASES:
        return ZIP_CASES[sid][1]
    return None


def _check_result(path: str, topic: dict) -> None:
    """Check one result against its case, found by the submission's file name (ids are
    made safe file names, so "nul" may not stay "nul")."""
    sid = Path(path).stem
    words = _expected(sid)
    if words is None:
        assert (topic["status"], topic["score"]) == ("graded", 10.0), (sid, topic)
        return
    assert topic["status"] == "error" and topic["score"] == 0.0, (sid, topic)
    messages = {t["message"] for t in topic["tests"]}
    assert len(messages) == 1, (sid, messages)
    (message,) = messages
    assert words in message, (sid, message)
    assert "\n" not in message and len(message) < 200, (sid, message)


@pytest.mark.slow
def test_engine_grades_around_every_malformed_submission_and_leaves_no_temp_files(minicourse, class_run):
    # The run's temporary folders go to a fresh folder of their own (as traversable as
    # /tmp for the workers), which must be empty again afterwards.
    scratch_tmp = Path(tempfile.mkdtemp(prefix="malformed-"))
    scratch_tmp.chmod(0o755)
    try:
        with deadline(120), pytest.MonkeyPatch.context() as mp:  # a FIFO must not block the grader
            mp.setattr(tempfile, "tempdir", str(scratch_tmp))
            results = grade(minicourse.hidden(device="cpu"), class_run)
        left = [p.relative_to(scratch_tmp) for p in scratch_tmp.rglob("*")]
        # only the (empty) folder that holds job folders stays
        left = [p for p in left if not p.name.startswith("grader-jobs-")]
    finally:
        shutil.rmtree(scratch_tmp, ignore_errors=True)
    assert [r.id for r in results] == [s.id for s in class_run]
    for r in results:
        topic = r.topics["losses"]
        _check_result(r.path, {
            "status": topic.status, "score": topic.score,
            "tests": [{"message": t.message} for t in topic.tests],
        })
    assert left == [], "a job folder or unpacked zip outlived the run"


@pytest.mark.slow
def test_cli_grades_the_class_and_exits_0(class_run, tmp_path):
    out = tmp_path / "r.json"
    args = ["grade", *[str(s.path) for s in class_run], "--course", str(MINICOURSE), "--device", "cpu",
            "--json", str(out), "--quiet"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert [s["id"] for s in doc["submissions"]] == [s.id for s in class_run]
    for s in doc["submissions"]:
        _check_result(s["path"], s["topics"]["losses"])


# -- intake, without grading: fast checks of the same guarantees ----------------------------


def test_a_huge_file_is_refused_by_size_without_being_opened(tmp_path, monkeypatch):
    import grader.submission as submission

    sub = tmp_path / "big"
    sub.mkdir()
    _huge(sub)
    (sub / "activations.ipynb").write_bytes(b"")
    with open(sub / "activations.ipynb", "wb") as fh:
        fh.truncate(GIB)
    opened = []
    real_open = os.open
    monkeypatch.setattr(submission.os, "open", lambda p, *a, **k: opened.append(p) or real_open(p, *a, **k))
    prepared = prepare(find_submissions([sub])[0], tmp_path / "job", ["losses", "activations"])
    assert opened == []
    assert prepared.broken == {
        "losses": "losses.py is 1 GiB; the limit is 2 MiB",
        "activations": "activations.ipynb is 1 GiB; the limit is 20 MiB",
    }


def test_one_broken_topic_leaves_the_others_intact(tmp_path):
    sub = tmp_path / "mixed"
    sub.mkdir()
    (sub / "losses.py").write_text(HONEST_LOSSES)
    os.mkfifo(sub / "activations.py")
    (sub / "dropout.ipynb").write_text(_nb([{"cell_type": "markdown", "source": "notes"}]))
    (sub / "init.py").write_bytes("x = 'ü'\n".encode("utf-32"))
    (sub / "batchnorm.py").write_bytes("x = 1\n".encode("utf-16-le"))  # no byte-order mark
    (sub / "gradients.ipynb").write_text(_nb([{"cell_type": "code", "source": "x = 1\n"},
                                              {"cell_type": "code", "source": ["def f(:\n", "  pass\n"]}]))
    with deadline(10):
        prepared = prepare(find_submissions([sub])[0], tmp_path / "job", sorted(
            ["losses", "activations", "dropout", "init", "batchnorm", "gradients", "training"]))
    assert sorted(os.listdir(prepared.module_dir)) == ["losses.py"]
    assert prepared.present == {"losses", "activations", "dropout", "init", "batchnorm", "gradients"}
    assert prepared.broken == {
        "activations": "activations.py is a named pipe (FIFO), not a file; submit activations.py itself",
        "dropout": "dropout.ipynb has no code cells; submit the notebook with your code in it",
        "init": "init.py is not UTF-8 text: it is UTF-32 (it starts with a UTF-32 byte-order mark); save it as UTF-8",
        "batchnorm": "batchnorm.py is not UTF-8 text: it looks like UTF-16 (every other byte is NUL); save it as UTF-8",
        "gradients": "gradients.ipynb has a syntax error in cell 1: invalid syntax",
    }


def test_utf8_with_bom_is_accepted_and_written_without_it(tmp_path):
    sub = make_submission(tmp_path, "bom", {})
    _utf8_bom(sub)
    prepared = prepare(find_submissions([sub])[0], tmp_path / "job", ["losses"])
    assert prepared.broken == {}
    assert (prepared.module_dir / "losses.py").read_bytes().startswith(b"# caf\xc3\xa9\n")


def _slow_notebooks(monkeypatch, seconds: float = 30.0) -> None:
    """Notebook conversion that takes ``seconds`` (as an adversarial notebook might)."""
    import grader.submission as submission

    real = submission.notebook_to_source

    def slow(text: str, name: str = "notebook") -> str:
        time.sleep(seconds)
        return real(text, name)

    monkeypatch.setattr(submission, "notebook_to_source", slow)


def test_a_topic_over_its_intake_budget_is_broken_alone(tmp_path, monkeypatch):
    sub = make_submission(tmp_path, "slow", {"activations.py": "x = 1\n"})
    (sub / "losses.ipynb").write_text(_nb([{"cell_type": "code", "source": HONEST_LOSSES}]))
    _slow_notebooks(monkeypatch)
    started = time.monotonic()
    with deadline(20):
        prepared = prepare(find_submissions([sub])[0], tmp_path / "job", ["losses", "activations"], intake_seconds=0.5)
    assert time.monotonic() - started < 5
    assert prepared.present == {"losses", "activations"}
    assert prepared.broken == {"losses": "reading losses.ipynb took longer than 0.5 s"}
    assert sorted(os.listdir(prepared.module_dir)) == ["activations.py"]


@pytest.mark.slow
def test_the_rubrics_intake_budget_applies_while_grading(minicourse, tmp_path, monkeypatch):
    slow = make_submission(tmp_path, "slow", {})
    (slow / "losses.ipynb").write_text(_nb([{"cell_type": "code", "source": HONEST_LOSSES}]))
    honest = make_submission(tmp_path, "honest", {"losses.py": HONEST_LOSSES})
    config = minicourse.hidden(device="cpu")
    limits = dataclasses.replace(config.rubric.limits, intake_seconds=1)
    config = dataclasses.replace(config, rubric=dataclasses.replace(config.rubric, limits=limits))
    _slow_notebooks(monkeypatch)
    with deadline(120):
        first, second = grade(config, find_submissions([slow, honest]))
    topic = first.topics["losses"]
    assert topic.status == "error" and topic.score == 0.0
    assert {t.message for t in topic.tests} == {"reading losses.ipynb took longer than 1 s"}
    assert second.score == 10.0 and second.topics["losses"].status == "graded"


# -- zipped submissions ----------------------------------------------------------------------


def _prepare_zip(path: Path, tmp_path: Path, topics=("losses",)):
    job = tmp_path / "job"
    return prepare(find_submissions([path])[0], job, list(topics)), job


def test_find_submissions_takes_a_zip_by_its_stem(tmp_path):
    z = _zip(tmp_path / "alice_123.zip", [("losses.py", b"x = 1\n")])
    (tmp_path / "notes.txt").write_text("x")
    assert find_submissions([z]) == [Submission("alice_123", z)]
    with pytest.raises(UsageError, match=r"notes.txt: a submission must be a folder .* or a \.zip of one"):
        find_submissions([tmp_path / "notes.txt"])


def test_zip_with_one_top_folder_is_unwrapped_into_the_job_folder(tmp_path):
    z = _zip(tmp_path / "alice.zip", [
        ("Alice Smith/losses.py", HONEST_LOSSES.encode()),
        ("Alice Smith/notes/readme.txt", b"hi"),
        ("__MACOSX/Alice Smith/._losses.py", b"\x00junk"),
        ("Alice Smith/.DS_Store", b"\x00junk"),
    ])
    prepared, job = _prepare_zip(z, tmp_path)
    assert prepared.broken == {} and prepared.present == {"losses"}
    assert sorted(p.relative_to(job / "unzipped").as_posix() for p in (job / "unzipped").rglob("*")) == [
        "losses.py", "notes", "notes/readme.txt"]
    assert not any(p.is_symlink() for p in job.rglob("*"))


def test_zip_with_files_beside_the_folder_is_not_unwrapped(tmp_path):
    z = _zip(tmp_path / "bob.zip", [("src/losses.py", HONEST_LOSSES.encode()), ("README", b"x")])
    prepared, job = _prepare_zip(z, tmp_path)
    assert prepared.present == set() and (job / "unzipped" / "src" / "losses.py").is_file()


@pytest.mark.parametrize(
    "entries,words",
    [
        ([("/etc/losses.py", b"x")], "entry '/etc/losses.py' has an absolute path"),
        ([("C:\\work\\losses.py", b"x")], "has an absolute path"),
        ([("a/../../losses.py", b"x")], "entry 'a/../../losses.py' points outside the folder"),
        ([("..\\losses.py", b"x")], "points outside the folder"),
        ([(_entry("losses.py", stat.S_IFLNK | 0o777), b"/reference/losses.py")],
         "entry 'losses.py' is a symbolic link; only regular files"),
        ([(_entry("dev", stat.S_IFCHR | 0o666), b"")], "entry 'dev' is a device file"),
        ([(_entry("pipe", stat.S_IFIFO | 0o666), b"")], "entry 'pipe' is a named pipe"),
        ([("losses\n.py", b"x")], "has control characters"),
        ([("losses.py", b"x = 1\n"), ("./losses.py", b"x = 2\n")], "entry 'losses.py' appears twice"),
        ([("bomb.bin", bytes(4 << 20))], "entry 'bomb.bin' expands"),
    ],
)
@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_unsafe_zip_entries_are_refused_by_name(tmp_path, entries, words):
    z = _zip(tmp_path / "eve.zip", [("losses.py", HONEST_LOSSES.encode()), *entries])
    prepared, job = _prepare_zip(z, tmp_path, ["losses", "activations"])
    assert set(prepared.broken) == {"losses", "activations"}
    message = prepared.broken["losses"]
    assert message.startswith("eve.zip") and words in message and "\n" not in message
    assert not (job / "unzipped").exists(), "nothing is written before the whole archive is checked"
    assert sorted(os.listdir(tmp_path)) == ["eve.zip", "job"]


def test_zip_limits_on_entries_and_total_size(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "MAX_ENTRIES", 5)
    many = _zip(tmp_path / "many.zip", [(f"f{i}.txt", b"x") for i in range(6)])
    with pytest.raises(SubmissionError, match="many.zip has 6 entries; the limit is 5"):
        archive.extract_zip(many, tmp_path / "out1")
    # zipfile parses the whole table of contents, whatever count the end record claims
    long = _zip(tmp_path / "long.zip", [("d" * 400 + f"/{i}", b"x") for i in range(4)])
    data = bytearray(long.read_bytes())
    end = data.rindex(b"PK\x05\x06")
    data[end + 8 : end + 12] = (1).to_bytes(2, "little") * 2  # entries on this disk, entries in all
    long.write_bytes(bytes(data))
    monkeypatch.setattr(archive, "MAX_ENTRIES", 1)
    with pytest.raises(SubmissionError, match=r"long.zip has a \d+ bytes table of contents; the limit is 1024 bytes"):
        archive.extract_zip(long, tmp_path / "out1")
    monkeypatch.setattr(archive, "MAX_ENTRIES", 1000)
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 1000)
    big = _zip(tmp_path / "big.zip", [("a.bin", os.urandom(600)), ("b.bin", os.urandom(600))])
    with pytest.raises(SubmissionError, match="big.zip: entry 'b.bin' takes the unpacked size past the 1000 bytes limit"):
        archive.extract_zip(big, tmp_path / "out2")


def test_zip_whose_directory_understates_a_size_is_refused(tmp_path):
    z = _zip(tmp_path / "liar.zip", [("losses.py", HONEST_LOSSES.encode())])
    data = bytearray(z.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")  # uncompressed size
    z.write_bytes(bytes(data))
    with pytest.raises(SubmissionError, match=r"liar.zip: entry 'losses.py' cannot be unpacked \(Bad CRC"):
        archive.extract_zip(z, tmp_path / "out")


def test_encrypted_and_corrupt_archives(tmp_path):
    enc = _zip(tmp_path / "enc.zip", [("losses.py", b"x")])
    data = bytearray(enc.read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local and central headers
        data[data.index(signature) + flags_at] |= 0x1
    enc.write_bytes(bytes(data))
    with pytest.raises(SubmissionError, match="enc.zip: entry 'losses.py' is encrypted"):
        archive.extract_zip(enc, tmp_path / "out1")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    with pytest.raises(SubmissionError, match=r"^junk.zip is not a readable zip archive \(File is not a zip file\)$"):
        archive.extract_zip(junk, tmp_path / "out2")
    fifo = tmp_path / "fifo.zip"
    os.mkfifo(fifo)
    with pytest.raises(SubmissionError, match="fifo.zip is not a regular file"):
        archive.extract_zip(fifo, tmp_path / "out3")


# -- instructor input: rubric and arguments ------------------------------------------------

@pytest.fixture(scope="module")
def good_sub(tmp_path_factory) -> Path:
    return make_submission(tmp_path_factory.mktemp("good"), "good", {"losses.py": HONEST_LOSSES})


def _one_line_usage_error(args: list) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


RUBRICS = {
    "yaml_syntax": ("schema: 1\ntopics:\n  losses: {tests: [mse_loss: 1\n", "rubric.yaml: not valid YAML at line"),
    "wrong_type": ("schema: 1\nseed: seven\n", "rubric.yaml: seed: must be an integer >= 0, got 'seven'"),
    "tests_not_mapping": ("topics:\n  losses:\n    tests: [mse_loss]\n",
                          "topics.losses.tests: expected a mapping, got list"),
    "unknown_topic": ("topics:\n  lossez: {tests: {mse_loss: 1}}\n", "topics.lossez: unknown topic 'lossez'"),
    "negative_points": ("topics:\n  losses: {tests: {mse_loss: -4}}\n",
                        "topics.losses.tests.mse_loss: must be a number >= 0, got -4"),
    "infinite_points": ("topics:\n  losses: {tests: {mse_loss: .inf}}\n",
                        "topics.losses.tests.mse_loss: must be a number >= 0, got inf"),
    "not_a_mapping": ("- losses\n", "rubric.yaml: expected a mapping, got list"),
}


@pytest.mark.parametrize("name", list(RUBRICS))
def test_malformed_rubric_is_one_line_and_exit_2(tmp_path, good_sub, name):
    text, words = RUBRICS[name]
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(text)
    line = _one_line_usage_error(["grade", good_sub, "--course", MINICOURSE, "--rubric", rubric])
    assert words in line


def test_missing_rubric_file_is_one_line_and_exit_2(tmp_path, good_sub):
    line = _one_line_usage_error(["grade", good_sub, "--course", MINICOURSE, "--rubric", tmp_path / "nope.yaml"])
    assert "nope.yaml: rubric file not found" in line


@pytest.mark.slow
def test_rubric_naming_an_unknown_test_group_is_a_usage_error(tmp_path, good_sub):
    rubric = tmp_path / "rubric.yaml"
    tests = "{mse_loss: 4, cross_entropy: 4, bad_reduction: 1, inputs_unchanged: 1, mse_los: 1}"
    rubric.write_text(f"schema: 1\ntopics:\n  losses:\n    tests: {tests}\n")
    line = _one_line_usage_error(["grade", good_sub, "--course", MINICOURSE, "--rubric", rubric, "--device", "cpu"])
    assert "topics.losses.tests.mse_los names no test in the suite" in line


def test_missing_submission_path(tmp_path):
    line = _one_line_usage_error(["grade", tmp_path / "absent", "--course", MINICOURSE])
    assert "absent: no such submission folder" in line


def test_a_file_instead_of_a_folder(tmp_path):
    (tmp_path / "losses.py").write_text(HONEST_LOSSES)
    line = _one_line_usage_error(["grade", tmp_path / "losses.py", "--course", MINICOURSE])
    assert "losses.py: a submission must be a folder" in line


def test_resume_without_json(good_sub):
    line = _one_line_usage_error(["grade", good_sub, "--course", MINICOURSE, "--resume"])
    assert line == "Error: --resume needs --json FILE: the results of the interrupted run are kept there"


def test_unknown_topic(good_sub):
    line = _one_line_usage_error(["grade", good_sub, "--course", MINICOURSE, "--topic", "lossez"])
    assert "unknown topic 'lossez'; did you mean 'losses'?" in line


def test_jobs_zero(good_sub):
    line = _one_line_usage_error(["grade", good_sub, "--course", MINICOURSE, "--jobs", "0"])
    assert "Invalid value for '--jobs': 0 is not in the range" in line
