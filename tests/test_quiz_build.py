"""Build time: code_output snippets run in a child process, with a time limit and a cache."""

from __future__ import annotations

import pytest

from grader.quiz.build import BuildError, Snippet, run_snippets, substitute


def test_outputs_failures_and_timeouts(tmp_path):
    ok = Snippet("q-ok", "import random\nprint(random.random() < 1, 1 + 1)", 5)
    assert run_snippets([ok]) == {ok.code: "True 2\n"}
    with pytest.raises(BuildError, match="q-bad: code failed: ZeroDivisionError"):
        run_snippets([Snippet("q-bad", "print(1/0)", 5)])
    with pytest.raises(BuildError, match="q-slow: code failed: TimeoutError"):
        run_snippets([Snippet("q-slow", "while True: pass", 0.3)])


def test_cache_skips_the_child(tmp_path):
    snip = Snippet("q", "print('cached')", 5)
    assert run_snippets([snip], tmp_path) == {snip.code: "cached\n"}
    assert len(list(tmp_path.iterdir())) == 1
    # a cache hit never starts a process: a snippet that would fail is not rerun
    (next(tmp_path.iterdir())).write_text('{"out": "from cache\\n"}')
    assert run_snippets([snip], tmp_path) == {snip.code: "from cache\n"}


def test_substitute():
    assert substitute("x = {{ a }} + {{b}}", {"a": 2.0, "b": 3}) == "x = 2.0 + 3"
