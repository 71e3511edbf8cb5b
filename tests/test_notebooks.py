"""Topic notebooks from the reference: the same module as the stub and the reference,
well-formed nbformat 4 with nbgrader metadata, and graded exactly like the ``.py``."""

from __future__ import annotations

import ast
import json
import re
import shutil
import textwrap
import time

import pytest

from grader.notebook import notebook_to_source
from grader.notebooks import build_notebook, dumps, grade_id, split_module
from grader.rubric import load_rubric
from grader.static_check import check_source
from grader.stubgen import make_stub, notebook_targets, releases_notebooks, stub_targets, sync_stubs
from tests.mutation import ROOT

TOPICS = sorted(ref.stem for ref in stub_targets(ROOT))
CELL_ID = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


def reference_source(topic: str) -> str:
    return (ROOT / "reference" / f"{topic}.py").read_text(encoding="utf-8")


def statements(source: str) -> list[str]:
    """The module's statements (its docstring aside: the notebook shows it as Markdown)."""
    body = ast.parse(source).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return [ast.dump(node) for node in body]


def as_module(notebook: dict) -> str:
    return notebook_to_source(json.dumps(notebook))


def assert_well_formed(nb: dict) -> None:
    """nbformat 4.5 by hand (nbformat is not a dependency), then nbgrader's metadata."""
    assert nb["nbformat"] == 4 and nb["nbformat_minor"] >= 5
    assert nb["metadata"]["kernelspec"]["language"] == "python"
    ids = [cell["id"] for cell in nb["cells"]]
    assert all(CELL_ID.match(i) for i in ids) and len(set(ids)) == len(ids)
    grade_ids = []
    for cell in nb["cells"]:
        assert cell["cell_type"] in ("markdown", "code")
        assert isinstance(cell["metadata"], dict) and isinstance(cell["source"], (str, list))
        if cell["cell_type"] == "markdown":
            assert set(cell) == {"cell_type", "id", "metadata", "source"}
            assert "nbgrader" not in cell["metadata"]
            continue
        assert set(cell) == {"cell_type", "execution_count", "id", "metadata", "outputs", "source"}
        assert cell["execution_count"] is None and cell["outputs"] == []
        meta = cell["metadata"]["nbgrader"]
        assert meta["schema_version"] == 3 and isinstance(meta["grade_id"], str)
        grade_ids.append(meta["grade_id"])
        assert ("points" in meta) == meta["grade"], meta
        if meta["grade"]:
            assert isinstance(meta["points"], float) and meta["points"] >= 0
        if meta["solution"]:
            assert meta["locked"] is False and "editable" not in cell["metadata"]
        else:
            assert meta["locked"] is True and cell["metadata"]["editable"] is False
    assert len(set(grade_ids)) == len(grade_ids)
    try:
        import nbformat
    except ImportError:
        return
    nbformat.validate(nbformat.from_dict(nb))


# -- the ten topics -----------------------------------------------------------------------
@pytest.mark.parametrize("topic", TOPICS)
def test_student_notebook_is_the_stub_statement_for_statement(topic):
    notebook = build_notebook(topic, reference_source(topic), solutions=False, points=1.0)
    assert statements(as_module(notebook)) == statements(make_stub(reference_source(topic), topic))
    assert_well_formed(notebook)


@pytest.mark.parametrize("topic", TOPICS)
def test_solved_notebook_is_the_reference_statement_for_statement(topic):
    notebook = build_notebook(topic, reference_source(topic), solutions=True, points=1.0)
    assert statements(as_module(notebook)) == statements(reference_source(topic))
    assert_well_formed(notebook)


@pytest.mark.parametrize("topic", TOPICS)
def test_a_notebook_without_role_metadata_still_imports_quietly(topic, capsys):
    notebook = build_notebook(topic, reference_source(topic), solutions=True, points=1.0)
    for cell in notebook["cells"]:
        cell["metadata"].pop("grader", None)  # a student (or an old Jupyter) dropped the roles
    source = as_module(notebook)
    assert "grader.check(" in source and "pass  # grader.check(" in source
    exec(compile(source, f"{topic}.ipynb", "exec"), {"__name__": topic})
    assert capsys.readouterr().out == ""
    assert check_source(source, topic) == []


def test_committed_notebooks_match_the_reference_and_the_rubric():
    assert releases_notebooks(ROOT)
    assert all(path.is_file() for path in notebook_targets(ROOT).values())
    assert sync_stubs(ROOT, write=False) == [], "run `grader stubs` to regenerate assignments/"
    rubric = load_rubric(ROOT / "reference" / "rubric.yaml")
    for topic, path in ((p.stem, p) for p in notebook_targets(ROOT).values()):
        nb = json.loads(path.read_text(encoding="utf-8"))
        assert_well_formed(nb)
        graded = [c["metadata"]["nbgrader"] for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")]
        assert [(g["grade_id"], g["points"]) for g in graded] == [(grade_id(topic), rubric.topics[topic].points)]


# -- small references ---------------------------------------------------------------------
TWO_HELPER_REGIONS = textwrap.dedent(
    '''
    """A topic with two private helper regions.

    The maths: f(x) = 2 x + 1.
    """

    from __future__ import annotations

    import math

    __all__ = ["f", "g"]

    ### BEGIN SOLUTION
    def _double(x):
        return 2 * x
    ### END SOLUTION


    def f(x):
        """Twice x plus one."""
        ### BEGIN SOLUTION
        return _double(x) + 1
        ### END SOLUTION


    SCALE = math.pi

    ### BEGIN SOLUTION
    def _scaled(x):
        return SCALE * x
    ### END SOLUTION


    def g(x):
        """Pi times x."""
        ### BEGIN SOLUTION
        return _scaled(x)
        ### END SOLUTION
    '''
)


def test_two_module_level_helper_regions():
    kinds = [(s.kind, s.name) for s in split_module(TWO_HELPER_REGIONS)]
    assert kinds == [
        ("docstring", ""), ("setup", ""), ("helpers", ""), ("def", "f"), ("setup", ""), ("helpers", ""), ("def", "g"),
    ]
    solved = build_notebook("toy", TWO_HELPER_REGIONS, solutions=True, points=3.0)
    student = build_notebook("toy", TWO_HELPER_REGIONS, solutions=False, points=3.0)
    for nb in (solved, student):
        assert_well_formed(nb)
    assert statements(as_module(solved)) == statements(TWO_HELPER_REGIONS)
    assert statements(as_module(student)) == statements(make_stub(TWO_HELPER_REGIONS, "toy"))
    hidden = [c["source"] for c in solved["cells"] if "### BEGIN HIDDEN TESTS" in c["source"]]
    assert len(hidden) == 2 and "_double" in hidden[0] and "_scaled" in hidden[1]
    assert "_double" not in json.dumps(student) and "_scaled" not in json.dumps(student)
    namespace: dict = {"__name__": "toy"}
    exec(as_module(solved), namespace)
    assert namespace["f"](2) == 5 and namespace["g"](1) == pytest.approx(3.14159, abs=1e-5)


DOCSTRING_BANGS = textwrap.dedent(
    '''
    """Comparisons."""

    import torch


    def differs(a, b):
        """Whether a and b differ.

    !=  is elementwise here, unlike Python's
    %   is not a magic either
        """
        ### BEGIN SOLUTION
        return a != b
        ### END SOLUTION
    '''
)


@pytest.mark.parametrize("magic", [False, True])
def test_docstring_lines_beginning_with_bang_survive(magic):
    notebook = build_notebook("toy", DOCSTRING_BANGS, solutions=True, points=1.0)
    if magic:  # the cell no longer parses: only the real magic is commented out
        cell = next(c for c in notebook["cells"] if c["source"].startswith("def differs"))
        cell["source"] = "%load_ext autoreload\n" + cell["source"] + "\n!ls\n"
    source = as_module(notebook)
    namespace: dict = {}
    exec(source, namespace)
    doc = namespace["differs"].__doc__
    assert "\n!=  is elementwise" in doc and "\n%   is not a magic" in doc
    assert ("# %load_ext autoreload" in source) == magic and ("# !ls" in source) == magic


def test_a_self_check_over_several_lines_is_not_run():
    notebook = build_notebook("toy", DOCSTRING_BANGS, solutions=False, points=1.0)
    notebook["cells"].append(
        {"cell_type": "code", "id": "mine", "metadata": {}, "outputs": [], "execution_count": None,
         "source": 'import grader\ngrader.check(\n    "toy",\n    path=".",\n)\nx = 1; check("toy")\n'}
    )
    source = as_module(notebook)
    assert 'pass  # grader.check(\n#     "toy",\n#     path=".",\n# )' in source
    ast.parse(source)


def test_sync_writes_notebooks_only_where_the_course_releases_them(tmp_path):
    course = tmp_path / "course"
    (course / "reference").mkdir(parents=True)
    (course / "reference" / "losses.py").write_text(reference_source("losses"), encoding="utf-8")
    shutil.copy(ROOT / "reference" / "rubric.yaml", course / "reference" / "rubric.yaml")
    assert sync_stubs(course) == [course / "assignments" / "losses.py"]
    assert not releases_notebooks(course)
    assert sync_stubs(course, notebooks=True) == [course / "assignments" / "losses.ipynb"]
    assert releases_notebooks(course) and sync_stubs(course, write=False) == []
    nb = json.loads((course / "assignments" / "losses.ipynb").read_text(encoding="utf-8"))
    assert nb["cells"][-1]["metadata"]["nbgrader"]["points"] == 100.0
    assert nb["cells"][0]["source"].startswith("# Loss functions and information theory\n")
    (course / "assignments" / "losses.ipynb").write_text(dumps({**nb, "cells": nb["cells"][:-1]}), encoding="utf-8")
    assert sync_stubs(course, write=False) == [course / "assignments" / "losses.ipynb"]


def test_validate_reports_a_stale_notebook(tmp_path, monkeypatch):
    from grader import validate
    from grader.course import Course
    from grader.scoring import SubmissionResult

    course = tmp_path / "course"
    (course / "reference").mkdir(parents=True)
    (course / "reference" / "dropout.py").write_text(reference_source("dropout"), encoding="utf-8")
    shutil.copy(ROOT / "reference" / "rubric.yaml", course / "reference" / "rubric.yaml")
    sync_stubs(course, notebooks=True)
    (course / "assignments" / "dropout.ipynb").write_text("{}", encoding="utf-8")
    def no_grading(config, subs, jobs=1):
        return [SubmissionResult(s.id, "", 0, 0, {}) for s in subs]

    monkeypatch.setattr(validate, "grade", no_grading)
    first = validate.validate_course(Course(course))[0]
    assert first.name == "stubs are generated from the reference (notebooks too)" and not first.ok
    assert "assignments/dropout.ipynb" in first.detail and "dropout.py" not in first.detail


# -- graded alike -------------------------------------------------------------------------
@pytest.mark.slow
def test_solved_notebook_earns_what_the_reference_earns(tmp_path):
    from grader.course import Course
    from grader.engine import grade
    from grader.submission import Submission

    topic = "dropout"
    as_py = tmp_path / "as_py"
    as_py.mkdir()
    shutil.copy(ROOT / "reference" / f"{topic}.py", as_py / f"{topic}.py")
    as_ipynb = tmp_path / "as_ipynb"
    as_ipynb.mkdir()
    notebook = build_notebook(topic, reference_source(topic), solutions=True, points=1.0)
    (as_ipynb / f"{topic}.ipynb").write_text(dumps(notebook), encoding="utf-8")
    py, nb = grade(Course(ROOT).hidden((topic,), device="cpu"), [Submission("py", as_py), Submission("nb", as_ipynb)])
    scores = [[(t.id, t.score, t.status) for t in r.topics[topic].tests] for r in (py, nb)]
    assert scores[0] == scores[1] and len(scores[0]) > 5
    assert py.score == nb.score == py.max_score and not nb.flags


# -- size: conversion is linear in the notebook ---------------------------------------------
def _magic_heavy_notebook(magic_lines: int) -> dict:
    """One big cell of IPython lines around real code, with magic-looking lines inside
    strings (which must stay) and between adjacent literals (which must not)."""
    lines = []
    for i in range(magic_lines):
        magic = f"%timeit -n 1 step({i:07d})  # measured" if i % 2 else f"!pip install package-{i:07d} --quiet"
        lines.append(magic + "\n")
        if i % 20_000 == 0:
            lines += [
                f'def differs_{i}(a, b):\n', '    """Elementwise comparison.\n', "\n",
                "!=  is elementwise here\n", "%   is not a magic either\n", '    """\n', "    return a != b\n",
                f'TEXT_{i} = f"""{{1 + 1}}\n', "!ls inside an f-string\n", '"""\n',
                f'JOINED_{i} = ("a"\n', "%time between two literals\n", '"b")\n',
            ]
    return {"cells": [{"cell_type": "code", "metadata": {}, "source": lines}], "metadata": {},
            "nbformat": 4, "nbformat_minor": 5}


def test_a_notebook_of_200000_magic_lines_converts_in_linear_time():
    text = json.dumps(_magic_heavy_notebook(200_000))
    assert len(text) > 8_000_000
    started = time.perf_counter()
    source = notebook_to_source(text, "losses.ipynb")
    spent = time.perf_counter() - started
    assert spent < 3, f"{spent:.1f} s"
    lines = source.splitlines()
    assert sum(line.startswith(("# %timeit", "# !pip")) for line in lines) == 200_000
    assert "# %time between two literals" in lines
    namespace: dict = {}
    exec(compile(source, "losses.ipynb", "exec"), namespace)
    assert "\n!=  is elementwise here\n%   is not a magic either\n" in namespace["differs_0"].__doc__
    assert namespace["TEXT_180000"] == "2\n!ls inside an f-string\n" and namespace["JOINED_20000"] == "ab"
    assert namespace["differs_0"](1, 2) is True
