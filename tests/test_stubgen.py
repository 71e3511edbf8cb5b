from __future__ import annotations

import importlib.util
import textwrap

import pytest

from grader.errors import GraderError
from grader.stubgen import make_stub, strip_markers, stub_targets, sync_stubs
from tests.mutation import ROOT

SOURCE = textwrap.dedent(
    '''
    """Module docstring."""
    import torch

    ### BEGIN SOLUTION
    def _helper(x):
        return x
    ### END SOLUTION


    def f(x):
        """Doc with maths."""
        ### BEGIN SOLUTION
        return _helper(x) + 1
        ### END SOLUTION


    class Opt:
        def __init__(self):
            self.lr = 1

        def step(self):
            """Update."""
            ### BEGIN SOLUTION
            self.lr += 1
            ### END SOLUTION
    '''
)


def test_regions_become_raises_and_module_helpers_vanish():
    stub = make_stub(SOURCE, "topic")
    assert "_helper" not in stub
    assert 'raise NotImplementedError("topic.f: not implemented yet")' in stub
    assert 'raise NotImplementedError("topic.Opt.step: not implemented yet")' in stub
    assert '"""Doc with maths."""' in stub and "self.lr = 1" in stub
    assert "BEGIN SOLUTION" not in stub
    assert "BEGIN" not in strip_markers(SOURCE) and "_helper" in strip_markers(SOURCE)


@pytest.mark.parametrize(
    "source,words",
    [
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "never closed"),
        ("def f():\n    pass\n    ### END SOLUTION\n", "without a matching"),
        ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n", "cannot nest"),
        ("if True:\n    ### BEGIN SOLUTION\n    x = 1\n    ### END SOLUTION\n", "inside a function"),
    ],
)
def test_malformed_regions_are_errors(source, words):
    with pytest.raises(GraderError, match=words):
        make_stub(source, "t")


def test_committed_stubs_match_the_reference():
    assert stub_targets(ROOT), "no reference modules with solution regions"
    assert sync_stubs(ROOT, write=False) == [], "run `grader stubs` to regenerate assignments/"


@pytest.mark.parametrize("ref", sorted(stub_targets(ROOT)), ids=lambda p: p.stem)
def test_every_public_function_of_a_stub_raises(ref):
    stub = stub_targets(ROOT)[ref]
    spec = importlib.util.spec_from_file_location(f"stub_{ref.stem}", stub)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    reference_names = [n for n in getattr(module, "__all__", []) if not n[0].isupper()]
    assert reference_names, "stubs should list their API in __all__"
    for name in reference_names:
        fn = getattr(module, name)
        with pytest.raises(NotImplementedError):
            fn(*([None] * fn.__code__.co_argcount))
