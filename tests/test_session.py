"""The conversation with a worker, as the trusted side sees it: what a call may cost the
grader, objects kept in the worker, callbacks that work on the student's objects,
notices, fresh workers, and values the grader refuses."""

from __future__ import annotations

import textwrap
import time

import pytest
import torch

from grader.errors import BadReturn, StudentError, StudentTimeout
from grader.proxy import StudentProxy
from grader.sandbox import SandboxLimits
from grader.session import RemoteObject, SubmissionSession

STUDENT = textwrap.dedent(
    """
    import numpy as np
    import torch
    import torch.nn.functional as F

    CALLS = [0]

    def forward(x):
        return x * 2, (np.asarray(x.numpy()), "kept as it is")

    def backward(d, cache):
        mask, tag = cache
        assert isinstance(mask, np.ndarray) and tag == "kept as it is"
        return d * torch.from_numpy(mask)

    def call_often(f, x, n):
        for _ in range(n):
            f(x)
        return 0

    def call_with(f, n):
        return f(torch.zeros(n))

    def build(f, v):
        return f(Box(v)).value

    class Box:
        def __init__(self, v):
            self.value = v
        def double(self):
            return Box(self.value * 2)

    def sneaky_softmax(x):
        name = "soft" + "max"
        return getattr(F, name)(x, dim=0)

    def bump():
        CALLS[0] += 1
        return CALLS[0]

    def huge_int():
        return 10 ** 30

    def forge_notices():
        import gc, sys
        Worker = sys.modules["grader.worker"].Worker
        (worker,) = [o for o in gc.get_objects() if isinstance(o, Worker)]
        worker.notice({"kind": "forbidden", "topic": "x" * 100_000, "name": "a"})
        worker.notice({"kind": "praise", "topic": "losses", "name": "b"})
        worker.notice({"kind": "forbidden", "topic": "losses", "name": "c" * 5000, "function": 7, "line": "9"})
        return 0
    """
)


@pytest.fixture
def session(tmp_path, zygote):
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "losses.py").write_text(STUDENT)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    limits = SandboxLimits(call_timeout=2, cpu_seconds=60, wall_seconds=120)
    s = SubmissionSession(zygote, str(modules), str(scratch), {"losses"}, limits)
    yield s
    s.close()


def test_kept_results_reach_the_next_call_unchanged(session):
    student = StudentProxy(lambda: session)
    out, cache = student.losses.forward.keeping(1)(torch.ones(3))
    assert torch.equal(out, torch.full((3,), 2.0))
    assert isinstance(cache, RemoteObject) and cache.remote_type == "tuple"
    # the numpy mask inside the cache was never turned into a tensor by the wire
    assert torch.equal(student.losses.backward(torch.ones(3), cache), torch.ones(3))


def test_callbacks_are_charged_to_the_call(session):
    student = StudentProxy(lambda: session)

    def slow(x):
        time.sleep(0.2)
        return x

    t0 = time.monotonic()
    with pytest.raises(StudentTimeout):
        student.losses.call_often(slow, torch.ones(1), 1000)
    assert time.monotonic() - t0 < 4.0  # the 2 s call timeout, not 1000 callbacks of 0.2 s


def test_callbacks_refuse_arguments_much_larger_than_the_test_sent(session):
    student = StudentProxy(lambda: session)
    seen = []

    def f(t):
        seen.append(t.numel())
        return t.sum()

    assert student.losses.call_with(f, 1000) == 0.0  # 4 kB: under the 1 MiB floor
    with pytest.raises(StudentError, match="refuses"):
        student.losses.call_with(f, 4 << 20)  # 16 MiB asked of a function sent 0 bytes
    assert seen == [1000]

    def roomy(t):
        return t.sum()

    roomy.max_bytes = 64 << 20
    assert student.losses.call_with(roomy, 4 << 20) == 0.0


def test_a_callback_can_work_on_the_objects_it_is_given(session):
    student = StudentProxy(lambda: session)

    def f(box):
        assert isinstance(box, RemoteObject)
        return box.method("double")()  # a request of its own while the call is in progress

    assert student.losses.build(f, 21) == 42
    assert session.last_call[0] == "build"  # the nested requests do not replace the call's description


def test_forbidden_calls_made_at_run_time_become_notices(session):
    student = StudentProxy(lambda: session)
    student.losses.sneaky_softmax(torch.ones(3))
    student.losses.sneaky_softmax(torch.ones(3))
    assert list(session.notices) == [("forbidden", "losses", "torch.nn.functional.softmax")]
    assert session.notices[("forbidden", "losses", "torch.nn.functional.softmax")]["function"] == "sneaky_softmax"


def test_forged_notices_are_kept_to_known_topics_and_bounded(session):
    student = StudentProxy(lambda: session)
    assert student.losses.forge_notices() == 0
    ((kind, topic, name),) = session.notices
    assert (kind, topic) == ("forbidden", "losses") and len(name) == 120
    assert session.notices[(kind, topic, name)] == {"function": "7", "line": 0}


def test_a_fresh_worker_remembers_nothing_and_shares_the_budget(session):
    student = StudentProxy(lambda: session)
    assert student.losses.bump() == 1
    assert student.losses.bump() == 2
    calls = session.stats.calls
    with student.fresh() as clean:
        assert clean.losses.bump() == 1  # a new process: the module's state starts over
    assert student.losses.bump() == 3
    assert session.stats.calls >= calls + 3 and session.stats.workers == 2


def test_integers_beyond_64_bits_are_the_students_error(session):
    student = StudentProxy(lambda: session)
    with pytest.raises(BadReturn, match="64-bit"):
        student.losses.huge_int()
