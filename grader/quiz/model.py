"""The validated quiz: frozen dataclasses that the loader builds and everything else reads."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from grader.errors import UsageError
from grader.quiz.params import ParamSpec

SCHEMA = "nnquiz/1"
QuestionType = Literal["numeric", "multiple_choice", "multi_select", "symbolic", "matrix", "code_output"]
TYPES: tuple[str, ...] = ("numeric", "multiple_choice", "multi_select", "symbolic", "matrix", "code_output")
Scoring = Literal["all_or_nothing", "net_correct", "coverage", "each_answer"]
SCORINGS: tuple[str, ...] = ("all_or_nothing", "net_correct", "coverage", "each_answer")
MatchMode = Literal["exact", "normalized_whitespace", "numeric"]
MATCH_MODES: tuple[str, ...] = ("exact", "normalized_whitespace", "numeric")


class QuizError(UsageError):
    """A quiz file is malformed; the message names the file, the question and the field.

    ``issues`` holds every problem found in the file, one line each; the message is the
    first of them.
    """

    def __init__(self, issues: list[str]):
        super().__init__(issues[0] if len(issues) == 1 else f"{issues[0]} (and {len(issues) - 1} more)")
        self.issues = list(issues)


@dataclass(frozen=True)
class Tolerance:
    """``|s - a| <= atol + rtol |a|``, or with ``sigfigs`` set, agreement to n significant
    figures: ``|s - a| <= 0.51 * 10**(floor(log10 |a|) - n + 1)``."""

    rtol: float = 1e-2
    atol: float = 1e-8
    sigfigs: int | None = None

    def margin(self, expected: float) -> float:
        """The absolute margin around ``expected`` that this tolerance accepts."""
        if self.sigfigs is not None:
            magnitude = math.floor(math.log10(abs(expected))) if expected else 0
            return 0.51 * 10.0 ** (magnitude - self.sigfigs + 1)
        return self.atol + self.rtol * abs(expected)


@dataclass(frozen=True)
class Choice:
    key: str
    text: str
    score: float
    feedback: str = ""

    @property
    def correct(self) -> bool:
        return self.score >= 1.0


@dataclass(frozen=True)
class Check:
    """How a symbolic answer is compared: ``points`` random points, rtol/atol, a time limit."""

    points: int = 20
    rtol: float = 1e-6
    atol: float = 1e-9
    timeout_s: float = 1.0


@dataclass(frozen=True)
class Match:
    """How printed output is compared (code_output)."""

    mode: MatchMode = "normalized_whitespace"
    rtol: float = 1e-3
    atol: float = 1e-8


@dataclass(frozen=True)
class WrongAnswer:
    answer: Any
    score: float = 0.0


@dataclass(frozen=True)
class Question:
    id: str
    type: QuestionType
    prompt: str
    points: float = 1.0
    params: tuple[ParamSpec, ...] = ()
    answer: str | None = None
    tolerance: Tolerance = field(default_factory=Tolerance)
    choices: tuple[Choice, ...] = ()
    scoring: Scoring = "each_answer"
    variables: tuple[tuple[str, float, float], ...] = ()
    functions: frozenset[str] = frozenset()
    check: Check = field(default_factory=Check)
    shape: tuple[int, ...] = ()
    code: str | None = None
    match: Match = field(default_factory=Match)
    timeout_s: float = 30.0
    solution: str = ""
    feedback: str = ""
    tags: tuple[str, ...] = ()
    wrong_answers: tuple[WrongAnswer, ...] = ()

    @property
    def param_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.params)

    @property
    def variable_names(self) -> frozenset[str]:
        return frozenset(v[0] for v in self.variables)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.choices)

    @property
    def correct_keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.choices if c.correct)


@dataclass(frozen=True)
class Quiz:
    path: Path
    id: str
    title: str
    questions: tuple[Question, ...]
    topic: str = ""
    seed_salt: str = ""
    schema: str = SCHEMA

    @property
    def max_points(self) -> float:
        return sum(q.points for q in self.questions)

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(qid)

    def salt(self, override: str | None = None) -> str:
        """The course salt: an explicit override (``--salt`` / environment) or ``seed_salt``."""
        return override if override else self.seed_salt
