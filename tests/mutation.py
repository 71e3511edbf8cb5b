"""Build realistic student submissions by replacing definitions in the reference.

A mutant file ``tests/mutants/<topic>.yaml`` lists entries::

    - name: ce_no_max_subtraction
      about: softmax without subtracting the max overflows for large logits
      expect: wrong              # or: correct (a different but valid implementation)
      loses: [cross_entropy]     # test groups that must lose points
      message: "max before exp"  # regex one of those groups' failures must match
      code: |
        def cross_entropy(input, target, reduction="mean", ignore_index=-100, label_smoothing=0.0):
            ...

Each top-level ``def``/``class`` in ``code`` replaces the definition of the same name in
the reference (its solution markers removed); new names are appended; top-level imports
in ``code`` are added after the reference's imports.

Topics whose suites call other topics (``Topic.needs``, e.g. the training capstone) get
the reference versions of those beside them; ``companions: {init: <code>}`` patches one
of them the same way (a wrong init that only the capstone sees).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from grader.stubgen import strip_markers
from grader.topics import TOPICS

ROOT = Path(__file__).resolve().parent.parent
MUTANT_DIR = Path(__file__).resolve().parent / "mutants"


@dataclass(frozen=True)
class Mutant:
    topic: str
    name: str
    about: str
    expect: str
    code: str
    loses: tuple[str, ...] = ()
    message: str = ""
    extra: dict = field(default_factory=dict)
    companions: dict = field(default_factory=dict)


def must_lose(mutant: Mutant, rubric) -> frozenset[str] | None:
    """The test groups a wrong mutant is graded on (``Submission.groups``): the ones it
    must lose points in, where all of them are test groups of the rubric (a point
    deduction such as ``argument_order`` needs the whole topic graded). None (every
    group) for a correct one, which must keep full marks everywhere."""
    groups = rubric.topics[mutant.topic].groups
    if mutant.expect != "wrong" or not all(g in groups for g in mutant.loses):
        return None
    return frozenset(f"{mutant.topic}::{g}" for g in mutant.loses)


def assert_verdict(mutant: Mutant, result, why: str = "") -> None:
    """A correct submission keeps full marks in its topic with no flag; a wrong one loses
    points, in each group of ``mutant.loses``, with a failure that says ``mutant.message``."""
    name, topic = mutant.name, mutant.topic
    topic_result = result.topics[topic]
    because = f" ({why})" if why else ""
    if mutant.expect == "correct":
        failing = [f"{t.id}: {t.message}" for t in topic_result.tests if t.score < t.max_score or t.score < 0]
        assert topic_result.score == topic_result.max_score, (
            f"correct submission {name}{because} lost points:\n" + "\n".join(failing[:5]))
        assert not result.flags, result.flags
        return
    assert topic_result.score < topic_result.max_score, f"wrong submission {name} kept full marks{because}"
    pattern = re.compile(mutant.message, re.IGNORECASE)
    for group in mutant.loses:
        cases = [t for t in topic_result.tests if t.id.split("[")[0] == f"{topic}::{group}"]
        assert cases, f"{name}: no test group {group!r} in {topic}"
        lost = [t for t in cases if t.score < t.max_score]
        assert lost, f"{name}: group {group} kept all its points"
        texts = [f"{t.message} {t.hint or ''}" for t in lost]
        assert any(pattern.search(text) for text in texts), (
            f"{name}: no failure in {group} matches {mutant.message!r}; messages were:\n" + "\n".join(texts[:5]))


def load_mutants(topic: str) -> list[Mutant]:
    data = yaml.safe_load((MUTANT_DIR / f"{topic}.yaml").read_text(encoding="utf-8"))
    out = []
    for entry in data["mutants"]:
        expect = entry["expect"]
        assert expect in ("wrong", "correct"), f"{topic}/{entry['name']}: expect must be wrong or correct"
        if expect == "wrong":
            assert entry.get("loses") and entry.get("message"), f"{topic}/{entry['name']}: needs loses and message"
        out.append(
            Mutant(
                topic, entry["name"], entry.get("about", ""), expect, entry["code"],
                tuple(entry.get("loses", ())), entry.get("message", ""),
                companions=dict(entry.get("companions") or {}),
            )
        )
    names = [m.name for m in out]
    assert len(names) == len(set(names)), f"{topic}: duplicate mutant names"
    return out


def _top_level(tree: ast.Module) -> dict[str, ast.stmt]:
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }


def build_source(reference_source: str, code: str) -> str:
    """The reference with the definitions in ``code`` swapped in."""
    base = strip_markers(reference_source)
    tree = ast.parse(base)
    lines = base.splitlines()
    patch = ast.parse(code)
    patch_lines = code.splitlines()
    defs = _top_level(tree)
    replacements: list[tuple[int, int, list[str]]] = []
    appended: list[str] = []
    imports: list[str] = []
    for node in patch.body:
        segment = patch_lines[_first_line(node) - 1 : node.end_lineno]
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.extend(segment)
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in defs:
            old = defs[node.name]
            replacements.append((_first_line(old), old.end_lineno, segment))
        else:
            appended.extend(["", ""] + segment)
    for start, end, segment in sorted(replacements, reverse=True):
        lines[start - 1 : end] = segment
    if imports:
        last_import = max(
            (n.end_lineno for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))), default=0
        )
        shift = sum(
            len(seg) - (end - start + 1) for start, end, seg in replacements if end <= last_import
        )
        at = last_import + shift
        lines[at:at] = imports
    text = "\n".join(lines + appended) + "\n"
    ast.parse(text)
    return text


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators])


SHORT_CAPSTONE_EPOCHS = 4


def short_capstone_rubric(dest: Path) -> Path:
    """The course rubric with a 4-epoch capstone, written to ``dest``.

    A topic whose suite trains the capstone (training) is graded once per submission of
    a batch; the capstone runs every one of its checks on fewer steps, and compares with
    the reference trained on the same budget. The full-length capstone is graded by
    ``grader validate``, tests/test_demo.py and tests/test_capstone.py.
    """
    rubric = yaml.safe_load((ROOT / "reference" / "rubric.yaml").read_text(encoding="utf-8"))
    rubric["settings"]["capstone"] = {**rubric["settings"]["capstone"], "epochs": SHORT_CAPSTONE_EPOCHS}
    path = dest / "rubric-short-capstone.yaml"
    path.write_text(yaml.safe_dump(rubric), encoding="utf-8")
    return path


def write_mutants(topic: str, mutants: list[Mutant], dest: Path) -> dict[str, Path]:
    """One submission folder per mutant under ``dest``."""
    reference = (ROOT / "reference" / f"{topic}.py").read_text(encoding="utf-8")
    folders = {}
    for m in mutants:
        folder = dest / f"{topic}--{m.name}"
        folder.mkdir(parents=True)
        (folder / f"{topic}.py").write_text(build_source(reference, m.code), encoding="utf-8")
        for need in TOPICS[topic].needs:
            source = (ROOT / "reference" / f"{need}.py").read_text(encoding="utf-8")
            (folder / f"{need}.py").write_text(build_source(source, m.companions.get(need, "")), encoding="utf-8")
        folders[m.name] = folder
    return folders
