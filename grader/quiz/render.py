"""A student's copy of a quiz as Markdown, HTML or a Jupyter notebook, without answers."""

from __future__ import annotations

import html
import json
import re
from typing import Any, Mapping

from grader.quiz.build import substitute
from grader.quiz.model import Question, Quiz
from grader.quiz.params import draw

_FENCE = re.compile(r"^```")


def question_text(question: Question, params: Mapping[str, Any]) -> str:
    """The prompt with parameters filled in, and for code_output the code as a block."""
    text = substitute(question.prompt, params).strip()
    if question.type == "code_output":
        text += "\n\n```python\n" + substitute(question.code or "", params).rstrip() + "\n```"
    return text


def answer_hint(question: Question) -> str:
    """How to write the answer in the answer file (Markdown)."""
    if question.type == "numeric":
        return "Answer with a number (for example `2.5e-3` or `1/3`)."
    if question.type == "multiple_choice":
        return "Answer with the key of one choice."
    if question.type == "multi_select":
        return "Answer with a list of the keys of every choice that applies, e.g. `[a, c]`."
    if question.type == "symbolic":
        names = ", ".join(f"`{v[0]}`" for v in question.variables)
        funcs = ", ".join(sorted(question.functions))
        return f"Answer with an expression in {names} (text, e.g. `\"2*x\"`); functions you may use: {funcs}."
    if question.type == "matrix":
        return f"Answer with a nested list of numbers of shape {list(question.shape)}."
    return "Answer with the exact printed output, as text."


def question_markdown(number: int, question: Question, params: Mapping[str, Any]) -> str:
    points = f"{question.points:g} point{'s' if question.points != 1 else ''}"
    lines = [f"## {number}. `{question.id}` ({points})", "", question_text(question, params), ""]
    for choice in question.choices:
        lines.append(f"- **{choice.key})** {substitute(choice.text, params)}")
    if question.choices:
        lines.append("")
    lines += [f"*{answer_hint(question)}*", ""]
    return "\n".join(lines)


def answer_template(quiz: Quiz, student: str) -> str:
    """An answer file to fill in (YAML)."""
    lines = [f"student: {student}", f"quiz: {quiz.id}", "answers:"]
    lines += [f"  {q.id}: " for q in quiz.questions]
    return "\n".join(lines) + "\n"


def to_markdown(quiz: Quiz, student: str, salt: str) -> list[str]:
    """One Markdown block per part: title, each question, the answer file template."""
    head = f"# {quiz.title}\n\nStudent: `{student}` - {quiz.max_points:g} points\n"
    parts = [head]
    for i, q in enumerate(quiz.questions, 1):
        parts.append(question_markdown(i, q, draw(q.params, salt, quiz.id, q.id, student)))
    parts.append("## Your answer file\n\nSave as `answers.yaml` and fill in:\n\n```yaml\n"
                 + answer_template(quiz, student) + "```\n")
    return parts


def markdown_to_html(text: str) -> str:
    """A small Markdown subset as HTML: paragraphs, ``##`` headings, ``-`` lists, fenced
    code, inline code, ``**bold**`` and ``*italic*``. Maths stays as ``$...$`` text."""
    out, para, items, code = [], [], [], None

    def inline(s: str) -> str:
        s = html.escape(s)
        s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
        s = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", s)
        return re.sub(r"(?<![*\w])\*([^*]+)\*(?!\*)", r"<em>\1</em>", s)

    def flush() -> None:
        if para:
            out.append("<p>" + inline(" ".join(para)) + "</p>")
            para.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in text.splitlines():
        if code is not None:
            if _FENCE.match(line):
                out.append("<pre><code>" + html.escape("\n".join(code)) + "</code></pre>")
                code = None
            else:
                code.append(line)
        elif _FENCE.match(line):
            flush()
            code = []
        elif line.startswith("#"):
            flush()
            level = min(len(line) - len(line.lstrip("#")), 6)
            out.append(f"<h{level}>{inline(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("- "):
            if para:
                flush()
            items.append(line[2:])
        elif not line.strip():
            flush()
        else:
            para.append(line.strip())
    if code is not None:
        out.append("<pre><code>" + html.escape("\n".join(code)) + "</code></pre>")
    flush()
    return "\n".join(out)


def render_quiz(quiz: Quiz, student: str, fmt: str, salt: str) -> str:
    """``student``'s variant of ``quiz`` as ``md``, ``html`` or ``ipynb`` text."""
    parts = to_markdown(quiz, student, salt)
    if fmt == "md":
        return "\n".join(parts).rstrip("\n") + "\n"
    if fmt == "html":
        body = "\n".join(markdown_to_html(p) for p in parts)
        return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(quiz.title)}</title>"
                f"</head><body>\n{body}\n</body></html>\n")
    cells = [{"cell_type": "markdown", "metadata": {}, "source": p.splitlines(keepends=True)} for p in parts[:-1]]
    template = answer_template(quiz, student).splitlines(keepends=True)
    cells.append({"cell_type": "raw", "metadata": {}, "source": template})
    notebook = {"cells": cells, "metadata": {"quiz": {"id": quiz.id, "student": student}},
                "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(notebook, indent=1) + "\n"


