"""Property tests for the wire format: every value kind round-trips bit for bit, and
whatever bytes a worker sends, decoding ends in a value or :class:`wire.WireError`,
promptly, without copying out more data than the frame carries.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import struct

import numpy as np
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grader import wire

torch.set_num_threads(1)

# Small enough that this file runs in a few seconds (conftest's profile fixes the examples).
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = wire.Limits()
TAGS = ["$t", "$nd", "$tuple", "$dict", "$dtype", "$device", "$gen", "$h", "type", "$cb", "$path"]


@contextlib.contextmanager
def prompt(seconds: float = 2.0):
    """Fail instead of hanging when a decode does not finish in time."""

    def expire(signum, frame):
        raise AssertionError(f"decoding took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# -- values -------------------------------------------------------------------------------

shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4)


@st.composite
def tensors(draw, dtypes=tuple(wire.DTYPES.values())):
    """Any bit pattern (NaN payloads, infinities, -0.0) of any supported dtype and shape."""
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(shapes)
    itemsize = torch.empty((), dtype=dtype).element_size()
    n = math.prod(shape)
    if dtype == torch.bool:
        raw = bytes(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    else:
        raw = draw(st.binary(min_size=n * itemsize, max_size=n * itemsize))
    t = torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape) if raw else torch.empty(shape, dtype=dtype)
    if t.dim() >= 2 and draw(st.booleans()):
        t = t.transpose(0, 1)  # a non-contiguous view travels as its values
    return t


@st.composite
def arrays(draw):
    t = draw(tensors(tuple(d for name, d in wire.DTYPES.items() if name != "bfloat16")))
    return t.contiguous().numpy().copy()


names = st.text(max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(list(wire.DTYPES.values()))
    | st.just(torch.device("cpu"))
    | st.builds(wire.Handle, st.integers(-(2**63), 2**63), st.text(max_size=120))
    | st.builds(wire.CallbackRef, st.integers(0, 2**31))
)
values = st.recursive(
    scalars | tensors() | arrays(),
    lambda inner: st.lists(inner, max_size=4)
    | st.lists(inner, max_size=4).map(tuple)
    | st.dictionaries(names, inner, max_size=4),
    max_leaves=12,
)
messages = st.dictionaries(names, values, max_size=4)


def split(frame: bytes, limits: wire.Limits = LIMITS) -> tuple[bytes, bytes]:
    header_len, blob_len = wire.frame_sizes(frame[: wire.PREFIX_SIZE], limits)
    header = frame[wire.PREFIX_SIZE : wire.PREFIX_SIZE + header_len]
    blob = frame[wire.PREFIX_SIZE + header_len :]
    assert len(header) == header_len and len(blob) == blob_len
    return header, blob


def same(a, b) -> None:
    """Equal in kind and value; tensors bit for bit, floats including NaN and -0.0."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, wire.NumpyArray), type(b)
        assert wire.DTYPES[str(a.dtype)] == b.dtype and tuple(a.shape) == tuple(b.shape)
        assert a.tobytes() == wire.tensor_bytes(b)
    elif isinstance(a, torch.Tensor):
        assert type(b) is torch.Tensor and b.dtype == a.dtype and b.shape == a.shape and b.is_contiguous()
        assert wire.tensor_bytes(a) == wire.tensor_bytes(b)
    elif isinstance(a, float):
        assert type(b) is float
        assert (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    elif isinstance(a, dict):
        assert type(b) is dict and list(a) == list(b)
        for k in a:
            same(a[k], b[k])
    else:
        assert type(a) is type(b) and a == b, (a, b)


@FUZZ
@given(messages)
def test_every_value_kind_roundtrips(message):
    header, blob = split(wire.pack(message))
    out = wire.unpack(header, blob, LIMITS, on_callback=lambda ref: ref)
    same(message, out)


@FUZZ
@given(st.integers(0, 2**64 - 1), st.integers(0, 3))
def test_generator_state_roundtrips(seed, draws):
    gen = torch.Generator().manual_seed(seed)
    torch.rand(draws, generator=gen)
    header, blob = split(wire.pack({"g": gen}))
    twin = wire.unpack(header, blob, LIMITS)["g"]
    assert torch.equal(torch.rand(5, generator=twin), torch.rand(5, generator=gen))


# -- hostile bytes ---------------------------------------------------------------------------


def decode_or_wire_error(header: bytes, blob: bytes, limits: wire.Limits = LIMITS) -> None:
    """Decoding ends in a message or WireError, and never copies out more than the blob."""
    with prompt():
        try:
            out = wire.unpack(header, blob, limits)
        except wire.WireError:
            return
    copied = []

    def walk(v) -> None:
        if isinstance(v, torch.Tensor):
            copied.append(v.numel() * v.element_size())
        elif isinstance(v, torch.Generator):
            copied.append(v.get_state().numel())
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(out)
    assert sum(copied) <= len(blob)


@FUZZ
@given(st.binary(max_size=40), st.integers(1, 1 << 20), st.integers(1, 1 << 20))
def test_frame_sizes_accepts_only_well_formed_prefixes_within_limits(prefix, max_header, max_blob):
    limits = wire.Limits(max_header=max_header, max_blob=max_blob)
    try:
        header_len, blob_len = wire.frame_sizes(prefix, limits)
    except wire.WireError:
        return
    assert len(prefix) == wire.PREFIX_SIZE
    assert 0 <= header_len <= max_header and 0 <= blob_len <= max_blob


@FUZZ
@given(st.binary(max_size=200), st.binary(max_size=64))
def test_random_bytes_decode_or_raise_wire_error(header, blob):
    decode_or_wire_error(header, blob)


# JSON trees built from the format's own vocabulary reach far deeper than random bytes.
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-3, 2**41)
    | st.floats(allow_nan=True)
    | st.sampled_from(list(wire.DTYPES) + ["cpu", "cuda", "cuda:7", "meta", "float128", ""])
    | st.text(max_size=8)
)
json_trees = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.sampled_from(TAGS) | st.text(max_size=4), inner, max_size=3),
    max_leaves=20,
)


@FUZZ
@given(st.dictionaries(st.text(max_size=3), json_trees, max_size=3), st.binary(max_size=96))
@example({"v": {"$gen": [0, 3, "cpu"]}}, b"abc")  # a generator state torch refuses
@example({"v": {"$t": [0, 0, "float32", [0, 2**40 - 1, 2**40 - 1, 2**40 - 1], "cpu"]}}, b"")  # stride overflow
@example({"v": {"$t": [0, 4, "float32", [1], "cpu"]}, "w": {"$nd": [0, 4, "int32", []]}}, b"abcd")  # reused bytes
def test_hostile_headers_decode_or_raise_wire_error(tree, blob):
    decode_or_wire_error(json.dumps(tree).encode(), blob)


@FUZZ
@given(messages, st.data())
def test_mutated_frames_decode_or_raise_wire_error(message, data):
    header, blob = split(wire.pack(message))
    header, blob = bytearray(header), bytearray(blob)
    for _ in range(data.draw(st.integers(1, 4))):
        target = data.draw(st.sampled_from([header, blob] if blob else [header]))
        where = data.draw(st.integers(0, max(len(target) - 1, 0)))
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "digit"]))
        if action == "flip" and target:
            target[where] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "insert":
            target[where:where] = data.draw(st.binary(min_size=1, max_size=8))
        elif action == "delete" and target:
            del target[where : where + data.draw(st.integers(1, 8))]
        elif action == "digit" and target:
            target[where] = ord(str(data.draw(st.integers(0, 9))))
    decode_or_wire_error(bytes(header), bytes(blob))


def test_a_header_naming_the_same_bytes_many_times_is_refused():
    blob = bytes(4096)
    ref = {"$t": [0, 4096, "float32", [1024], "cpu"]}
    header = json.dumps({"v": [ref] * 1000}).encode()
    try:
        wire.unpack(header, blob, LIMITS)
    except wire.WireError as exc:
        assert "more than once" in str(exc)
    else:
        raise AssertionError("1000 copies of one 4 KiB span were decoded from a 4 KiB blob")


def test_frame_prefix_of_the_wrong_length_is_a_wire_error():
    for prefix in (b"", b"\x00" * (wire.PREFIX_SIZE - 1), struct.pack("<IQ", 1, 1) + b"\x00"):
        try:
            wire.frame_sizes(prefix, LIMITS)
        except wire.WireError:
            continue
        raise AssertionError(f"{prefix!r} was accepted")
