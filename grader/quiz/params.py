"""Per-student parameters: draws from a SHA-256 of (salt, quiz, question, student, name).

The key names the question by its id, not its position, and names the parameter, so
reordering questions, adding a question or adding a parameter changes no existing draw.
Draws use the hash bits directly (``lo + u64 % n``, ``lo + (hi - lo) * u64 / 2**64``)
rather than a library random generator, whose streams are not promised to stay the same
across versions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from grader.quiz.expr import ExprError, parse

Kind = Literal["randint", "uniform", "choice", "derived"]
KINDS: tuple[str, ...] = ("randint", "uniform", "choice", "derived")
_SEP = "\x1f"


@dataclass(frozen=True)
class ParamSpec:
    """One parameter generator: ``randint [lo, hi]`` (inclusive), ``uniform [lo, hi]``,
    ``choice [values]`` or ``derived "expression over earlier params"``, with an
    optional ``round`` (decimal places) applied before any use."""

    name: str
    kind: Kind
    args: tuple[Any, ...]
    round: int | None = None


def seed_key(salt: str, quiz_id: str, question_id: str, student_id: str, name: str = "", variant: int = 0) -> int:
    """A 64-bit integer from the SHA-256 of the joined key fields."""
    key = _SEP.join([salt, quiz_id, question_id, student_id, str(variant), name]).encode("utf-8")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def unit_floats(key: str, count: int) -> list[float]:
    """``count`` floats in [0, 1) from the SHA-256 of ``key`` and a counter."""
    out: list[float] = []
    block = 0
    while len(out) < count:
        digest = hashlib.sha256(f"{key}{_SEP}{block}".encode("utf-8")).digest()
        out.extend(int.from_bytes(digest[i:i + 8], "big") * 2.0**-64 for i in range(0, 32, 8))
        block += 1
    return out[:count]


def draw_one(spec: ParamSpec, u64: int, earlier: dict[str, Any]) -> Any:
    """The value of ``spec`` for the hash ``u64``; ``earlier`` feeds ``derived``."""
    if spec.kind == "randint":
        lo, hi = int(spec.args[0]), int(spec.args[1])
        value: Any = lo + u64 % (hi - lo + 1)
    elif spec.kind == "uniform":
        lo, hi = float(spec.args[0]), float(spec.args[1])
        value = lo + (hi - lo) * (u64 / 2**64)
    elif spec.kind == "choice":
        value = spec.args[u64 % len(spec.args)]
    else:
        value = parse(spec.args[0], frozenset(earlier))(earlier)
        if getattr(value, "ndim", 0) == 0 and hasattr(value, "item"):
            value = value.item()
    if spec.round is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = round(float(value), spec.round)
    return value


def draw(specs: tuple[ParamSpec, ...], salt: str, quiz_id: str, question_id: str,
         student_id: str, variant: int = 0) -> dict[str, Any]:
    """Every parameter of one question for one student, in declaration order."""
    values: dict[str, Any] = {}
    for spec in specs:
        u64 = seed_key(salt, quiz_id, question_id, student_id, spec.name, variant)
        try:
            values[spec.name] = draw_one(spec, u64, values)
        except ExprError as exc:
            raise ExprError(f"param '{spec.name}': {exc}") from None
    return values


def format_value(value: Any) -> str:
    """How a parameter value appears in a prompt: ints plainly, floats without noise."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = f"{value:.10g}"
        return text if any(c in text for c in ".einan") else text + ".0"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if hasattr(value, "tolist"):
        return format_value(value.tolist())
    return str(value)
