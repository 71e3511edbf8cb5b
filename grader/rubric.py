"""The YAML rubric: points per test group, partial-credit tiers, limits and penalties.

An instructor edits ``reference/rubric.yaml`` without touching code::

    schema: 1
    seed: 2026              # hidden inputs are drawn from this; change it each term
    show_expected: false    # feedback never prints reference outputs unless true
    limits: {call_timeout: 10, cpu_seconds: 300}
    argument_order_penalty: 2   # points off a topic (at most what was earned) whose public
                                # functions take their positional arguments in another order
    tiers:
      near: [{within: 10, credit: 0.5}, {within: 100, credit: 0.25}]
    topics:
      losses:
        points: 20            # optional; must equal the sum of the tests' points
        forbidden_penalty: 5  # points off (at most what was earned) for banned calls
        argument_order_penalty: 2  # optional: overrides the top-level value for this topic
        tests:
          mse_loss: 1         # every case of test_mse_loss shares 1 point
          cross_entropy: {points: 3, tiers: near}

Errors name the file and the field, e.g. ``rubric.yaml: topics.losses.tests.mse_loss:
points must be a number >= 0, got 'one'``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from grader.checks import Tier
from grader.errors import RubricError
from grader.sandbox import SandboxLimits
from grader.topics import TOPICS


@dataclass(frozen=True)
class GroupRubric:
    """Points for one test function (all its parametrized cases share them)."""

    name: str
    points: float
    tiers: tuple[Tier, ...] = ()
    visibility: str = "visible"  # grader.visibility: visible, hidden, after_due_date, after_published


@dataclass(frozen=True)
class TopicRubric:
    name: str
    groups: dict[str, GroupRubric]
    forbidden_penalty: float = 0.0
    # points off (at most what the topic earned) when a public function or method takes
    # its positional arguments in another order than the contract (grader.signature_check)
    argument_order_penalty: float = 0.0

    @property
    def points(self) -> float:
        return sum(g.points for g in self.groups.values())


@dataclass(frozen=True)
class Rubric:
    topics: dict[str, TopicRubric]
    seed: int = 0
    show_expected: bool = False
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    source: str = "<default>"
    # Named settings suites read through the ``settings`` fixture, e.g. the capstone's
    # training budget: ``settings: {capstone: {epochs: 12}}``.
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    # when the assignment is due (aware datetime): tests "after_due_date" show after it
    due: datetime | None = None
    late: Any = None  # grader.late.LatePolicy: points off late submissions

    @property
    def max_score(self) -> float:
        return sum(t.points for t in self.topics.values())


class _Reader:
    def __init__(self, source: str):
        self.source = source

    def error(self, where: str, problem: str) -> RubricError:
        return RubricError(f"{self.source}: {where}: {problem}" if where else f"{self.source}: {problem}")

    def mapping(self, value: Any, where: str, allowed: set[str] | None = None) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(where, f"expected a mapping, got {type(value).__name__}")
        for key in value:
            if not isinstance(key, str):
                raise self.error(where, f"keys must be strings, got {key!r}")
            if allowed is not None and key not in allowed:
                raise self.error(where, f"unknown key {key!r} (expected one of: {', '.join(sorted(allowed))})")
        return value

    def number(self, value: Any, where: str, minimum: float = 0.0, integer: bool = False) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and integer and not float(value).is_integer():
            ok = False
        if not ok or not math.isfinite(value) or value < minimum:
            kind = "an integer" if integer else "a number"
            raise self.error(where, f"must be {kind} >= {minimum:g}, got {value!r}")
        return float(value)

    def tiers(self, value: Any, where: str) -> tuple[Tier, ...]:
        if not isinstance(value, list):
            raise self.error(where, "tiers must be a list of {within: N, credit: F}")
        out = []
        for i, entry in enumerate(value):
            here = f"{where}[{i}]"
            entry = self.mapping(entry, here, {"within", "credit"})
            if "within" not in entry or "credit" not in entry:
                raise self.error(here, "each tier needs 'within' (times the tolerance) and 'credit' (0 to 1)")
            within = self.number(entry["within"], f"{here}.within", minimum=1.0)
            credit = self.number(entry["credit"], f"{here}.credit")
            if credit > 1.0:
                raise self.error(f"{here}.credit", f"must be at most 1, got {credit:g}")
            out.append(Tier(within, credit))
        # A result further off may not earn more than a closer one: credit falls as 'within' grows.
        ordered = sorted(range(len(out)), key=lambda i: out[i].within)
        for tighter, looser in zip(ordered, ordered[1:]):
            if out[looser].credit > out[tighter].credit:
                raise self.error(
                    f"{where}[{looser}].credit",
                    f"{out[looser].credit:g} for within {out[looser].within:g} is more than the "
                    f"{out[tighter].credit:g} for within {out[tighter].within:g}; credit must fall as 'within' grows",
                )
        return tuple(out)


_TOP_KEYS = {"schema", "seed", "show_expected", "limits", "tiers", "settings", "topics", "argument_order_penalty",
             "due", "late"}
_TOPIC_KEYS = {"points", "forbidden_penalty", "argument_order_penalty", "tests", "visibility"}
_GROUP_KEYS = {"points", "tiers", "visibility"}
_VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


def _visibility(r: "_Reader", value: Any, where: str) -> str:
    if value not in _VISIBILITIES:
        raise r.error(where, f"must be one of {', '.join(_VISIBILITIES)}, got {value!r}")
    return str(value)


def parse_rubric(data: Any, source: str = "rubric.yaml", base: Path | None = None) -> Rubric:
    """Validate a rubric already loaded from YAML (``base``: the folder that relative
    paths in it, the late policy's extensions file, are read from)."""
    r = _Reader(source)
    data = r.mapping(data, "", _TOP_KEYS)
    schema = data.get("schema", 1)
    if schema != 1:
        raise r.error("schema", f"unsupported rubric schema {schema!r} (this grader reads schema 1)")
    seed = int(r.number(data.get("seed", 0), "seed", integer=True))
    show_expected = data.get("show_expected", False)
    if not isinstance(show_expected, bool):
        raise r.error("show_expected", f"must be true or false, got {show_expected!r}")
    limits_in = r.mapping(data.get("limits"), "limits", {f.name for f in dataclasses.fields(SandboxLimits)})
    limits_kwargs = {}
    for f in dataclasses.fields(SandboxLimits):
        if f.name in limits_in:
            integer = f.type in ("int", int)
            value = r.number(limits_in[f.name], f"limits.{f.name}", minimum=1, integer=integer)
            limits_kwargs[f.name] = int(value) if integer else value
    named_tiers = {
        name: r.tiers(value, f"tiers.{name}") for name, value in r.mapping(data.get("tiers"), "tiers").items()
    }
    settings = {}
    for name, values in r.mapping(data.get("settings"), "settings").items():
        values = r.mapping(values, f"settings.{name}")
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise r.error(f"settings.{name}.{key}", f"must be a number or a string, got {value!r}")
        settings[name] = dict(values)
    order_penalty = r.number(data.get("argument_order_penalty", 0), "argument_order_penalty")
    from grader.late import aware_datetime, parse_late

    due = aware_datetime(data["due"], "due", source) if data.get("due") is not None else None
    topics = {}
    for name, tdata in r.mapping(data.get("topics"), "topics").items():
        where = f"topics.{name}"
        if name not in TOPICS:
            raise r.error(where, f"unknown topic {name!r} (topics are {', '.join(TOPICS)})")
        tdata = r.mapping(tdata, where, _TOPIC_KEYS)
        topic_visibility = _visibility(r, tdata.get("visibility", "visible"), f"{where}.visibility")
        groups = {}
        for gname, gdata in r.mapping(tdata.get("tests"), f"{where}.tests").items():
            gwhere = f"{where}.tests.{gname}"
            if isinstance(gdata, dict):
                gdata = r.mapping(gdata, gwhere, _GROUP_KEYS)
                visibility = _visibility(r, gdata.get("visibility", topic_visibility), f"{gwhere}.visibility")
                if "points" not in gdata:
                    raise r.error(gwhere, "needs 'points'")
                points = r.number(gdata["points"], f"{gwhere}.points")
                tiers_value = gdata.get("tiers", ())
                if isinstance(tiers_value, str):
                    if tiers_value not in named_tiers:
                        raise r.error(f"{gwhere}.tiers", f"no tier list named {tiers_value!r} under 'tiers'")
                    tiers = named_tiers[tiers_value]
                else:
                    tiers = r.tiers(tiers_value, f"{gwhere}.tiers") if tiers_value else ()
            else:
                points = r.number(gdata, gwhere)
                tiers = ()
                visibility = topic_visibility
            if visibility == "after_due_date" and due is None:
                raise r.error(f"{gwhere}.visibility", "after_due_date needs the rubric's 'due' date")
            groups[gname] = GroupRubric(gname, points, tiers, visibility)
        topic = TopicRubric(
            name, groups, r.number(tdata.get("forbidden_penalty", 0), f"{where}.forbidden_penalty"),
            r.number(tdata.get("argument_order_penalty", order_penalty), f"{where}.argument_order_penalty"),
        )
        if "points" in tdata:
            declared = r.number(tdata["points"], f"{where}.points")
            if abs(declared - topic.points) > 1e-9:
                raise r.error(
                    f"{where}.points", f"is {declared:g} but the tests' points add up to {topic.points:g}"
                )
        topics[name] = topic
    late = parse_late(data.get("late"), due, source, base)
    return Rubric(topics, seed, show_expected, SandboxLimits(**limits_kwargs), source, settings, due, late)


def load_rubric(path: str | Path) -> Rubric:
    """Read and validate a rubric file; a malformed one raises :class:`RubricError`."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise RubricError(f"{path}: the rubric must be a YAML file, not a folder or special file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RubricError(f"{path}: rubric file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError(f"{path}: cannot read the rubric ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise RubricError(f"{path.name}: not valid YAML{where}: {problem}") from None
    return parse_rubric(data, path.name, path.parent)
