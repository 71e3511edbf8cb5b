from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grader import wire


def roundtrip(message, **hooks):
    frame = wire.pack(message)
    header_len, blob_len = wire.frame_sizes(frame[: wire.PREFIX_SIZE], wire.Limits())
    header = frame[wire.PREFIX_SIZE : wire.PREFIX_SIZE + header_len]
    blob = frame[wire.PREFIX_SIZE + header_len :]
    assert len(blob) == blob_len
    return wire.unpack(header, blob, wire.Limits(), **hooks)


@pytest.mark.parametrize("dtype", list(wire.DTYPES.values()), ids=str)
def test_tensor_roundtrip_keeps_dtype_shape_and_values(dtype):
    t = (torch.arange(24) % 5).reshape(2, 3, 4).to(dtype)
    out = roundtrip({"v": t})["v"]
    assert type(out) is torch.Tensor and out.dtype == dtype and out.shape == t.shape
    assert torch.equal(out, t)


def test_plain_values_and_containers_roundtrip():
    value = {
        "n": None, "b": True, "i": -3, "f": float("nan"), "inf": float("-inf"), "s": "héllo",
        "l": [1, 2.5, "x"], "t": (torch.zeros(0), torch.tensor(3.0)), "d": {"k": [torch.ones(2, dtype=torch.float64)]},
        "dtype": torch.float64, "device": torch.device("cpu"),
    }
    out = roundtrip({"v": value})["v"]
    assert out["n"] is None and out["b"] is True and out["i"] == -3 and out["s"] == "héllo"
    assert out["f"] != out["f"] and out["inf"] == float("-inf")
    assert isinstance(out["t"], tuple) and out["t"][0].shape == (0,) and float(out["t"][1]) == 3.0
    assert out["d"]["k"][0].dtype == torch.float64
    assert out["dtype"] is torch.float64 and out["device"] == torch.device("cpu")


def test_non_contiguous_and_conjugate_tensors_send_their_values():
    t = torch.arange(12.0).reshape(3, 4).T
    assert torch.equal(roundtrip({"v": t})["v"], t)
    c = torch.tensor([1 + 2j, 3 - 1j]).conj()
    assert torch.equal(roundtrip({"v": c})["v"], c.resolve_conj())


def test_tensor_subclass_arrives_as_a_plain_tensor():
    class Liar(torch.Tensor):
        pass

    out = roundtrip({"v": torch.ones(3).as_subclass(Liar)})["v"]
    assert type(out) is torch.Tensor


def test_numpy_arrays_are_flagged():
    out = roundtrip({"v": np.arange(3.0)})["v"]
    assert isinstance(out, wire.NumpyArray) and out.tolist() == [0.0, 1.0, 2.0]


def test_generator_state_travels():
    g = torch.Generator().manual_seed(123)
    g2 = roundtrip({"g": g})["g"]
    assert torch.equal(torch.randperm(10, generator=g), torch.randperm(10, generator=g2))


def test_unsendable_objects_need_a_hook():
    with pytest.raises(wire.WireError, match="cannot send"):
        wire.pack({"v": object()})
    frame = wire.pack({"v": object()}, on_object=lambda obj: {"$h": 7, "type": "object"})
    assert b'"$h":7' in frame


def _frame(header: dict | bytes, blob: bytes = b"") -> tuple[bytes, bytes]:
    data = header if isinstance(header, bytes) else json.dumps(header).encode()
    return data, blob


@pytest.mark.parametrize(
    "header,blob,problem",
    [
        ({"v": {"$t": [0, 8, "object", [1], "cpu"]}}, b"\0" * 8, "unsupported dtype"),
        ({"v": {"$t": [0, 8, "float32", [3], "cpu"]}}, b"\0" * 8, "byte count"),
        ({"v": {"$t": [4, 8, "float32", [2], "cpu"]}}, b"\0" * 8, "past the end"),
        ({"v": {"$t": [0, 4, "float32", [-1], "cpu"]}}, b"\0" * 4, "shape"),
        ({"v": {"$t": [0, 4, "float32", [1], "tpu"]}}, b"\0" * 4, "device"),
        ({"v": {"$weird": 1}}, b"", "malformed"),
        ({"v": {"$cb": 1}}, b"", "callback"),
        (b"[1, 2]", b"", "not an object"),
        (b"{not json", b"", "not valid JSON"),
    ],
)
def test_malformed_frames_are_rejected(header, blob, problem):
    h, b = _frame(header, blob)
    with pytest.raises(wire.WireError, match=problem):
        wire.unpack(h, b, wire.Limits())


def test_deep_nesting_and_oversized_frames_are_rejected():
    deep = {"v": json.loads("[" * 200 + "]" * 200)}
    with pytest.raises(wire.WireError, match="nested"):
        wire.unpack(json.dumps(deep).encode(), b"", wire.Limits())
    prefix = struct.pack("<IQ", 10, 1 << 40)
    with pytest.raises(wire.WireError, match="MiB limit"):
        wire.frame_sizes(prefix, wire.Limits(max_blob=1 << 20))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=64))
def test_random_bytes_never_crash_the_decoder(header, blob):
    try:
        wire.unpack(header, blob, wire.Limits())
    except wire.WireError:
        pass


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["$t", "$nd", "$tuple", "$dict", "$gen", "$h", "$dtype", "x"]), _json_values, max_size=3))
def test_random_tagged_objects_are_rejected_or_decoded(node):
    try:
        wire.unpack(json.dumps({"v": node}).encode(), b"\0" * 16, wire.Limits())
    except wire.WireError:
        pass


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 4), min_size=0, max_size=3),
    st.sampled_from([torch.float32, torch.float64, torch.int64, torch.bool]),
)
def test_any_shape_roundtrips(shape, dtype):
    t = torch.zeros(shape, dtype=dtype)
    out = roundtrip({"v": t})["v"]
    assert out.shape == t.shape and out.dtype == dtype
