"""Data-only wire format between the trusted grader and a sandboxed worker.

A frame is ``u32 header_len | u64 blob_len | header (UTF-8 JSON) | blob``. The header
is a JSON object; values inside it are plain JSON or one of a few tagged objects:

``{"$t": [offset, nbytes, dtype, shape, device]}``   a tensor whose bytes lie in the blob
``{"$nd": [offset, nbytes, dtype, shape]}``          a numpy array (decoded as a tensor,
                                                     flagged so a grader can complain)
``{"$tuple": [...]}`` / ``{"$dict": {...}}``         tuples and str-keyed dicts
``{"$gen": [offset, nbytes, device]}``               a torch.Generator's state
``{"$dtype": "float32"}`` / ``{"$device": "cpu"}``   torch dtypes and devices
``{"$h": id, "type": name}``                         a handle to an object kept by the worker
``{"$cb": id}``                                      a callable kept by the grader
``{"$path": "topic.name"}``                         a student function, by name

Nothing is ever unpickled. :func:`decode` checks every field against :class:`Limits`
before a byte is interpreted, so whatever a student's process writes can at worst be
rejected with :class:`WireError`.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

_FRAME = struct.Struct("<IQ")
_INT_LIMIT = 1 << 63  # what a torch int64 holds; Python's larger ints have no place in a result

DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
_NP_DTYPES = {np.dtype(k): v for k, v in DTYPES.items() if k != "bfloat16"}


class WireError(Exception):
    """A frame broke the format or its limits."""


@dataclass(frozen=True)
class Limits:
    """Caps on what one frame may carry."""

    max_header: int = 4 << 20
    max_blob: int = 256 << 20
    max_depth: int = 48
    max_items: int = 200_000
    max_string: int = 1 << 20
    max_ndim: int = 16


@dataclass(frozen=True)
class Handle:
    """A reference to an object that lives in the worker."""

    id: int
    type: str = "object"


@dataclass(frozen=True)
class CallbackRef:
    """A reference to a callable that lives in the grader."""

    id: int


class NumpyArray(torch.Tensor):
    """Marks a tensor that arrived as a numpy array; behaves as a plain tensor."""


def tensor_bytes(t: torch.Tensor) -> bytes:
    """The raw bytes of a tensor's values in C order, taken on the CPU."""
    t = torch.Tensor.detach(t)
    if type(t) is not torch.Tensor:
        t = t.as_subclass(torch.Tensor)
    t = t.to("cpu").contiguous()
    if t.is_conj():
        t = t.resolve_conj()
    if t.numel() == 0:
        return b""
    return t.reshape(-1).view(torch.uint8).numpy().tobytes()


class Encoder:
    """Turns a value into a header tree plus blob chunks.

    ``on_object`` is called for anything that is not plain data and returns what stands
    for it in the header (a handle or callback reference); when it is None such values
    raise :class:`WireError`.
    """

    def __init__(self, on_object: Callable[[Any], dict] | None = None):
        self.on_object = on_object
        self.chunks: list[bytes] = []
        self.size = 0

    def _blob(self, data: bytes) -> tuple[int, int]:
        offset = self.size
        self.chunks.append(data)
        self.size += len(data)
        return offset, len(data)

    def encode(self, value: Any, depth: int = 0) -> Any:
        if depth > 64:
            raise WireError("value nested too deeply")
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, torch.Tensor):
            name = DTYPE_NAMES.get(value.dtype)
            if name is None:
                raise WireError(f"unsupported tensor dtype {value.dtype}")
            offset, n = self._blob(tensor_bytes(value))
            return {"$t": [offset, n, name, list(value.shape), str(value.device)]}
        if isinstance(value, np.ndarray):
            if value.dtype not in _NP_DTYPES:
                raise WireError(f"unsupported numpy dtype {value.dtype}")
            arr = np.ascontiguousarray(value).reshape(value.shape)  # ascontiguousarray makes 0-d arrays 1-d
            offset, n = self._blob(arr.tobytes())
            return {"$nd": [offset, n, DTYPE_NAMES[_NP_DTYPES[arr.dtype]], list(arr.shape)]}
        if isinstance(value, np.generic) and value.dtype in _NP_DTYPES:
            return self.encode(value.item(), depth)
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(v, depth + 1) for v in value]}
        if isinstance(value, list):
            return [self.encode(v, depth + 1) for v in value]
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"$dict": {k: self.encode(v, depth + 1) for k, v in value.items()}}
        if isinstance(value, torch.dtype):
            return {"$dtype": DTYPE_NAMES.get(value, str(value))}
        if isinstance(value, torch.device):
            return {"$device": str(value)}
        if isinstance(value, torch.Generator):
            offset, n = self._blob(tensor_bytes(value.get_state()))
            return {"$gen": [offset, n, str(value.device)]}
        if isinstance(value, Handle):
            return {"$h": value.id, "type": value.type}
        if isinstance(value, CallbackRef):
            return {"$cb": value.id}
        if self.on_object is not None:
            return self.on_object(value)
        raise WireError(f"cannot send a value of type {type(value).__name__}")


def pack(message: dict, on_object: Callable[[Any], dict] | None = None) -> bytes:
    """Encode ``message`` (a dict whose values may hold tensors) into one frame."""
    enc = Encoder(on_object)
    tree = {k: enc.encode(v) for k, v in message.items()}
    header = json.dumps(tree, separators=(",", ":"), allow_nan=True).encode()
    return b"".join([_FRAME.pack(len(header), enc.size), header, *enc.chunks])


def frame_sizes(prefix: bytes, limits: Limits) -> tuple[int, int]:
    """Read and check the two lengths at the start of a frame."""
    if len(prefix) != _FRAME.size:
        raise WireError(f"message prefix of {len(prefix)} bytes (expected {_FRAME.size})")
    header_len, blob_len = _FRAME.unpack(prefix)
    if header_len > limits.max_header:
        raise WireError(f"message header of {header_len} bytes exceeds {limits.max_header}")
    if blob_len > limits.max_blob:
        raise WireError(f"message data of {blob_len} bytes exceeds the {limits.max_blob >> 20} MiB limit")
    return header_len, blob_len


PREFIX_SIZE = _FRAME.size


class Decoder:
    """Rebuilds values from a header tree and a blob, checking everything."""

    def __init__(
        self,
        blob: bytes | bytearray | memoryview,
        limits: Limits,
        on_handle: Callable[[Handle], Any] | None = None,
        on_callback: Callable[[CallbackRef], Any] | None = None,
        on_path: Callable[[str], Any] | None = None,
        devices: Callable[[str], torch.device] | None = None,
    ):
        self.blob = memoryview(blob)
        self.limits = limits
        self.on_handle = on_handle
        self.on_callback = on_callback
        self.on_path = on_path
        self.devices = devices or _default_device
        self.items = 0
        self.taken = 0

    def _count(self, n: int = 1) -> None:
        self.items += n
        if self.items > self.limits.max_items:
            raise WireError(f"message has more than {self.limits.max_items} items")

    def _span(self, offset: Any, nbytes: Any) -> memoryview:
        if not (_is_int(offset) and _is_int(nbytes)) or offset < 0 or nbytes < 0:
            raise WireError("bad data offset")
        if offset + nbytes > len(self.blob):
            raise WireError("data reference past the end of the message")
        # Each value's bytes are copied out, so a header naming the same bytes many times
        # could make the grader allocate far more than the frame's size limit.
        self.taken += nbytes
        if self.taken > len(self.blob):
            raise WireError("message data referenced more than once")
        return self.blob[offset : offset + nbytes]

    def _shape(self, shape: Any) -> tuple[int, ...]:
        if not isinstance(shape, list) or len(shape) > self.limits.max_ndim:
            raise WireError("bad tensor shape")
        if not all(_is_int(s) and 0 <= s < 2**40 for s in shape):
            raise WireError("bad tensor shape")
        if math.prod(max(s, 1) for s in shape) >= 2**48:  # torch's strides overflow, even for empty tensors
            raise WireError("bad tensor shape")
        return tuple(shape)

    def _tensor(self, spec: Any, numpy_flag: bool) -> torch.Tensor:
        if not isinstance(spec, list) or len(spec) != (4 if numpy_flag else 5):
            raise WireError("bad tensor header")
        offset, nbytes, dtype_name, shape = spec[:4]
        dtype = DTYPES.get(dtype_name) if isinstance(dtype_name, str) else None
        if dtype is None:
            raise WireError(f"unsupported dtype {str(dtype_name)[:40]!r}")
        shape = self._shape(shape)
        itemsize = torch.empty((), dtype=dtype).element_size()
        if math.prod(shape) * itemsize != nbytes:
            raise WireError("tensor byte count does not match its shape and dtype")
        data = self._span(offset, nbytes)
        if nbytes == 0:
            out = torch.empty(shape, dtype=dtype)
        else:
            out = torch.frombuffer(bytearray(data), dtype=dtype).reshape(shape)
        if numpy_flag:
            return out.as_subclass(NumpyArray)
        device = spec[4]
        if not isinstance(device, str) or len(device) > 32:
            raise WireError("bad device")
        target = self.devices(device)
        return out if target.type == "cpu" else out.to(target)

    def decode(self, node: Any, depth: int = 0) -> Any:
        if depth > self.limits.max_depth:
            raise WireError("message nested too deeply")
        self._count()
        if node is None or isinstance(node, (bool, float)):
            return node
        if isinstance(node, int):
            if not -_INT_LIMIT <= node < _INT_LIMIT:
                raise WireError(f"an integer of {len(str(abs(node)))} digits is outside the 64-bit range the grader accepts")
            return node
        if isinstance(node, str):
            if len(node) > self.limits.max_string:
                raise WireError("string too long")
            return node
        if isinstance(node, list):
            self._count(len(node))
            return [self.decode(v, depth + 1) for v in node]
        if not isinstance(node, dict) or len(node) == 0:
            raise WireError("malformed value")
        if "$t" in node:
            return self._tensor(node["$t"], numpy_flag=False)
        if "$nd" in node:
            return self._tensor(node["$nd"], numpy_flag=True)
        if "$tuple" in node and isinstance(node["$tuple"], list):
            self._count(len(node["$tuple"]))
            return tuple(self.decode(v, depth + 1) for v in node["$tuple"])
        if "$dict" in node and isinstance(node["$dict"], dict):
            self._count(len(node["$dict"]))
            return {str(k): self.decode(v, depth + 1) for k, v in node["$dict"].items()}
        if "$dtype" in node:
            dtype = DTYPES.get(node["$dtype"]) if isinstance(node["$dtype"], str) else None
            if dtype is None:
                raise WireError("unsupported dtype")
            return dtype
        if "$device" in node:
            return self.devices(node["$device"]) if isinstance(node["$device"], str) else _bad()
        if "$gen" in node:
            spec = node["$gen"]
            if not isinstance(spec, list) or len(spec) != 3 or not isinstance(spec[2], str):
                raise WireError("bad generator")
            state = torch.frombuffer(bytearray(self._span(spec[0], spec[1])), dtype=torch.uint8)
            gen = torch.Generator(device=self.devices(spec[2]))
            try:
                gen.set_state(state.clone())
            except (RuntimeError, ValueError):
                raise WireError("bad generator state") from None
            return gen
        if "$h" in node:
            if not _is_int(node["$h"]) or not isinstance(node.get("type", ""), str):
                raise WireError("bad handle")
            handle = Handle(node["$h"], str(node.get("type", "object"))[:120])
            return self.on_handle(handle) if self.on_handle else handle
        if "$cb" in node:
            if not _is_int(node["$cb"]):
                raise WireError("bad callback reference")
            ref = CallbackRef(node["$cb"])
            if self.on_callback is None:
                raise WireError("unexpected callback reference")
            return self.on_callback(ref)
        if "$path" in node:
            if self.on_path is None or not isinstance(node["$path"], str):
                raise WireError("unexpected function reference")
            return self.on_path(node["$path"][:200])
        raise WireError("malformed value")


def _bad() -> Any:
    raise WireError("malformed value")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _default_device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise WireError(f"unknown device {name[:32]!r}") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda" and torch.cuda.is_available():
        index = device.index or 0
        if index < torch.cuda.device_count():
            return torch.device("cuda", index)
    raise WireError(f"device {name[:32]!r} is not available")


def unpack(
    header: bytes,
    blob: bytes | bytearray | memoryview,
    limits: Limits,
    **hooks: Any,
) -> dict:
    """Decode one frame's header and blob into a message dict."""
    try:
        tree = json.loads(header)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"message header is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(tree, dict):
        raise WireError("message header is not an object")
    decoder = Decoder(blob, limits, **hooks)
    try:
        return {str(k): decoder.decode(v) for k, v in tree.items()}
    except RecursionError:
        raise WireError("message nested too deeply") from None


def read_exact(fd: int, n: int) -> bytes:
    """Read exactly n bytes from a blocking fd; EOFError if it closes first."""
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def recv_blocking(fd: int, limits: Limits, **hooks: Any) -> dict:
    """Read one whole frame from a blocking fd (used on the worker side)."""
    header_len, blob_len = frame_sizes(read_exact(fd, PREFIX_SIZE), limits)
    header = read_exact(fd, header_len)
    blob = read_exact(fd, blob_len)
    return unpack(header, blob, limits, **hooks)
