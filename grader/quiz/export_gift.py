"""GIFT (Moodle's text format): one question per paragraph, ``$CATEGORY`` lines for pools.

Question text is Markdown (``[markdown]``); newlines inside a question are written as the
escape ``\\n`` so that a blank line still ends the question, and GIFT's special characters
``~ = # { } :`` are escaped with a backslash.
"""

from __future__ import annotations

from pathlib import Path

from grader.quiz.export import Item, Pool, numeric_answer
from grader.quiz.export_moodle import snap
from grader.quiz.model import Quiz

SPECIAL = "\\~=#{}:"


def escape(text: str) -> str:
    """GIFT-escape ``text`` and fold its newlines into ``\\n``."""
    out = "".join("\\" + ch if ch in SPECIAL else ch for ch in text.strip())
    return out.replace("\r\n", "\n").replace("\n", "\\n")


def _fmt(x: float) -> str:
    return f"{x:.7g}"


def question_gift(item: Item) -> str:
    """One question in GIFT."""
    q = item.question
    head = f"::{escape(item.name)}::[markdown]{escape(item.text)}"
    numeric = numeric_answer(item)
    if numeric:
        value, margin = numeric
        body = f"#{value!r}:{margin!r}"
    elif q.type == "multiple_choice":
        parts = []
        for c in q.choices:
            mark = "=" if c.correct else f"~%{_fmt(snap(100 * c.score))}%" if c.score > 0 else "~"
            feedback = f"#{escape(c.feedback)}" if c.feedback else ""
            parts.append(f"{mark}{escape(c.text)}{feedback}")
        body = " ".join(parts)
    elif q.type == "multi_select":
        right, wrong = len(q.correct_keys), len(q.choices) - len(q.correct_keys)
        body = " ".join(f"~%{_fmt(snap(100 / right) if c.correct else snap(-100 / max(wrong, 1)))}%{escape(c.text)}"
                        for c in q.choices)
    else:
        body = f"={escape(str(item.variant.expected))}"
    comment = f"// {q.type}, {q.points:g} point(s)\n"
    return f"{comment}{head} {{{body}}}\n"


def quiz_gift(quiz: Quiz, pools: list[Pool]) -> str:
    base = f"$course$/{quiz.id}"
    blocks = [f"// {quiz.title} ({quiz.id}), exported from nnquiz\n$CATEGORY: {base}\n"]
    for pool in pools:
        if len(pool.items) == 1 and not pool.question.params:
            blocks.append(question_gift(pool.items[0]))
    for pool in pools:
        if pool.question.params or len(pool.items) > 1:
            blocks.append(f"$CATEGORY: {base}/{pool.question.id}\n")
            blocks.extend(question_gift(item) for item in pool.items)
    return "\n".join(blocks)


def write(quiz: Quiz, pools: list[Pool], target: Path) -> None:
    target.write_text(quiz_gift(quiz, pools), encoding="utf-8")
