"""docs/api.md: every public name with its signature and docstring, and no solution."""

from __future__ import annotations

import ast
import re
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader import validate
from grader.apidoc import API_DOC, api_doc_stale, api_markdown, releases_api_doc
from grader.cli import cli
from grader.course import Course
from grader.scoring import SubmissionResult
from grader.stubgen import BEGIN, END, make_stub, stub_targets, sync_stubs
from tests.mutation import ROOT


@pytest.fixture(scope="module")
def doc() -> str:
    return api_markdown(ROOT)


def _block_after(doc: str, heading: str) -> str:
    """The first fenced python block after ``heading``: a signature as the doc shows it."""
    lines = doc.splitlines()
    assert heading in lines, f"no heading {heading!r}"
    i = lines.index(heading) + 1
    while not lines[i].startswith("```python"):
        assert not lines[i].startswith("#"), f"{heading!r} has no signature block"
        i += 1
    j = i + 1
    while not lines[j].startswith("```"):
        j += 1
    return "\n".join(lines[i + 1 : j])


def _same_signature(shown: str, node: ast.FunctionDef) -> None:
    parsed = ast.parse(shown + ": ...").body[0]
    assert isinstance(parsed, ast.FunctionDef) and parsed.name == node.name
    assert ast.dump(parsed.args) == ast.dump(node.args), shown
    if node.returns is None:
        assert parsed.returns is None, shown
    else:
        assert parsed.returns is not None and ast.dump(parsed.returns) == ast.dump(node.returns), shown
    assert [ast.dump(d) for d in parsed.decorator_list] == [ast.dump(d) for d in node.decorator_list]


def _stubs() -> dict[str, str]:
    return {
        ref.stem: make_stub(ref.read_text(encoding="utf-8"), ref.stem, ref.name) for ref in stub_targets(ROOT)
    }


def _solution_lines(source: str) -> list[str]:
    inside, out = False, []
    for line in source.splitlines():
        if line.strip() == BEGIN:
            inside = True
        elif line.strip() == END:
            inside = False
        elif inside:
            out.append(line.strip())
    return out


def test_the_committed_api_doc_is_up_to_date(doc):
    assert releases_api_doc(ROOT)
    assert (ROOT / API_DOC).read_text(encoding="utf-8") == doc, "run `grader stubs` to regenerate docs/api.md"


def test_every_public_function_of_every_topic_is_named_with_its_signature(doc):
    stubs = _stubs()
    assert len(stubs) == 10
    for topic, stub in stubs.items():
        assert f"\n## {topic}\n" in doc
        tree = ast.parse(stub)
        defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        exported = next(
            ast.literal_eval(n.value) for n in tree.body
            if isinstance(n, ast.Assign) and [getattr(t, "id", None) for t in n.targets] == ["__all__"]
        )
        public = set(exported) | {name for name in defs if not name.startswith("_")}
        assert public <= set(defs), f"{topic}: __all__ names something the stub does not define"
        table_row = next(line for line in doc.splitlines() if line.startswith(f"| [{topic}]"))
        for name in public:
            assert f"`{name}`" in table_row
            node = defs[name]
            if isinstance(node, ast.FunctionDef):
                _same_signature(_block_after(doc, f"### `{name}`"), node)
                continue
            assert _block_after(doc, f"### class `{name}`").startswith(f"class {name}")
            methods = [m for m in node.body if isinstance(m, ast.FunctionDef)]
            for method in methods:
                if method.name == "__init__" or not method.name.startswith("_"):
                    _same_signature(_block_after(doc, f"#### `{name}.{method.name}`"), method)
    # docstrings come along, word for word
    assert "The logistic sigmoid, as ``torch.sigmoid``: s(x) = 1 / (1 + exp(-x))." in doc
    assert 'ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "gelu")' in doc  # a constant students get


def test_no_line_of_any_solution_region_reaches_the_doc(doc):
    doc_lines = {line.strip() for line in doc.splitlines()}
    # a line that is also in a stub (a docstring's line, say) is the students' anyway
    stubs = _stubs()
    stub_lines = {line.strip() for stub in stubs.values() for line in stub.splitlines()}
    checked = 0
    for ref in stub_targets(ROOT):
        source = ref.read_text(encoding="utf-8")
        secret = [s for s in _solution_lines(source) if s and s not in stub_lines and re.search(r"\w", s)]
        leaked = [s for s in secret if s in doc_lines]
        assert not leaked, f"{ref.name}: solution lines in docs/api.md: {leaked[:3]}"
        for s in secret:  # nor inside a line, unless a stub's docstring spells it out too
            if len(s) >= 25 and not any(s in stub for stub in stubs.values()):
                assert s not in doc, f"{ref.name}: {s!r} is in docs/api.md"
        checked += len(secret)
        # the private helpers defined in solution regions are not even named
        helpers = {n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}
        for helper in helpers - {n.name for n in ast.parse(make_stub(source, ref.stem)).body
                                 if isinstance(n, ast.FunctionDef)}:
            assert not re.search(rf"\b{re.escape(helper)}\b", doc), helper
    assert checked > 500
    assert BEGIN not in doc and "YOUR CODE HERE" not in doc and "NotImplementedError(" not in doc


TOY = textwrap.dedent(
    '''
    """Toy topic.

    Uses ``backticks`` and even ```` a run of four ````.
    """
    import torch

    __all__ = ["f", "Opt"]
    RATE = 0.5
    _PRIVATE = 3

    ### BEGIN SOLUTION
    def _helper(x):
        return x * 41
    ### END SOLUTION


    def f(x: torch.Tensor, /, y=2, *rest, scale: float = 1.0, **options) -> torch.Tensor:
        """Return x plus one."""
        ### BEGIN SOLUTION
        return _helper(x) + 1
        ### END SOLUTION


    class Opt(object):
        """An optimizer."""

        def __init__(self, lr: float = 0.1):
            self.lr_given_by_the_course = lr

        def __repr__(self):
            return "Opt()"

        def __add__(self, other):
            """self + other."""
            ### BEGIN SOLUTION
            return self.secret_sum(other)
            ### END SOLUTION

        @property
        def step_count(self) -> int:
            """Steps so far."""
            return 0

        def _internal(self):
            """Not for students."""
    '''
)


def _toy_course(tmp_path: Path, docs: bool = True) -> Path:
    course = tmp_path / "course"
    (course / "reference").mkdir(parents=True)
    (course / "reference" / "toy.py").write_text(TOY, encoding="utf-8")
    shutil.copy(ROOT / "reference" / "rubric.yaml", course / "reference" / "rubric.yaml")
    if docs:
        (course / "docs").mkdir()
    return course


def test_signatures_and_docstrings_only_never_a_body(tmp_path):
    text = api_markdown(_toy_course(tmp_path))
    assert "def f(x: torch.Tensor, /, y=2, *rest, scale: float = 1.0, **options) -> torch.Tensor" in text
    assert "class Opt(object):" in text and "def __init__(self, lr: float = 0.1)" in text
    assert "@property\ndef step_count(self) -> int" in text and "Steps so far." in text
    assert "#### `Opt.__add__`" in text and "self + other." in text
    assert "RATE = 0.5" in text and "_PRIVATE" not in text and "_internal" not in text
    assert "__repr__" not in text  # an undocumented operator the course provides
    for body in ("41", "_helper", "secret_sum", "lr_given_by_the_course", 'return "Opt()"', "return 0"):
        assert body not in text, body
    assert "`````text\nToy topic." in text  # a fence longer than the docstring's backtick run


def test_a_course_without_docs_gets_no_api_doc(tmp_path):
    course = _toy_course(tmp_path, docs=False)
    assert not releases_api_doc(course)
    assert sync_stubs(course) == [course / "assignments" / "toy.py"]
    assert not (course / "docs").exists()


def test_drift_is_reported_by_sync_validate_and_the_cli(tmp_path, monkeypatch):
    course = _toy_course(tmp_path)
    doc_path = course / API_DOC
    assert sync_stubs(course) == [course / "assignments" / "toy.py", doc_path]  # written with the stubs
    assert sync_stubs(course, write=False) == [] and not api_doc_stale(course)

    monkeypatch.setattr(validate, "grade", lambda config, subs, jobs=1: [
        SubmissionResult(s.id, "", 0, 0, {}) for s in subs])

    def api_finding(stubs_ok=True):
        findings = validate.validate_course(Course(course))
        assert findings[0].ok == stubs_ok, findings[0].detail
        (found,) = [f for f in findings if "API reference" in f.name]
        return found

    assert api_finding().ok
    # hand-edited doc
    doc_path.write_text(doc_path.read_text(encoding="utf-8") + "\nan edit by hand\n", encoding="utf-8")
    assert sync_stubs(course, write=False) == [doc_path]
    found = api_finding()
    assert not found.ok and "out of date: docs/api.md (run `grader stubs`)" == found.detail
    res = CliRunner().invoke(cli, ["stubs", "--check", "--course", str(course)], catch_exceptions=False)
    assert res.exit_code == 1 and "out of date: docs/api.md" in res.output
    res = CliRunner().invoke(cli, ["stubs", "--course", str(course)], catch_exceptions=False)
    assert res.exit_code == 0 and "wrote: docs/api.md" in res.output and api_finding().ok
    # a docstring changed in the reference: stub and doc both drift
    ref = course / "reference" / "toy.py"
    ref.write_text(ref.read_text(encoding="utf-8").replace("Return x plus one.", "Return x + 1."), encoding="utf-8")
    assert sync_stubs(course, write=False) == [course / "assignments" / "toy.py", doc_path]
    assert not api_finding(stubs_ok=False).ok
    # a deleted doc is missing, not forgotten
    sync_stubs(course)
    doc_path.unlink()
    assert sync_stubs(course, write=False) == [doc_path] and not api_finding().ok


def test_the_minicourse_has_no_docs_and_validates_as_before():
    minicourse = ROOT / "tests" / "fixtures" / "minicourse"
    assert not releases_api_doc(minicourse)
    assert sync_stubs(minicourse, write=False) == []


def test_a_docstring_edited_in_the_real_course_shows_up(tmp_path, doc):
    """The real course: a reference docstring edited without `grader stubs` changes the doc."""
    course = tmp_path / "course"
    shutil.copytree(ROOT / "reference", course / "reference", ignore=shutil.ignore_patterns("suites", "__pycache__"))
    ref = course / "reference" / "losses.py"
    ref.write_text(ref.read_text(encoding="utf-8").replace('"""', '"""Edited. ', 1), encoding="utf-8")
    edited = api_markdown(course)
    assert edited != doc and "Edited. " in edited and "Edited. " not in doc
