"""Moodle XML: a category per quiz, and a sub-category per pool of variants.

A Moodle "random question" from a pool's category then gives each student one variant.
Fractions must come from Moodle's fixed list of grades, so per-choice scores are snapped
to the nearest allowed value.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from grader.quiz.export import Item, Pool, numeric_answer
from grader.quiz.model import Quiz
from grader.quiz.render import markdown_to_html

# Moodle's allowed grade fractions (percent), positive half; negatives mirror them.
GRADES = (100.0, 90.0, 83.33333, 80.0, 75.0, 70.0, 66.66667, 60.0, 50.0, 40.0, 33.33333, 30.0, 25.0,
          20.0, 16.66667, 14.28571, 12.5, 11.11111, 10.0, 5.0, 0.0)


def snap(percent: float) -> float:
    """The allowed Moodle fraction nearest to ``percent`` (sign kept)."""
    best = min(GRADES, key=lambda g: abs(g - abs(percent)))
    return best if percent >= 0 else -best


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrs)
    if text is not None:
        node.text = text
    return node


def _text(parent: ET.Element, tag: str, text: str, html: bool = False) -> ET.Element:
    node = _sub(parent, tag, format="html") if html else _sub(parent, tag)
    _sub(node, "text", text)
    return node


def _category(root: ET.Element, path: str) -> None:
    _text(_sub(root, "question", type="category"), "category", path)


def _fmt(x: float) -> str:
    return f"{x:.7g}"


def _question(root: ET.Element, item: Item) -> None:
    q = item.question
    numeric = numeric_answer(item)
    kind = "numerical" if numeric else "multichoice" if q.choices else "shortanswer"
    node = _sub(root, "question", type=kind)
    _text(node, "name", item.name)
    _text(node, "questiontext", markdown_to_html(item.text), html=True)
    if q.solution:
        _text(node, "generalfeedback", markdown_to_html(q.solution), html=True)
    _sub(node, "defaultgrade", f"{q.points:g}")
    if numeric:
        value, margin = numeric
        answer = _text(node, "answer", repr(value))
        answer.set("fraction", "100")
        _sub(answer, "tolerance", repr(margin))
    elif q.choices:
        single = q.type == "multiple_choice"
        _sub(node, "single", "true" if single else "false")
        _sub(node, "shuffleanswers", "false")
        _sub(node, "answernumbering", "abc")
        n_right = len(q.correct_keys)
        n_wrong = len(q.choices) - n_right
        for c in q.choices:
            if single:
                percent = snap(100 * c.score)
            else:
                percent = snap(100 / n_right) if c.correct else snap(-100 / max(n_wrong, 1))
            answer = _text(node, "answer", markdown_to_html(c.text))
            answer.set("fraction", _fmt(percent))
            answer.set("format", "html")
            if c.feedback:
                _text(answer, "feedback", c.feedback)
    else:
        _sub(node, "usecase", "1")
        answer = _text(node, "answer", str(item.variant.expected).strip())
        answer.set("fraction", "100")


def quiz_xml(quiz: Quiz, pools: list[Pool]) -> bytes:
    root = ET.Element("quiz")
    base = f"$course$/{quiz.id}"
    _category(root, base)
    for pool in pools:
        if len(pool.items) == 1 and not pool.question.params:
            _question(root, pool.items[0])
    for pool in pools:
        if pool.question.params or len(pool.items) > 1:
            _category(root, f"{base}/{pool.question.id}")
            for item in pool.items:
                _question(root, item)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write(quiz: Quiz, pools: list[Pool], target: Path) -> None:
    target.write_bytes(quiz_xml(quiz, pools))
