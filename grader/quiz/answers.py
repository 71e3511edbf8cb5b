"""Reading students' answer files and parsing each answer for its question type.

Parsing is separate from grading: an answer that cannot be read as its type raises
:class:`FormatError`, which the grader records as a format error (no score, a message
saying what was expected) rather than as a wrong answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from grader.errors import UsageError
from grader.quiz.expr import ExprError, parse
from grader.quiz.model import Question

MAX_FILE_BYTES = 1_000_000
# libyaml's loader when pyyaml was built with it: reading a class's files is most of the
# grading time with the pure-Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NUMBER_ONLY: frozenset[str] = frozenset()


class FormatError(ValueError):
    """An answer (or a whole answer file) is not in the expected format."""


@dataclass(frozen=True)
class AnswerSheet:
    """One student's answers: ``answers`` maps question ids to raw values; ``error``
    says why the file could not be read (then ``answers`` is empty)."""

    path: Path
    student: str
    quiz: str | None
    answers: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def read_sheet(path: str | Path) -> AnswerSheet:
    """Read a YAML (``.yaml``/``.yml``) or JSON (``.json``) answer file.

    A missing file is a :class:`UsageError`; a file that exists but cannot be read as an
    answer sheet gives a sheet with ``error`` set, its student named after the file.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such answer file")
    stem = path.stem

    def broken(message: str) -> AnswerSheet:
        return AnswerSheet(path, stem, None, {}, f"{path}: {message}")

    if path.stat().st_size > MAX_FILE_BYTES:
        return broken(f"larger than {MAX_FILE_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return broken("not UTF-8 text")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.load(text, Loader=_LOADER)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        return broken(f"not valid {kind}: {' '.join(str(exc).split())[:200]}")
    if not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
        return broken("must be a mapping with 'student' and an 'answers' mapping")
    student = data.get("student", stem)
    if not isinstance(student, (str, int)) or not str(student).strip():
        return broken("field 'student' must be a non-empty id")
    quiz = data.get("quiz")
    return AnswerSheet(path, str(student), str(quiz) if quiz is not None else None,
                       {str(k): v for k, v in data["answers"].items()})


def _number(raw: Any) -> float:
    if isinstance(raw, bool):
        raise FormatError("expected a number, got true/false")
    if isinstance(raw, (int, float)):
        return float(raw)
    if not isinstance(raw, str):
        raise FormatError(f"expected a number, got {type(raw).__name__}")
    text = raw.strip()
    if re.fullmatch(r"[+-]?(nan|inf|infinity)", text, re.IGNORECASE):
        return float(text)
    try:
        value = parse(text, _NUMBER_ONLY, frozenset())({}, 0.2)
    except ExprError as exc:
        raise FormatError(f"expected a number like 2.5e-3 or 1/3: {exc}") from None
    if np.ndim(value) != 0:
        raise FormatError("expected a single number, got a list")
    return float(value)


def _array(raw: Any) -> np.ndarray:
    if isinstance(raw, str):
        try:
            raw = parse(raw.strip(), _NUMBER_ONLY, frozenset())({}, 0.2)
        except ExprError as exc:
            raise FormatError(f"expected a nested list of numbers like [[1, 2], [3, 4]]: {exc}") from None
    if isinstance(raw, bool) or not isinstance(raw, (list, int, float, np.ndarray)):
        raise FormatError(f"expected a nested list of numbers, got {type(raw).__name__}")

    def flat_ok(item: Any) -> bool:
        if isinstance(item, list):
            return all(flat_ok(i) for i in item)
        return isinstance(item, (int, float)) and not isinstance(item, bool)

    if isinstance(raw, list) and not flat_ok(raw):
        raise FormatError("expected numbers only inside the list")
    try:
        return np.asarray(raw, dtype=float)
    except ValueError:
        raise FormatError("rows of different lengths") from None


def _key(raw: Any, question: Question) -> str:
    if not isinstance(raw, str) or raw.strip().lower() not in question.keys:
        raise FormatError(f"expected one of the choice keys {', '.join(question.keys)}, got {raw!r}")
    return raw.strip().lower()


def parse_answer(question: Question, raw: Any) -> Any:
    """The student's ``raw`` answer as the type ``question`` grades.

    numeric: a float; multiple_choice: a key; multi_select: a sorted tuple of keys;
    symbolic: an :class:`~grader.quiz.expr.Expr`; matrix: a float array; code_output: text.
    """
    qtype = question.type
    if qtype == "numeric":
        return _number(raw)
    if qtype == "multiple_choice":
        return _key(raw, question)
    if qtype == "multi_select":
        if isinstance(raw, str):
            raw = [part for part in re.split(r"[,\s]+", raw) if part]
        if not isinstance(raw, list):
            raise FormatError(f"expected a list of choice keys, got {type(raw).__name__}")
        return tuple(sorted({_key(item, question) for item in raw}))
    if qtype == "symbolic":
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            raw = repr(raw)
        if not isinstance(raw, str):
            raise FormatError(f"expected an expression as text, got {type(raw).__name__}")
        try:
            return parse(raw.strip(), question.variable_names | question.param_names, question.functions)
        except ExprError as exc:
            raise FormatError(str(exc)) from None
    if qtype == "matrix":
        return _array(raw)
    if isinstance(raw, (dict, list)) or isinstance(raw, bool):
        raise FormatError(f"expected the printed output as text, got {type(raw).__name__}")
    return str(raw)

