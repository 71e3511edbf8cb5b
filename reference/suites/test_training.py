"""Hidden suite for training.py, part 1: iterate_minibatches and EarlyStopping.

iterate_minibatches runs beside the student's code through
``harness.collect_minibatches`` (one round trip per epoch of batches) and must give the
reference's batches exactly: the order of ``torch.randperm(N, generator=generator)``,
the last partial batch kept, and no randomness but the generator's.

EarlyStopping is driven through ``harness.run_early_stopping``: a sequence of metrics,
and after every ``step`` what it returned with ``best`` and ``best_step``. The metrics
are multiples of 1/8 and min_delta a multiple of 1/8 too, so every comparison is exact
in floating point (an improvement of exactly min_delta is not an improvement, whichever
way the comparison is written). Known slips are simulated (``_SlipStopper``) so a
failure can name its cause.

Part 2 (test_training_loop.py) grades ``train``.
"""

from __future__ import annotations

import pytest
import torch

from grader import harness_training
from grader.diagnosis import Mistake

pytestmark = pytest.mark.topic("training")

F32, F64 = torch.float32, torch.float64


def _seed(gen) -> int:
    return int(torch.randint(0, 2**62, (), generator=gen))


# ------------------------------------------------------------------ iterate_minibatches


def _data(gen, n, dtype, device, tail=()):
    X = torch.randn(n, *(tail or (3,)), generator=gen, dtype=dtype)
    y = torch.randint(0, 4, (n,), generator=gen)
    return X.to(device), y.to(device)


def _rows(batches, X):
    """The row indices of X that each batch holds (-1 where a row is not one of X's), or
    None when the batches are not pairs of tensors with rows shaped like X's (at most N
    rows each). Rows are looked up by their bytes, so the work grows with the number of
    rows returned, not with that number times N."""
    n = X.shape[0]
    table = X.detach().cpu().reshape(n, -1).contiguous()
    lookup = {}
    for i in range(n - 1, -1, -1):  # the first of equal rows wins, as before
        lookup[table[i].numpy().tobytes()] = i
    out = []
    for b in batches:
        if not isinstance(b, list) or len(b) != 2 or not isinstance(b[0], torch.Tensor) or b[0].dim() < 1:
            return None
        xb = b[0].detach()
        if xb.dtype != table.dtype or xb.shape[0] > n or xb.numel() != xb.shape[0] * table.shape[1]:
            return None
        xb = xb.cpu().reshape(xb.shape[0], -1).contiguous()
        out.append([lookup.get(row.numpy().tobytes(), -1) for row in xb])
    return out


def _batch_mistakes(got, want, X, batch_size):
    """Name the sampling slip from the rows the student's batches hold."""
    rows, ref_rows = _rows(got, X), _rows(want, X)
    n = X.shape[0]
    flat = None if rows is None else [i for b in rows for i in b]
    sizes = None if rows is None else [len(b) for b in rows]
    want_sizes = [len(b) for b in ref_rows]

    def not_pairs(_out):
        return rows is None

    def dropped_last(_out):
        return (sizes is not None and n % batch_size != 0 and len(sizes) == len(want_sizes) - 1
                and all(s == batch_size for s in sizes))

    def replacement(_out):
        return flat is not None and len(flat) == n and sorted(flat) != list(range(n))

    def not_shuffled(_out):
        return flat == list(range(n)) and [i for b in ref_rows for i in b] != list(range(n))

    def shuffled(_out):
        return flat is not None and sorted(flat) == list(range(n)) and flat != list(range(n)) \
            and [i for b in ref_rows for i in b] == list(range(n))

    def other_order(_out):
        return flat is not None and sorted(flat) == list(range(n)) and sizes == want_sizes

    return [
        Mistake("yield each batch as a pair (Xb, yb) of tensors holding rows of X and y", when=not_pairs),
        Mistake("the last, shorter batch is missing: when batch_size does not divide N the final "
                "slice perm[k*B:N] is a batch too (do not drop it)", when=dropped_last),
        Mistake("some rows appear twice and others never: take a permutation (torch.randperm), "
                "not indices sampled with replacement (torch.randint)", when=replacement),
        Mistake("the rows came in their original order: with shuffle=True use the order "
                "torch.randperm(N, generator=generator)", when=not_shuffled),
        Mistake("with shuffle=False the rows must come in their original order 0, 1, ..., N-1 "
                "(no permutation at all)", when=shuffled),
        Mistake("the batches hold a permutation of the rows but not the expected one: draw it with "
                "torch.randperm(N, generator=generator), one call per epoch, and cut it into "
                "consecutive slices perm[0:B], perm[B:2B], ... (no other source of randomness: "
                "not torch.randperm without the generator, random.shuffle or numpy)", when=other_order),
    ]


def _check_batches(check, got, want, X, batch_size, label):
    """Exact comparison, batch by batch, of student and reference batches. What came back
    is bounded first: one pass yields ceil(N / batch_size) batches, and the worker's
    driver itself stops after 10 (N + 1)."""
    if isinstance(got, list) and len(got) > 10 * (X.shape[0] + 1):
        check.fail(f"{label} yielded {len(got)} batches for N={X.shape[0]} rows",
                   "one call is one pass over the data: ceil(N / batch_size) batches, then stop")
    mistakes = _batch_mistakes(got, want, X, batch_size)
    if not isinstance(got, list) or len(got) != len(want):
        check.close(got, want, what=f"{label}: the list of batches", mistakes=mistakes)
    for k, (a, e) in enumerate(zip(got, want)):
        check.close(a, e, rtol=0.0, atol=0.0, what=f"{label}: batch {k + 1} of {len(want)} as (Xb, yb)",
                    mistakes=mistakes)


def minibatch_case(check, student, reference, X, y, batch_size, shuffle, generator_seed, global_seed, label):
    got = student.harness.collect_minibatches(
        student.training.iterate_minibatches, X, y, batch_size=batch_size, shuffle=shuffle,
        generator_seed=generator_seed, global_seed=global_seed)
    want = harness_training.collect_minibatches(
        reference.training.iterate_minibatches, X, y, batch_size=batch_size, shuffle=shuffle,
        generator_seed=generator_seed, global_seed=global_seed)
    _check_batches(check, got, want, X, batch_size, label)
    return got


def _label(n, batch_size, shuffle, gen_text="generator=g"):
    return f"iterate_minibatches(X (N={n}), y, batch_size={batch_size}, shuffle={shuffle}, {gen_text})"


# (N, batch_size, dtype, extra dims of X)
SHUFFLE_CASES = [(10, 3, F32, ()), (12, 4, F64, ()), (9, 2, F64, (2, 2)), (16, 5, F32, (1,))]


@pytest.mark.parametrize("n,batch_size,dtype,tail", SHUFFLE_CASES,
                         ids=[f"N{n}-B{b}-{str(d)[6:]}-X{len(t) + 1}d" for n, b, d, t in SHUFFLE_CASES])
def test_iterate_minibatches_shuffle(student, reference, check, gen, device, n, batch_size, dtype, tail):
    X, y = _data(gen, n, dtype, device, tail)
    minibatch_case(check, student, reference, X, y, batch_size, True, _seed(gen), 0,
                   _label(n, batch_size, True))


def test_iterate_minibatches_generator_only(student, reference, check, gen, device, dtype):
    """The generator is the only source of randomness; without one, torch's global RNG."""
    X, y = _data(gen, 11, dtype, device)
    seed = _seed(gen)
    label = _label(11, 3, True) + " with torch's global RNG seeded differently before each call"
    for global_seed in (1, 2):
        minibatch_case(check, student, reference, X, y, 3, True, seed, global_seed, label)
    global_seed = _seed(gen)
    minibatch_case(check, student, reference, X, y, 3, True, None, global_seed,
                   _label(11, 3, True, "generator=None") + " after torch.manual_seed(s)")


SEQUENTIAL_CASES = [(10, 3, F32), (8, 4, F64), (5, 2, F64)]


@pytest.mark.parametrize("n,batch_size,dtype", SEQUENTIAL_CASES,
                         ids=[f"N{n}-B{b}-{str(d)[6:]}" for n, b, d in SEQUENTIAL_CASES])
def test_iterate_minibatches_sequential(student, reference, check, gen, device, n, batch_size, dtype):
    X, y = _data(gen, n, dtype, device)
    minibatch_case(check, student, reference, X, y, batch_size, False, _seed(gen), 0,
                   _label(n, batch_size, False))


# (N, batch_size, shuffle): a shorter last batch, batch_size > N, batch_size == N, batch_size 1
LAST_CASES = [(7, 3, True), (5, 8, True), (6, 6, True), (4, 1, True), (11, 4, False), (3, 5, False)]


@pytest.mark.parametrize("n,batch_size,shuffle", LAST_CASES,
                         ids=[f"N{n}-B{b}-{'shuffle' if s else 'ordered'}" for n, b, s in LAST_CASES])
def test_iterate_minibatches_last_batch(student, reference, check, gen, device, dtype, n, batch_size, shuffle):
    X, y = _data(gen, n, dtype, device)
    minibatch_case(check, student, reference, X, y, batch_size, shuffle, _seed(gen), 0,
                   _label(n, batch_size, shuffle))


def _bad_minibatch_calls():
    def call(n=6, ny=None, **kw):
        g = torch.Generator().manual_seed(3)
        X = torch.randn(n, 2, generator=g, dtype=F64)
        y = torch.randint(0, 3, (n if ny is None else ny,), generator=g)
        base = {"batch_size": 2, "shuffle": True, "generator_seed": 1}
        base.update(kw)
        return X, y, base

    return [
        ("batch_size=0", call(batch_size=0), r"batch_size"),
        ("batch_size=-2", call(batch_size=-2), r"batch_size"),
        ("batch_size=2.5", call(batch_size=2.5), r"batch_size"),
        ("len(y)!=len(X)", call(ny=5), r"\by\b|length|rows|size|shape"),
    ]


BAD_MINIBATCH = _bad_minibatch_calls()


@pytest.mark.parametrize("case", BAD_MINIBATCH, ids=[c[0] for c in BAD_MINIBATCH])
def test_iterate_minibatches_bad_arguments(student, check, case):
    _, (X, y, kwargs), match = case
    with check.raises(ValueError, match=match,
                      hint="check the arguments and raise ValueError naming the bad one (batch_size must "
                           "be an integer >= 1; X and y must have the same number of rows)"):
        student.harness.collect_minibatches(student.training.iterate_minibatches, X, y, **kwargs)


# ------------------------------------------------------------------ EarlyStopping


class _SlipStopper:
    """EarlyStopping with one known slip (``bug``), grader-side, to name mistakes."""

    def __init__(self, patience=5, min_delta=0.0, mode="min", bug=None):
        self.patience, self.min_delta, self.mode, self.bug = patience, min_delta, mode, bug
        self.best = None
        self.best_step = None
        self.calls = 0
        self.bad = 0
        self.total_bad = 0
        self.stopped = False

    def step(self, metric):
        m = float(metric)
        mode = self.mode
        if self.bug == "mode_inverted":
            mode = "max" if mode == "min" else "min"
        delta = 0.0 if self.bug == "min_delta_ignored" else self.min_delta
        if self.best is None:
            improved = True
        elif self.bug == "non_strict":
            improved = m <= self.best - delta if mode == "min" else m >= self.best + delta
        elif self.bug == "delta_wrong_side":
            improved = m < self.best + delta if mode == "min" else m > self.best - delta
        else:
            improved = m < self.best - delta if mode == "min" else m > self.best + delta
        better_at_all = self.best is None or (m < self.best if mode == "min" else m > self.best)
        if improved:
            self.best, self.best_step, self.bad = m, self.calls, 0
        else:
            self.bad += 1
            self.total_bad += 1
            if self.bug == "best_on_any_gain" and better_at_all:
                self.best, self.best_step = m, self.calls
            if self.bug == "best_every_call":
                self.best, self.best_step = m, self.calls
        if self.bug == "best_step_one_based" and improved:
            self.best_step = self.calls + 1
        self.calls += 1
        count = self.total_bad if self.bug == "no_reset" else self.bad
        if self.bug == "stop_late":
            return count > self.patience
        if self.bug == "stop_early":
            return count >= self.patience - 1
        if self.bug == "latched":  # once True, True for good
            self.stopped = self.stopped or count >= self.patience
            return self.stopped
        return count >= self.patience


STOPPER_HINTS = {
    "no_reset": "the count of calls without improvement must restart at 0 after every improvement: "
    "patience counts calls IN A ROW without improvement, not in total",
    "stop_late": "off by one: step must return True on the patience-th call in a row without improvement "
    "(counter >= patience), not one call later",
    "stop_early": "off by one: step returned True one call too early; it must wait for patience calls in a "
    "row without improvement",
    "non_strict": "a metric equal to the best (or better by exactly min_delta) is NOT an improvement: "
    "compare strictly (metric < best - min_delta)",
    "min_delta_ignored": "min_delta was ignored: an improvement must beat the best by MORE than min_delta "
    "(mode min: metric < best - min_delta)",
    "delta_wrong_side": "min_delta is on the wrong side: an improvement is metric < best - min_delta "
    "(mode max: metric > best + min_delta)",
    "best_on_any_gain": "best / best_step changed on a call that was not an improvement: update them only "
    "when the metric beats the best by more than min_delta",
    "best_every_call": "best / best_step must only change on an improvement, not on every call",
    "best_step_one_based": "best_step is the 0-based index of the call (the first call is step 0)",
    "mode_inverted": "mode='max' means larger is better (an accuracy): an improvement is "
    "metric > best + min_delta",
    "latched": "step returned True again after an improvement: the expected reading is that step's answer is "
    "NOT latched; it tells whether the last patience calls in a row brought no improvement, so an "
    "improvement restarts the count and step returns False again (a training loop stops at the first True)",
}


def _slip_outputs(kwargs, metrics, bug):
    s = _SlipStopper(**kwargs, bug=bug)
    calls = []
    for m in metrics:
        stop = s.step(m)
        calls.append({"best": s.best, "best_step": s.best_step, "stop": stop})
    return calls


def _stopper_mistakes(kwargs, metrics, got_calls, want_calls, part, bugs):
    """Mistakes recognised from the whole sequence of the student's outputs."""
    def proj(calls):
        if not isinstance(calls, list):
            return None
        out = []
        for c in calls:
            if not isinstance(c, dict):
                return None
            out.append([c.get(k) for k in part])
        return out

    got, want = proj(got_calls), proj(want_calls)
    found = []
    for bug in bugs:
        slip = proj(_slip_outputs(kwargs, metrics, bug))
        if slip != want:
            found.append(Mistake(STOPPER_HINTS[bug], when=lambda _out, slip=slip: got == slip))
    return found


def _describe_es(kwargs):
    inner = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"EarlyStopping({inner})"


def _scalar(v) -> bool:
    return v is None or isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 200)


def stopper_record(check, got, kwargs, metrics):
    """The driver's record, checked for its form and size before anything reads it: the
    attributes before the first call and one entry per metric, all plain scalars."""
    def entry_ok(entry, keys):
        return isinstance(entry, dict) and all(k in entry and _scalar(entry[k]) for k in keys)

    calls = got.get("calls") if isinstance(got, dict) else None
    if not (isinstance(got, dict) and entry_ok(got.get("initial"), ("best", "best_step"))
            and isinstance(calls, list) and len(calls) == len(metrics)
            and all(entry_ok(c, ("best", "best_step", "stop")) for c in calls)):
        check.fail(f"{_describe_es(kwargs)}: the EarlyStopping driver returned something other than its "
                   f"record of {len(metrics)} calls to step", "do not replace or modify the grader's modules")
    return got


def run_stopper(check, student, reference, kwargs, metrics):
    got = student.harness.run_early_stopping(student.training.EarlyStopping, kwargs, metrics)
    want = harness_training.run_early_stopping(reference.training.EarlyStopping, kwargs, metrics)
    return stopper_record(check, got, kwargs, metrics), want


def check_stopper(check, got, want, kwargs, metrics, part, bugs, hint=None):
    """Compare ``part`` (a subset of stop / best / best_step) after every call."""
    label = _describe_es(kwargs)
    calls, ref_calls = got.get("calls"), want["calls"]
    mistakes = _stopper_mistakes(kwargs, metrics, calls, ref_calls, part, bugs)
    seq = ", ".join(f"{m:g}" for m in metrics)
    for k, ref in enumerate(ref_calls):
        actual = calls[k] if isinstance(calls, list) and k < len(calls) else None
        for key in part:
            value = actual.get(key, "<missing>") if isinstance(actual, dict) else "<missing>"
            expected = ref[key]
            if key == "stop" and value is None:
                check.fail(f"{label}.step({metrics[k]:g}) (call {k}; metrics so far: "
                           f"{', '.join(f'{m:g}' for m in metrics[:k + 1])}) returned None",
                           "step must return True or False")
            if key == "stop" and isinstance(value, int) and not isinstance(value, bool):
                value = bool(value) if value in (0, 1) else value
            what = (f"{label}: {'step(...) returned' if key == 'stop' else '.' + key} after call {k} "
                    f"(0-based) of the metrics {seq}")
            if isinstance(expected, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
                check.close(float(value), expected, rtol=0.0, atol=0.0, what=what, mistakes=mistakes, hint=hint)
            else:
                check.close(value, expected, what=what, mistakes=mistakes, hint=hint)


def _grid(gen, n, lo=-8, hi=9):
    """n metrics on a grid of 1/8 (exact in binary floating point)."""
    return [1.0 + int(v) / 8 for v in torch.randint(lo, hi, (n,), generator=gen)]


def test_early_stopping_initial_state(student, reference, check, gen):
    """best and best_step are None before the first call; the first call sets them."""
    for kwargs in ({}, {"patience": 3, "min_delta": 0.25, "mode": "max"}):
        metrics = _grid(gen, 1)
        got, want = run_stopper(check, student, reference, kwargs, metrics)
        label = _describe_es(kwargs)
        for key in ("best", "best_step"):
            value = got["initial"][key]
            if value == "<missing>":
                check.fail(f"{label} has no attribute {key} before the first call to step",
                           f"set self.{key} = None in __init__")
            check.that(value is None, f"{label}.{key} is {value!r} before the first call to step but "
                       "should be None", f"start with self.{key} = None (there is no best value yet)")
        check_stopper(check, got, want, kwargs, metrics, ("best", "best_step", "stop"), (),
                      hint="the first call is always an improvement: best = that metric, best_step = 0, "
                           "and it returns False")


STEP_CASES = [
    # plateaus (equal values are no improvement) and improvements that restart the count
    ({"patience": 2}, [2.0, 1.5, 1.5, 1.25, 1.5, 1.25, 1.75, 1.0]),
    ({"patience": 3}, [1.0, 1.125, 0.875, 1.0, 0.875, 0.75, 0.75, 0.875, 0.75]),
    ({"patience": 2, "mode": "min"}, "random"),
    ({"patience": 3}, "random"),
]


@pytest.mark.parametrize("kwargs,metrics", STEP_CASES, ids=["plateaus", "resets", "random-p2", "random-p3"])
def test_early_stopping_step(student, reference, check, gen, kwargs, metrics):
    """What step returns at every call: patience calls in a row without improvement. The
    answer is not latched: an improvement after a True restarts the count, and step
    returns False again (the "plateaus" case checks it)."""
    metrics = _grid(gen, 14) if metrics == "random" else metrics
    got, want = run_stopper(check, student, reference, kwargs, metrics)
    check_stopper(check, got, want, kwargs, metrics, ("stop",),
                  ("no_reset", "non_strict", "stop_late", "stop_early", "mode_inverted", "best_every_call",
                   "latched"))


PATIENCE_CASES = [1, 2, 4, 6]


@pytest.mark.parametrize("patience", PATIENCE_CASES, ids=[f"patience{p}" for p in PATIENCE_CASES])
def test_early_stopping_patience(student, reference, check, gen, patience):
    """A long run without improvement after a few improvements: True exactly at the
    patience-th call in a row, and from then on."""
    start = [2.0, 1.75, 1.5]
    worse = [1.5 + int(v) / 8 for v in torch.randint(0, 5, (patience + 3,), generator=gen)]
    metrics = start + worse
    kwargs = {"patience": patience}
    got, want = run_stopper(check, student, reference, kwargs, metrics)
    check_stopper(check, got, want, kwargs, metrics, ("stop",), ("stop_late", "stop_early", "non_strict", "no_reset"))


BEST_CASES = [
    ({"patience": 3}, [1.5, 1.25, 1.375, 1.25, 1.0, 1.125, 0.875, 0.875, 1.0]),
    ({"patience": 2}, "random"),
    ({"patience": 4, "mode": "max"}, "random"),
]


@pytest.mark.parametrize("kwargs,metrics", BEST_CASES, ids=["fixed", "random-min", "random-max"])
def test_early_stopping_best(student, reference, check, gen, kwargs, metrics):
    """best and best_step after every call: they change on improvements only."""
    metrics = _grid(gen, 12) if metrics == "random" else metrics
    got, want = run_stopper(check, student, reference, kwargs, metrics)
    check_stopper(check, got, want, kwargs, metrics, ("best", "best_step"),
                  ("best_every_call", "best_step_one_based", "non_strict", "mode_inverted", "best_on_any_gain"))


MIN_DELTA_CASES = [
    # improvements smaller than, equal to and larger than min_delta
    ({"patience": 2, "min_delta": 0.25}, [2.0, 1.875, 1.75, 1.5, 1.375, 1.25, 1.0, 0.875]),
    ({"patience": 3, "min_delta": 0.125}, [1.0, 0.875, 0.75, 0.625, 0.75, 0.5, 0.5, 0.375, 0.375]),
    ({"patience": 2, "min_delta": 0.375}, "random"),
]


@pytest.mark.parametrize("kwargs,metrics", MIN_DELTA_CASES, ids=["smaller-equal-larger", "steps", "random"])
def test_early_stopping_min_delta(student, reference, check, gen, kwargs, metrics):
    """Only an improvement by MORE than min_delta counts and updates best / best_step."""
    metrics = _grid(gen, 12) if metrics == "random" else metrics
    got, want = run_stopper(check, student, reference, kwargs, metrics)
    check_stopper(check, got, want, kwargs, metrics, ("stop", "best", "best_step"),
                  ("min_delta_ignored", "delta_wrong_side", "best_on_any_gain", "non_strict", "stop_late"))


MAX_CASES = [
    ({"patience": 2, "mode": "max"}, [0.5, 0.625, 0.625, 0.75, 0.625, 0.5, 0.875]),
    ({"patience": 2, "mode": "max", "min_delta": 0.125}, [0.25, 0.5, 0.625, 0.625, 0.875, 0.75, 0.875, 1.0]),
    ({"patience": 3, "mode": "max"}, "random"),
]


@pytest.mark.parametrize("kwargs,metrics", MAX_CASES, ids=["plain", "min_delta", "random"])
def test_early_stopping_mode_max(student, reference, check, gen, kwargs, metrics):
    """mode='max': larger is better (an accuracy)."""
    metrics = _grid(gen, 12) if metrics == "random" else metrics
    got, want = run_stopper(check, student, reference, kwargs, metrics)
    check_stopper(check, got, want, kwargs, metrics, ("stop", "best", "best_step"),
                  ("mode_inverted", "delta_wrong_side", "min_delta_ignored", "best_on_any_gain", "non_strict"))


BAD_STOPPERS = [
    ("patience=-1", {"patience": -1}, r"patience"),
    ("min_delta=-0.5", {"min_delta": -0.5}, r"min_delta"),
    ("mode=avg", {"mode": "avg"}, r"\bmode\b"),
]


@pytest.mark.parametrize("case", BAD_STOPPERS, ids=[c[0] for c in BAD_STOPPERS])
def test_early_stopping_bad_arguments(student, check, case):
    _, kwargs, match = case
    with check.raises(ValueError, match=match,
                      hint="check the arguments in __init__ and raise ValueError naming the bad one "
                           "(patience >= 0, min_delta >= 0, mode 'min' or 'max')"):
        student.harness.run_early_stopping(student.training.EarlyStopping, kwargs, [1.0])
