"""Load a quiz YAML file and validate it into the dataclasses of :mod:`grader.quiz.model`.

Every problem is collected, each as one line naming the file, the question and the field
(``quizzes/losses.yaml: question 'ce-uniform': field 'tolerance.rtol': must be a number >= 0``),
and :class:`QuizError` carries them all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from grader.quiz.expr import CONSTANTS, STANDARD_FUNCTIONS, ExprError, parse
from grader.quiz.fields import (
    NAME, Issues, answer_fields, choice_fields, code_fields, is_number, unknown_fields, wrong_answers,
)
from grader.quiz.model import SCHEMA, TYPES, Question, Quiz, QuizError
from grader.quiz.params import KINDS, ParamSpec

ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
PLACEHOLDER = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")
QUIZ_FIELDS = {"schema", "id", "title", "topic", "seed_salt", "defaults", "questions", "description"}
COMMON = {"id", "type", "points", "prompt", "params", "solution", "feedback", "tags", "wrong_answers"}
PER_TYPE = {
    "numeric": {"answer", "tolerance"},
    "matrix": {"answer", "tolerance", "shape"},
    "multiple_choice": {"choices"},
    "multi_select": {"choices", "scoring"},
    "symbolic": {"answer", "variables", "functions", "check"},
    "code_output": {"code", "match", "timeout_s"},
}


def load_quiz(path: str | Path) -> Quiz:
    """Read and validate one quiz file; raise :class:`QuizError` listing every problem."""
    path = Path(path)
    issues = Issues(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise QuizError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise QuizError([f"{path}: not valid YAML: {' '.join(str(exc).split())}"]) from None
    if not isinstance(data, dict):
        raise QuizError([f"{path}: must be a mapping with schema, id, title and questions"])
    unknown_fields(issues, data, QUIZ_FIELDS)
    if data.get("schema") != SCHEMA:
        issues.add("schema", f"must be '{SCHEMA}', got {data.get('schema')!r}")
    qid = data.get("id")
    if not isinstance(qid, str) or not ID.match(qid):
        issues.add("id", "must match [a-z0-9][a-z0-9_-]*")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        issues.add("title", "must be non-empty text")
    for key in ("topic", "seed_salt"):
        if key in data and not isinstance(data[key], str):
            issues.add(key, "must be text")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        issues.add("defaults", "must be a mapping")
        defaults = {}
    unknown_fields(issues, defaults, {"points"}, "defaults.")
    default_points = defaults.get("points", 1)
    if not is_number(default_points) or default_points <= 0:
        issues.add("defaults.points", "must be a number > 0")
        default_points = 1
    raw_questions = data.get("questions")
    questions: list[Question] = []
    if not isinstance(raw_questions, list) or not raw_questions:
        issues.add("questions", "must be a non-empty list")
        raw_questions = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_questions):
        issues.qid = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"#{index + 1}"
        if not isinstance(raw, dict):
            issues.add(None, "must be a mapping")
            continue
        if issues.qid in seen:
            issues.add("id", "duplicate question id")
        seen.add(issues.qid)
        question = _question(issues, raw, float(default_points))
        if question is not None:
            questions.append(question)
    issues.qid = None
    if issues.lines:
        raise QuizError(issues.lines)
    return Quiz(path=path, id=qid, title=title.strip(), questions=tuple(questions),
                topic=data.get("topic", ""), seed_salt=data.get("seed_salt", ""))


def _question(issues: Issues, raw: dict, default_points: float) -> Question | None:
    before = len(issues.lines)
    qid, qtype = raw.get("id"), raw.get("type")
    if not isinstance(qid, str) or not ID.match(qid):
        issues.add("id", "must match [a-z0-9][a-z0-9_-]*")
    if qtype not in TYPES:
        issues.add("type", f"must be one of {', '.join(TYPES)}, got {qtype!r}")
        return None
    unknown_fields(issues, raw, COMMON | PER_TYPE[qtype])
    points = raw.get("points", default_points)
    if not is_number(points) or points <= 0:
        issues.add("points", "must be a number > 0")
    prompt = raw.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        issues.add("prompt", "must be non-empty text")
        prompt = ""
    params = _params(issues, raw.get("params") or {})
    names = frozenset(p.name for p in params)
    for text, where in ((prompt, "prompt"), (raw.get("code"), "code")):
        for name in PLACEHOLDER.findall(text) if isinstance(text, str) else ():
            if name not in names:
                issues.add(where, f"placeholder {{{{{name}}}}} names no parameter")
    for key in ("solution", "feedback"):
        if key in raw and not isinstance(raw[key], str):
            issues.add(key, "must be text")
    tags = raw.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        issues.add("tags", "must be a list of text")
        tags = []
    fields: dict[str, Any] = {}
    if qtype in ("numeric", "matrix", "symbolic"):
        fields.update(answer_fields(issues, raw, qtype, names))
    elif qtype in ("multiple_choice", "multi_select"):
        fields.update(choice_fields(issues, raw, qtype))
    else:
        fields.update(code_fields(issues, raw))
    fields["wrong_answers"] = wrong_answers(issues, raw.get("wrong_answers", []), qtype, fields, names)
    if len(issues.lines) > before:
        return None
    return Question(id=qid, type=qtype, prompt=prompt, points=float(points), params=params,
                    solution=raw.get("solution", ""), feedback=raw.get("feedback", ""),
                    tags=tuple(tags), **fields)


def _params(issues: Issues, raw: Any) -> tuple[ParamSpec, ...]:
    if not isinstance(raw, dict):
        issues.add("params", "must be a mapping of name -> generator")
        return ()
    specs: list[ParamSpec] = []
    for name, gen in raw.items():
        where = f"params.{name}"
        if not isinstance(name, str) or not NAME.match(name) or name in STANDARD_FUNCTIONS or name in CONSTANTS:
            issues.add(where, "must be an identifier that is not a function or constant name")
            continue
        kinds = [k for k in KINDS if isinstance(gen, dict) and k in gen]
        if not isinstance(gen, dict) or len(kinds) != 1 or set(gen) - {kinds[0], "round"}:
            issues.add(where, f"must be one of {{{', '.join(KINDS)}: ...}} with an optional round")
            continue
        kind, args, digits = kinds[0], gen[kinds[0]], gen.get("round")
        if digits is not None and (not isinstance(digits, int) or isinstance(digits, bool) or digits < 0):
            issues.add(f"{where}.round", "must be a whole number >= 0")
        if kind == "randint" and not (isinstance(args, list) and len(args) == 2
                                      and all(isinstance(a, int) and not isinstance(a, bool) for a in args)
                                      and args[0] <= args[1]):
            issues.add(f"{where}.randint", "must be [lo, hi], whole numbers with lo <= hi")
        elif kind == "uniform" and not (isinstance(args, list) and len(args) == 2
                                        and all(is_number(a) for a in args) and args[0] < args[1]):
            issues.add(f"{where}.uniform", "must be [lo, hi], numbers with lo < hi")
        elif kind == "choice" and not (isinstance(args, list) and args):
            issues.add(f"{where}.choice", "must be a non-empty list")
        elif kind == "derived":
            try:
                parse(args, frozenset(s.name for s in specs))
            except ExprError as exc:
                issues.add(f"{where}.derived", str(exc))
        specs.append(ParamSpec(name, kind, (args,) if kind == "derived" else tuple(args or ()), digits))
    return tuple(specs)
