from __future__ import annotations

import json
import os

import pytest

from grader.errors import SubmissionError, UsageError
from grader.notebook import notebook_to_source
from grader.submission import find_submissions, prepare


def _nb(*cells):
    return json.dumps(
        {"cells": [{"cell_type": kind, "source": src, "metadata": {}} for kind, src in cells], "nbformat": 4, "metadata": {}}
    )


def test_notebook_code_cells_form_the_module():
    text = _nb(("markdown", "# Maths"), ("code", ["import torch\n", "%matplotlib inline\n"]),
               ("code", "def f(x):\n    return x + 1\n"), ("code", "grader.check('losses')\n!pip install x"))
    src = notebook_to_source(text, "losses.ipynb")
    ns: dict = {}
    exec(compile(src, "nb", "exec"), ns)
    assert ns["f"](1) == 2
    assert "# %matplotlib inline" in src and "# grader.check('losses')" in src and "# !pip install x" in src


@pytest.mark.parametrize("text", ["{not json", "[]", '{"cells": 3}', '{"cells": [{"cell_type": "code", "source": 5}]}'])
def test_broken_notebooks_are_submission_errors(text):
    with pytest.raises(SubmissionError, match="losses.ipynb"):
        notebook_to_source(text, "losses.ipynb")


def test_find_submissions_validates_paths(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "f.txt").write_text("x")
    assert [s.id for s in find_submissions([tmp_path / "a"])] == ["a"]
    with pytest.raises(UsageError, match="no such submission folder"):
        find_submissions([tmp_path / "missing"])
    with pytest.raises(UsageError, match="must be a folder"):
        find_submissions([tmp_path / "f.txt"])
    with pytest.raises(UsageError, match="share the id"):
        find_submissions([tmp_path / "a", tmp_path / "a"])


def test_prepare_takes_only_topic_files_and_reports_broken_ones(tmp_path):
    sub = tmp_path / "alice"
    sub.mkdir()
    (sub / "losses.py").write_text("import torch\nimport torch.nn.functional as F\n\ndef f(x):\n    return F.relu(x)\n")
    (sub / "gradients.ipynb").write_text(_nb(("code", "def g():\n    return 1\n")))
    (sub / "optimizers.py").write_bytes(b"\xff\xfe garbage")
    (sub / "activations.py").write_text("def f(:\n")
    (sub / "dropout.py").symlink_to(sub / "losses.py")
    (sub / "init.py").write_bytes(b"x = 1\x00\n")
    for planted in ("conftest.py", "numpy.py", "torch.py", "results.json", "sitecustomize.py"):
        (sub / planted).write_text("raise SystemExit\n")
    job = tmp_path / "job"
    prepared = prepare(find_submissions([sub])[0], job, ["activations", "losses", "gradients", "optimizers", "dropout", "init", "batchnorm"])
    assert sorted(os.listdir(prepared.module_dir)) == ["gradients.py", "losses.py"]
    assert prepared.present == {"activations", "losses", "gradients", "optimizers", "dropout", "init"}
    assert "not UTF-8" in prepared.broken["optimizers"]
    assert "syntax error at line 1" in prepared.broken["activations"]
    assert "symbolic link" in prepared.broken["dropout"]
    assert "NUL bytes" in prepared.broken["init"]
    assert prepared.formats == {"activations": "py", "losses": "py", "gradients": "ipynb"}
    assert [f.name for f in prepared.findings["losses"]] == ["torch.nn.functional.relu"]


def test_python_file_is_preferred_over_notebook_and_size_is_capped(tmp_path, monkeypatch):
    import grader.submission as submission

    sub = tmp_path / "bob"
    sub.mkdir()
    (sub / "losses.py").write_text("X = 'py'\n")
    (sub / "losses.ipynb").write_text(_nb(("code", "X = 'nb'\n")))
    (sub / "gradients.py").write_text("x = 1\n" * 100)
    monkeypatch.setattr(submission, "MAX_SOURCE_BYTES", 100)
    prepared = prepare(find_submissions([sub])[0], tmp_path / "job", ["losses", "gradients"])
    assert "the limit is" in prepared.broken["gradients"]
    assert "broken" not in prepared.broken.get("losses", "")
    assert (prepared.module_dir / "losses.py").read_text() == "X = 'py'\n"


STUB = 'def f():\n    """doc"""\n    raise NotImplementedError("f")\n\n\ndef g():\n    raise NotImplementedError\n'
DONE = "def f():\n    return 1\n\n\ndef g():\n    return 2\n"


@pytest.mark.parametrize(
    "py, nb, graded",
    [
        (STUB, DONE, "ipynb"),  # worked in the notebook; the released .py stub is still there
        (DONE, STUB, "py"),  # the other way round
        (DONE, DONE, "py"),  # a tie: the .py, as always
        (DONE.replace("return 2", "raise NotImplementedError()"), DONE, "ipynb"),  # one function fewer left
        ("def f(:\n", DONE, "ipynb"),  # a .py that does not parse counts as unfinished
    ],
)
def test_with_both_files_the_one_with_fewer_stubs_is_graded(tmp_path, py, nb, graded):
    from grader.submission import load_topic_source, unfinished_functions

    (tmp_path / "losses.py").write_text(py)
    (tmp_path / "losses.ipynb").write_text(_nb(("code", nb)))
    assert load_topic_source(tmp_path, "losses")[1] == graded
    assert unfinished_functions(STUB) == 2 and unfinished_functions(DONE) == 0


def test_a_bad_notebook_beside_a_py_file_does_not_hide_the_py(tmp_path):
    from grader.submission import load_topic_source

    (tmp_path / "losses.py").write_text(DONE)
    (tmp_path / "losses.ipynb").symlink_to(tmp_path / "losses.py")
    assert load_topic_source(tmp_path, "losses") == (DONE, "py")
    (tmp_path / "losses.py").unlink()
    (tmp_path / "elsewhere.py").write_text(DONE)
    with pytest.raises(SubmissionError, match="symbolic link"):
        load_topic_source(tmp_path, "losses")


@pytest.mark.parametrize(
    "text,words",
    [
        ('{"worksheets": [], "nbformat": 3}', "an old (nbformat 3) notebook; open it in Jupyter and save it again"),
        (_nb(("markdown", "only prose")), "has no code cells"),
        (json.dumps({"cells": [{"cell_type": "code", "source": ["x = 1\n", 2]}]}), "cell 0 has no readable source (a list"),
        ("[" * 100_000, "not a valid notebook (JSON error"),
    ],
)
def test_notebook_errors_are_one_actionable_line(text, words):
    with pytest.raises(SubmissionError) as err:
        notebook_to_source(text, "losses.ipynb")
    assert str(err.value).startswith("losses.ipynb") and words in str(err.value)
    assert "\n" not in str(err.value)


def test_special_files_are_named_for_what_they_are(tmp_path):
    sub = tmp_path / "carol"
    sub.mkdir()
    (sub / "losses.py").mkdir()
    os.mkfifo(sub / "gradients.py")
    (sub / "init.py").write_text("   \n\n")
    prepared = prepare(find_submissions([sub])[0], tmp_path / "job", ["losses", "gradients", "init"])
    assert prepared.broken == {
        "losses": "losses.py is a folder, not a file; submit losses.py itself",
        "gradients": "gradients.py is a named pipe (FIFO), not a file; submit gradients.py itself",
        "init": "init.py is empty; submit the file with your code in it",
    }
    assert prepared.present == {"losses", "gradients", "init"} and os.listdir(prepared.module_dir) == []


def test_zip_is_unpacked_inside_the_job_folder(tmp_path):
    import zipfile

    z = tmp_path / "dave.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("dave/losses.py", "def f(x):\n    return x\n")
    (sub,) = find_submissions([z])
    assert sub.id == "dave" and sub.is_zip
    prepared = prepare(sub, tmp_path / "job", ["losses"])
    assert prepared.broken == {} and prepared.formats == {"losses": "py"}
    assert (tmp_path / "job" / "unzipped" / "losses.py").is_file()
    assert sorted(os.listdir(tmp_path)) == ["dave.zip", "job"]


def test_a_folder_named_like_a_zip_is_a_folder(tmp_path):
    folder = tmp_path / "erin.zip"
    folder.mkdir()
    (folder / "losses.py").write_text("X = 1\n")
    (sub,) = find_submissions([folder])
    assert sub.id == "erin.zip" and not sub.is_zip
    assert prepare(sub, tmp_path / "job", ["losses"]).formats == {"losses": "py"}


# -- ids are safe file names ----------------------------------------------------------------

def test_a_zip_named_dots_never_gives_the_id_dotdot(tmp_path):
    import zipfile

    z = tmp_path / "...zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("losses.py", "X = 1\n")
    (sub,) = find_submissions([z])
    assert sub.id == "__" and sub.path == z and sub.is_zip


def test_ids_from_hostile_folder_names_are_safe_and_paths_are_kept(tmp_path):
    names = ["eve\x1b[31m\nforged", ".hidden", "a b", "a?b", "a_b", "zoë"]
    folders = [tmp_path / n for n in names]
    for f in folders:
        f.mkdir()
    subs = find_submissions(folders)
    ids = [s.id for s in subs]
    assert [s.path for s in subs] == folders
    assert ids[0] == "eve__31m_forged" and ids[1] == "_hidden" and ids[4] == "a_b" and ids[5] == "zoë"
    assert ids[2].startswith("a_b-") and ids[3].startswith("a_b-") and ids[2] != ids[3]
    assert len(set(ids)) == len(ids)


def test_ids_given_by_the_caller_are_made_safe_the_same_way(tmp_path):
    folders = [tmp_path / n for n in ("one", "two", "three")]
    for f in folders:
        f.mkdir()
    ids = [s.id for s in find_submissions(folders, ids=["..", "a/b", "a\\b"])]
    assert ids[0] == "__" and ids[1] != ids[2] and all(i.startswith("a_b-") for i in ids[1:])
    with pytest.raises(UsageError, match="share the id"):
        find_submissions(folders[:2], ids=["same", "same"])


def test_usage_errors_show_a_hostile_path_escaped_on_one_line(tmp_path):
    odd = tmp_path / "x\x1b]52;c;cm0=\x07\nforged.txt"
    odd.write_text("x")
    with pytest.raises(UsageError) as err:
        find_submissions([odd])
    text = str(err.value)
    assert "\n" not in text and "\x1b" not in text and "\x07" not in text
    assert "x\\x1b]52;c;cm0=\\x07\\nforged.txt: a submission must be a folder" in text
