"""Student stubs from the reference: one source, so the two cannot drift.

A reference module marks each solution with nbgrader-style comment lines::

    def mse_loss(input, target, reduction="mean"):
        \"\"\"docstring with the maths\"\"\"
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

In the stub a region inside a function body becomes ``raise NotImplementedError(...)``
naming the function; a region at module level (private helpers) is dropped.
Everything outside the regions (docstrings, signatures, provided classes) is kept.

A course that releases notebooks (its ``assignments/`` holds a ``<topic>.ipynb`` for a
reference module, or ``notebooks=True`` is asked for) also gets the student notebook
of every topic from the same reference (:mod:`grader.notebooks`), carrying the topic's
points from ``reference/rubric.yaml``.

A course that keeps an API reference for students (it has a ``docs/`` folder, or
``api_doc=True`` is asked for) gets it regenerated from the same stubs
(:mod:`grader.apidoc`): signatures and docstrings only.
"""

from __future__ import annotations

import ast
from pathlib import Path

from grader.errors import GraderError

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"


def _functions(tree: ast.AST) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function, outermost first."""
    out: list[tuple[int, int, str]] = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    out.append((child.lineno, child.end_lineno or child.lineno, name))
                walk(child, name + ".")
            else:
                walk(child, prefix)

    walk(tree, "")
    return out


def has_regions(source: str) -> bool:
    return any(line.strip() == BEGIN for line in source.splitlines())


def make_stub(source: str, topic: str, filename: str = "<reference>") -> str:
    """The student version of a reference module."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        raise GraderError(f"{filename}: syntax error at line {exc.lineno}: {exc.msg}") from None
    functions = _functions(tree)
    lines = source.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == END:
            raise GraderError(f"{filename}:{i + 1}: '{END}' without a matching '{BEGIN}'")
        if line.strip() != BEGIN:
            out.append(line)
            i += 1
            continue
        start = i
        indent = line[: len(line) - len(line.lstrip())]
        i += 1
        while i < len(lines) and lines[i].strip() != END:
            if lines[i].strip() == BEGIN:
                raise GraderError(f"{filename}:{i + 1}: solution regions cannot nest")
            i += 1
        if i == len(lines):
            raise GraderError(f"{filename}:{start + 1}: '{BEGIN}' is never closed")
        i += 1  # skip END
        if not indent:
            while out and not out[-1].strip():
                out.pop()
            continue
        owner = [name for first, last, name in functions if first <= start + 1 <= last]
        if not owner:
            raise GraderError(f"{filename}:{start + 1}: an indented solution region must be inside a function")
        qualname = owner[-1]
        out.append(f"{indent}# YOUR CODE HERE")
        out.append(f'{indent}raise NotImplementedError("{topic}.{qualname}: not implemented yet")')
    text = "\n".join(_collapse_blank_runs(out)) + "\n"
    try:
        ast.parse(text, filename)
    except SyntaxError as exc:
        raise GraderError(f"{filename}: the generated stub does not parse (line {exc.lineno}: {exc.msg})") from None
    return text


def _collapse_blank_runs(lines: list[str]) -> list[str]:
    out: list[str] = []
    blank = 0
    for line in lines:
        blank = blank + 1 if not line.strip() else 0
        if blank <= 2:
            out.append(line)
    return out


def strip_markers(source: str) -> str:
    """The reference without its marker lines (a clean model solution)."""
    return "\n".join(line for line in source.splitlines() if line.strip() not in (BEGIN, END)) + "\n"


def stub_targets(course: Path) -> dict[Path, Path]:
    """Reference module -> stub path, for every reference file that has solution regions."""
    pairs = {}
    for ref in sorted((course / "reference").glob("*.py")):
        if ref.name.startswith("_"):
            continue
        if has_regions(ref.read_text(encoding="utf-8")):
            pairs[ref] = course / "assignments" / ref.name
    return pairs


def notebook_targets(course: Path) -> dict[Path, Path]:
    """Reference module -> student notebook path, for the same modules as the stubs."""
    return {ref: stub.with_suffix(".ipynb") for ref, stub in stub_targets(course).items()}


def releases_notebooks(course: Path) -> bool:
    """Whether the course hands out notebooks: one of them is already in ``assignments/``."""
    return any(path.exists() for path in notebook_targets(course).values())


def _topic_points(course: Path) -> dict[str, float]:
    """Each topic's points in the course rubric (none when the course has no rubric)."""
    from grader.rubric import load_rubric

    rubric_path = course / "reference" / "rubric.yaml"
    if not rubric_path.is_file():
        return {}
    return {name: topic.points for name, topic in load_rubric(rubric_path).topics.items()}


def _notebook_text(ref: Path, course: Path, points: dict[str, float]) -> str:
    from grader.notebooks import build_notebook, dumps
    from grader.topics import TOPICS

    topic = ref.stem
    title = TOPICS[topic].title if topic in TOPICS else None
    notebook = build_notebook(
        topic, ref.read_text(encoding="utf-8"), solutions=False, points=points.get(topic, 0.0), title=title,
        filename=str(ref.relative_to(course)),
    )
    return dumps(notebook)


def sync_stubs(
    course: Path, write: bool = True, notebooks: bool | None = None, api_doc: bool | None = None
) -> list[Path]:
    """Regenerate stubs (and notebooks, and the API reference); returns the files that were
    (or, with write=False, would be) changed.

    ``notebooks``: also the student notebooks; None (the default) means when the course
    already releases them (:func:`releases_notebooks`). ``api_doc``: also ``docs/api.md``;
    None means when the course has a ``docs/`` folder (:func:`grader.apidoc.releases_api_doc`).
    """
    from grader.apidoc import api_doc_path, api_markdown, releases_api_doc

    if notebooks is None:
        notebooks = releases_notebooks(course)
    if api_doc is None:
        api_doc = releases_api_doc(course)
    wanted: dict[Path, str] = {}
    for ref, stub in stub_targets(course).items():
        wanted[stub] = make_stub(ref.read_text(encoding="utf-8"), ref.stem, str(ref.relative_to(course)))
    if notebooks:
        points = _topic_points(course)
        for ref, target in notebook_targets(course).items():
            wanted[target] = _notebook_text(ref, course, points)
    if api_doc:
        wanted[api_doc_path(course)] = api_markdown(course)
    changed = []
    for path, text in wanted.items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            changed.append(path)
            if write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    return changed
