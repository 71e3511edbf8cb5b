"""A student's variant of a question: the drawn parameters and the expected answer.

The variant is computed once and stored with every graded answer, so a regrade reads it
back instead of drawing it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from grader.errors import GraderError
from grader.quiz.build import BuildError, substitute
from grader.quiz.expr import ExprError, parse
from grader.quiz.model import Question, Quiz
from grader.quiz.params import draw


class VariantError(GraderError):
    """The answer key cannot be computed for a variant (an instructor problem)."""


@dataclass(frozen=True)
class Variant:
    """``params`` as drawn; ``expected`` as JSON data: a number, a nested list, a choice
    key, a list of keys, the answer expression (symbolic) or the printed text."""

    params: dict[str, Any]
    expected: Any


def to_plain(value: Any) -> Any:
    """numpy scalars and arrays as Python numbers and lists (JSON-ready)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def expected_value(question: Question, params: Mapping[str, Any], outputs: Mapping[str, str] | None = None,
                   where: str = "") -> Any:
    """The expected answer of ``question`` under ``params``."""
    if question.type == "multiple_choice":
        return question.correct_keys[0]
    if question.type == "multi_select":
        return list(question.correct_keys)
    if question.type == "symbolic":
        return question.answer
    if question.type == "code_output":
        code = substitute(question.code or "", params)
        if outputs is None or code not in outputs:
            raise BuildError(f"{where}question '{question.id}': code_output not built for this variant")
        return outputs[code]
    try:
        value = parse(question.answer or "", question.param_names)(params)
    except ExprError as exc:
        raise VariantError(f"{where}question '{question.id}': field 'answer': {exc}") from None
    array = np.asarray(value, dtype=float)
    if question.type == "numeric":
        if array.ndim != 0:
            raise VariantError(f"{where}question '{question.id}': field 'answer': gives shape {array.shape}, "
                               "not a single number")
        return float(array)
    if array.shape != question.shape:
        raise VariantError(f"{where}question '{question.id}': field 'answer': gives shape {list(array.shape)}, "
                           f"declared shape {list(question.shape)}")
    return array.tolist()


def make_variant(quiz: Quiz, question: Question, student: str, salt: str,
                 outputs: Mapping[str, str] | None = None) -> Variant:
    """Draw ``student``'s parameters for ``question`` and compute the expected answer."""
    where = f"{quiz.path}: "
    try:
        params = draw(question.params, salt, quiz.id, question.id, student)
    except ExprError as exc:
        raise VariantError(f"{where}question '{question.id}': {exc}") from None
    return Variant({k: to_plain(v) for k, v in params.items()},
                   to_plain(expected_value(question, params, outputs, where)))

