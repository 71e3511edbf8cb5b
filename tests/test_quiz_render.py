"""Rendering a student's variant: the right parameters, never the answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.quiz.params import format_value
from grader.quiz.render import markdown_to_html, render_quiz
from grader.quiz.schema import load_quiz
from grader.quiz.variant import make_variant

QUIZ = load_quiz(Path(__file__).parent / "fixtures" / "quiz" / "basics.yaml")


@pytest.mark.parametrize("fmt", ["md", "html", "ipynb"])
def test_render_has_params_and_no_answers(fmt):
    text = render_quiz(QUIZ, "alice", fmt, QUIZ.seed_salt)
    ce = make_variant(QUIZ, QUIZ.question("ce-uniform"), "alice", QUIZ.seed_salt)
    assert f"all {ce.params['C']} classes" in text
    assert format_value(ce.expected)[:5] not in text
    assert "Uniform softmax" not in text  # the solution
    assert "2*x*(w*x - y)" not in text
    if fmt == "ipynb":
        nb = json.loads(text)
        assert nb["nbformat"] == 4 and nb["metadata"]["quiz"]["student"] == "alice"


def test_students_see_their_own_variant():
    texts = {render_quiz(QUIZ, f"s{i}", "md", QUIZ.seed_salt) for i in range(5)}
    assert len(texts) == 5


def test_markdown_to_html():
    html = markdown_to_html("Hello *you* & `x<y`\n\n- a\n- b\n\n```python\nprint('<')\n```")
    assert "<p>Hello <em>you</em> &amp; <code>x&lt;y</code></p>" in html
    assert "<ul><li>a</li><li>b</li></ul>" in html
    assert "<pre><code>print(&#x27;&lt;&#x27;)</code></pre>" in html
