"""Validating the per-type fields of a question (tolerance, choices, variables, code, ...).

Each function reads raw YAML data, records problems on an :class:`Issues` collector (one line
naming the file, the question and the field) and returns dataclass values for the fields it
accepts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from grader.quiz.expr import CONSTANTS, STANDARD_FUNCTIONS, ExprError, parse
from grader.quiz.model import MATCH_MODES, SCORINGS, Check, Choice, Match, Tolerance, WrongAnswer

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Issues:
    def __init__(self, path: Path):
        self.path, self.lines, self.qid = path, [], None

    def add(self, field: str | None, message: str) -> None:
        where = f"{self.path}"
        if self.qid is not None:
            where += f": question '{self.qid}'"
        if field:
            where += f": field '{field}'"
        self.lines.append(f"{where}: {message}")


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def nonneg(issues: Issues, spec: dict, key: str, prefix: str, default: float) -> float:
    value = spec.get(key, default)
    if not is_number(value) or value < 0:
        issues.add(f"{prefix}.{key}", "must be a number >= 0")
        return default
    return float(value)


def unknown_fields(issues: Issues, data: dict, allowed: set[str], prefix: str = "") -> None:
    for key in data:
        if key not in allowed:
            issues.add(f"{prefix}{key}", f"unknown field (allowed: {', '.join(sorted(allowed))})")


def parse_tolerance(issues: Issues, raw: Any) -> Tolerance:
    if raw is None:
        return Tolerance()
    if not isinstance(raw, dict):
        issues.add("tolerance", "must be {rtol, atol} or {sigfigs}")
        return Tolerance()
    unknown_fields(issues, raw, {"rtol", "atol", "sigfigs"}, "tolerance.")
    if "sigfigs" in raw:
        n = raw["sigfigs"]
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 15:
            issues.add("tolerance.sigfigs", "must be a whole number from 1 to 15")
            n = 3
        if "rtol" in raw or "atol" in raw:
            issues.add("tolerance", "give either sigfigs or rtol/atol, not both")
        return Tolerance(sigfigs=n)
    return Tolerance(rtol=nonneg(issues, raw, "rtol", "tolerance", 1e-2),
                     atol=nonneg(issues, raw, "atol", "tolerance", 1e-8))


def answer_fields(issues: Issues, raw: dict, qtype: str, names: frozenset[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if qtype == "symbolic":
        variables, functions = parse_variables(issues, raw.get("variables"), names), STANDARD_FUNCTIONS
        if "functions" in raw:
            listed = raw["functions"]
            if not isinstance(listed, list) or not all(isinstance(f, str) for f in listed):
                issues.add("functions", "must be a list of function names")
            else:
                for name in set(listed) - STANDARD_FUNCTIONS:
                    issues.add("functions", f"unknown function '{name}'")
                functions = frozenset(listed) & STANDARD_FUNCTIONS
        fields.update(variables=variables, functions=frozenset(functions), check=parse_check(issues, raw.get("check")))
        names = names | {v[0] for v in variables}
    else:
        fields["tolerance"] = parse_tolerance(issues, raw.get("tolerance"))
    answer = raw.get("answer")
    if is_number(answer):
        answer = repr(answer)
    if qtype == "matrix" and isinstance(answer, list):
        answer = repr(answer)
    if not isinstance(answer, str):
        issues.add("answer", "required: an expression as text")
    else:
        try:
            parse(answer, names)
        except ExprError as exc:
            issues.add("answer", str(exc))
        fields["answer"] = answer
    if qtype == "matrix":
        shape = raw.get("shape")
        if not (isinstance(shape, list) and shape and all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                                                          for s in shape)):
            issues.add("shape", "required: a list of whole numbers > 0, e.g. [2, 3]")
        else:
            fields["shape"] = tuple(shape)
    return fields


def parse_variables(issues: Issues, raw: Any, params: frozenset[str]) -> tuple[tuple[str, float, float], ...]:
    if not isinstance(raw, dict) or not raw:
        issues.add("variables", "required: a mapping name -> [lo, hi]")
        return ()
    out = []
    for name, bounds in raw.items():
        if not isinstance(name, str) or not NAME.match(name) or name in STANDARD_FUNCTIONS or name in CONSTANTS:
            issues.add(f"variables.{name}", "must be an identifier that is not a function or constant name")
        elif name in params:
            issues.add(f"variables.{name}", "is also a parameter name")
        elif not (isinstance(bounds, list) and len(bounds) == 2 and all(is_number(b) for b in bounds)
                  and bounds[0] < bounds[1]):
            issues.add(f"variables.{name}", "must be [lo, hi] with lo < hi")
        else:
            out.append((name, float(bounds[0]), float(bounds[1])))
    return tuple(out)


def parse_check(issues: Issues, raw: Any) -> Check:
    if raw is None:
        return Check()
    if not isinstance(raw, dict):
        issues.add("check", "must be a mapping {points, rtol, atol, timeout_s}")
        return Check()
    unknown_fields(issues, raw, {"points", "rtol", "atol", "timeout_s"}, "check.")
    points = raw.get("points", 20)
    if not isinstance(points, int) or isinstance(points, bool) or not 1 <= points <= 1000:
        issues.add("check.points", "must be a whole number from 1 to 1000")
        points = 20
    timeout = raw.get("timeout_s", 1.0)
    if not is_number(timeout) or not 0 < timeout <= 10:
        issues.add("check.timeout_s", "must be a number in (0, 10]")
        timeout = 1.0
    return Check(points=points, rtol=nonneg(issues, raw, "rtol", "check", 1e-6),
                 atol=nonneg(issues, raw, "atol", "check", 1e-9), timeout_s=float(timeout))


def choice_fields(issues: Issues, raw: dict, qtype: str) -> dict[str, Any]:
    listed = raw.get("choices")
    if not isinstance(listed, list) or not 2 <= len(listed) <= 26:
        issues.add("choices", "required: a list of 2 to 26 choices")
        return {}
    choices = []
    for i, item in enumerate(listed):
        key, where = chr(ord("a") + i), f"choices[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not item["text"].strip():
            issues.add(where, "must be a mapping with non-empty text")
            continue
        unknown_fields(issues, item, {"text", "correct", "score", "feedback"}, f"{where}.")
        correct, score = item.get("correct", False), item.get("score")
        if not isinstance(correct, bool):
            issues.add(f"{where}.correct", "must be true or false")
        if score is not None and (qtype == "multi_select" or not is_number(score) or not 0 <= score <= 1):
            issues.add(f"{where}.score", "a number from 0 to 1, for multiple_choice only")
            score = None
        if not isinstance(item.get("feedback", ""), str):
            issues.add(f"{where}.feedback", "must be text")
        value = 1.0 if correct is True else float(score) if score is not None else 0.0
        choices.append(Choice(key, item["text"], value, item.get("feedback", "")))
    full = sum(1 for c in choices if c.correct)
    if qtype == "multiple_choice" and full != 1:
        issues.add("choices", f"exactly one choice must be correct (or score 1), found {full}")
    if qtype == "multi_select" and full == 0:
        issues.add("choices", "at least one choice must be correct")
    scoring = raw.get("scoring", "each_answer")
    if qtype == "multi_select" and scoring not in SCORINGS:
        issues.add("scoring", f"must be one of {', '.join(SCORINGS)}")
        scoring = "each_answer"
    return {"choices": tuple(choices), "scoring": scoring}


def code_fields(issues: Issues, raw: dict) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    code = raw.get("code")
    if not isinstance(code, str) or not code.strip():
        issues.add("code", "required: the Python snippet whose printed output is the answer")
    else:
        fields["code"] = code
    match = raw.get("match") or {}
    if not isinstance(match, dict):
        issues.add("match", "must be a mapping {mode, rtol, atol}")
        match = {}
    unknown_fields(issues, match, {"mode", "rtol", "atol"}, "match.")
    mode = match.get("mode", "normalized_whitespace")
    if mode not in MATCH_MODES:
        issues.add("match.mode", f"must be one of {', '.join(MATCH_MODES)}")
        mode = "normalized_whitespace"
    fields["match"] = Match(mode, nonneg(issues, match, "rtol", "match", 1e-3),
                            nonneg(issues, match, "atol", "match", 1e-8))
    timeout = raw.get("timeout_s", 30)
    if not is_number(timeout) or not 0 < timeout <= 600:
        issues.add("timeout_s", "must be a number of seconds in (0, 600]")
        timeout = 30
    fields["timeout_s"] = float(timeout)
    return fields


def wrong_answers(issues: Issues, raw: Any, qtype: str, fields: dict, names: frozenset[str]) -> tuple:
    if not isinstance(raw, list):
        issues.add("wrong_answers", "must be a list of {answer, score}")
        return ()
    out = []
    keys = {c.key for c in fields.get("choices", ())}
    for i, item in enumerate(raw):
        where = f"wrong_answers[{i}]"
        if not isinstance(item, dict) or "answer" not in item:
            issues.add(where, "must be a mapping with an answer")
            continue
        unknown_fields(issues, item, {"answer", "score", "feedback"}, f"{where}.")
        answer, score = item["answer"], item.get("score", 0)
        if not is_number(score) or not 0 <= score <= 1:
            issues.add(f"{where}.score", "must be a number from 0 to 1")
            score = 0
        if qtype == "multiple_choice" and answer not in keys:
            issues.add(f"{where}.answer", f"must be one of the choice keys {', '.join(sorted(keys))}")
        elif qtype == "multi_select" and not (isinstance(answer, list) and set(answer) <= keys):
            issues.add(f"{where}.answer", "must be a list of choice keys")
        elif qtype in ("numeric", "symbolic") and not (isinstance(answer, str) or is_number(answer)):
            issues.add(f"{where}.answer", "must be a number or an expression")
        elif qtype == "code_output" and not isinstance(answer, (str, int, float)):
            issues.add(f"{where}.answer", "must be text")
        elif qtype == "numeric" and isinstance(answer, str):
            try:
                parse(answer, names)
            except ExprError as exc:
                issues.add(f"{where}.answer", str(exc))
        out.append(WrongAnswer(answer, float(score)))
    return tuple(out)
