"""A simulated accelerator: device bugs caught on machines without a GPU.

Most machines that grade a class have no CUDA device, so a function that calls
``.cpu()``, builds a tensor without ``device=`` or mixes devices would keep full marks
there. Inside :func:`simulated` a tensor can be *on the accelerator*: it holds its real
values in CPU memory, but says ``.device == cuda:0`` and follows CUDA's placement rules:

- an operation that mixes a tensor on the accelerator with a CPU tensor of one or more
  dimensions raises CUDA's "Expected all tensors to be on the same device" error (a CPU
  tensor of zero dimensions mixes freely, as on CUDA);
- a factory or ``.to()`` / ``.cuda()`` with a CUDA device, ``*_like`` and ``new_*`` of a
  tensor on the accelerator, and every result of an operation on one stay on it;
  ``.cpu()`` and ``.to("cpu")`` leave it (as copies);
- ``.numpy()`` and ``numpy.asarray`` of such a tensor raise as on CUDA;
- indexing a tensor on the accelerator with CPU indices works (CUDA moves them), while
  a CPU tensor indexed with indices on the accelerator raises;
- a random draw checks its generator's device: sampling on the accelerator needs a
  :class:`DeviceGenerator`, sampling on the CPU a CPU generator;
- gradients that autograd makes for a tensor on the accelerator are on it too.

Values are real, so data-dependent control flow, ``.item()`` and boolean masks run as
usual, and every case is conclusive. The rules err towards leniency where CUDA's own
behaviour is subtle (copies into slices, ``copy_`` across devices, ``type_as``): a
simulated failure is always a failure on a real GPU.

This code runs in the worker beside student code, so it is as advisory as everything
there: what it reports is judged by the grader as untrusted data.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from torch.overrides import TorchFunctionMode

ACCELERATOR = torch.device("cuda", 0)
_TAG = "_grader_on_accelerator"

SAME_DEVICE = "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"
TO_NUMPY = ("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor to "
            "host memory first.")
CPU_INDEXED = "indices should be either on cpu or on the same device as the indexed tensor (cpu)"


class DeviceGenerator(torch.Generator):
    """A generator on the accelerator (its state and stream are a CPU generator's)."""

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return ACCELERATOR


def on_accelerator(t: Any) -> bool:
    """Whether ``t`` is a tensor on the simulated accelerator."""
    return isinstance(t, torch.Tensor) and bool(getattr(t, _TAG, False))


def _mark(t: torch.Tensor, on: bool) -> None:
    try:
        setattr(t, _TAG, on)
    except (AttributeError, TypeError):  # a tensor type without attributes: left as it is
        pass


def _tensors(values: Any, depth: int = 0) -> Iterator[torch.Tensor]:
    for v in values:
        if isinstance(v, torch.Tensor):
            yield v
        elif isinstance(v, (list, tuple)) and depth < 2:
            yield from _tensors(v, depth + 1)


def _outputs(value: Any, depth: int = 0) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)) and depth < 2:
        for v in value:
            yield from _outputs(v, depth + 1)


def _target(device: Any) -> bool | None:
    """Whether a ``device=`` argument names the accelerator (True), the CPU (False);
    None when no device was given."""
    if device is None:
        return None
    if isinstance(device, int):
        return True  # a bare index names a CUDA device
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        return None  # let torch report it
    if kind == "cuda":
        return True
    return False if kind == "cpu" else None


def _retag(value: Any, on: bool, inputs: tuple, transfer: bool) -> Any:
    """Put every tensor of ``value`` on the accelerator (or the CPU). A transfer that
    returned one of its inputs unchanged copies it, as a real transfer would."""
    if transfer and isinstance(value, torch.Tensor) and on_accelerator(value) != on and any(value is i for i in inputs):
        value = value.clone()
    for t in _outputs(value):
        if on_accelerator(t) != on:
            _mark(t, on)
    return value


def _to_target(args: tuple, kwargs: dict) -> tuple[bool | None, dict]:
    """Where ``Tensor.to(*args, **kwargs)`` sends its tensor, and the call's arguments
    with the device taken out."""
    rest = args[1:]
    if rest and isinstance(rest[0], torch.Tensor):  # x.to(other): other's device and dtype
        other = rest[0]
        return on_accelerator(other) or other.device.type != "cpu", {"dtype": other.dtype, **kwargs}
    plain = {k: v for k, v in kwargs.items() if k != "copy"}
    device, dtype, non_blocking, memory_format = torch._C._nn._parse_to(*rest, **plain)
    out: dict = {"non_blocking": non_blocking}
    if dtype is not None:
        out["dtype"] = dtype
    if memory_format is not None:
        out["memory_format"] = memory_format
    if "copy" in kwargs:
        out["copy"] = kwargs["copy"]
    return _target(device), out


class _Accelerator(TorchFunctionMode):
    """The rules above, applied to every torch function called inside :func:`simulated`."""

    def __init__(self) -> None:
        super().__init__()
        T = torch.Tensor
        self.getters = {
            T.device.__get__: lambda t, real: ACCELERATOR if on_accelerator(t) else real,
            T.is_cuda.__get__: lambda t, real: True if on_accelerator(t) else real,
            T.is_cpu.__get__: lambda t, real: False if on_accelerator(t) else real,
            T.get_device: lambda t, real: 0 if on_accelerator(t) else real,
        }
        self.no_numpy = {T.numpy, T.__array__}
        # conversions and copies, which CUDA allows across devices
        self.lenient = {T.copy_, T.new_tensor, T.type_as, torch.tensor, torch.as_tensor, T.index_put_, T.index_put}
        # read their arguments, make nothing (a module moved by .to() then takes the
        # ``param.data = moved`` path, which carries the device)
        self.passthrough = {torch._C._nn._parse_to, torch._has_compatible_shallow_copy_type}
        self.grad_get = T.grad.__get__
        self.grad_set = T.grad.__set__
        self.data_set = T.data.__set__
        self.getitem = T.__getitem__
        self.setitem = T.__setitem__
        self.to = T.to
        self.cpu = T.cpu
        self.cuda = T.cuda
        self.iterate = T.__iter__

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: C901 (one rule per branch)
        kwargs = dict(kwargs or {})
        getter = self.getters.get(func)
        if getter is not None:
            return getter(args[0], func(*args, **kwargs))
        if func in self.passthrough:
            return func(*args, **kwargs)
        if func in self.no_numpy and on_accelerator(args[0]):
            raise TypeError(TO_NUMPY)
        if func == self.grad_get:
            grad = func(*args, **kwargs)
            if grad is not None and on_accelerator(args[0]) and not on_accelerator(grad):
                _mark(grad, True)
            return grad
        if func == self.grad_set:
            owner, grad = args[0], args[1]
            if grad is not None and on_accelerator(owner) != on_accelerator(grad):
                raise RuntimeError("assigned grad has data located on a different device")
            return func(*args, **kwargs)
        if func == self.data_set:
            result = func(*args, **kwargs)
            _mark(args[0], on_accelerator(args[1]))
            return result
        if func == self.cpu:
            return _retag(func(*args, **kwargs), False, args, transfer=True)
        if func == self.cuda:
            return _retag(self.to(args[0], "cpu"), True, args, transfer=True)
        if func == self.to:
            target, rest = _to_target(args, kwargs)
            if target is None:
                return _retag(func(*args, **kwargs), on_accelerator(args[0]), args, transfer=False)
            return _retag(func(args[0], "cpu", **rest), target, args, transfer=True)
        if func == self.iterate:
            items = list(func(*args, **kwargs))
            return iter([_retag(t, on_accelerator(args[0]), args, transfer=False) for t in items])
        if func in (self.getitem, self.setitem):
            index = args[1] if len(args) > 1 else None
            indices = list(_tensors(index if isinstance(index, (tuple, list)) else (index,)))
            if not on_accelerator(args[0]) and any(on_accelerator(i) and i.dim() > 0 for i in indices):
                raise IndexError(CPU_INDEXED)
            return _retag(func(*args, **kwargs), on_accelerator(args[0]), args, transfer=False) \
                if func == self.getitem else func(*args, **kwargs)

        target = _target(kwargs.get("device"))
        if "device" in kwargs and target is not None:
            kwargs["device"] = "cpu"
        tensors = list(_tensors(args)) + list(_tensors(kwargs.values()))
        on_dev = any(on_accelerator(t) for t in tensors)
        if on_dev and target is None and func not in self.lenient:
            if any(not on_accelerator(t) and t.dim() > 0 for t in tensors):
                raise RuntimeError(f"{SAME_DEVICE} (in {_name(func)})")
        here = target if target is not None else on_dev
        generator = kwargs.get("generator")
        if isinstance(generator, torch.Generator):
            has = isinstance(generator, DeviceGenerator)
            if has != here:
                want, found = ("cuda", "cpu") if here else ("cpu", "cuda")
                raise RuntimeError(f"Expected a '{want}' device type for generator but found '{found}'")
        result = func(*args, **kwargs)
        if _in_place(func, args):
            return result  # the tensor written to keeps its device
        if here or target is False:
            return _retag(result, bool(here), args, transfer=target is not None)
        return result


_IN_PLACE_OPERATORS = frozenset(f"__i{op}__" for op in (
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor", "lshift", "rshift"))


def _in_place(func: Any, args: tuple) -> bool:
    """Whether ``func`` writes into its first argument (``add_``, ``copy_``, ``+=``)."""
    name = getattr(func, "__name__", "")
    return bool(args) and isinstance(args[0], torch.Tensor) and (
        (name.endswith("_") and not name.endswith("__")) or name in _IN_PLACE_OPERATORS)


def _name(func: Any) -> str:
    return str(getattr(func, "__name__", None) or func)[:60]


@contextlib.contextmanager
def simulated() -> Iterator[None]:
    """Apply the accelerator's rules to every torch call inside the block."""
    with _Accelerator():
        yield


def put(value: Any, generators: bool = True, depth: int = 0) -> Any:
    """``value`` with its tensors on the accelerator (tensors are marked in place) and,
    with ``generators``, its CPU generators replaced by accelerator ones in the same
    state. Lists, tuples and dicts are followed."""
    if isinstance(value, torch.Tensor):
        _mark(value, True)
        return value
    if isinstance(value, torch.Generator) and generators and not isinstance(value, DeviceGenerator):
        moved = DeviceGenerator()
        moved.set_state(value.get_state())
        return moved
    if depth > 8:
        return value
    if isinstance(value, list):
        return [put(v, generators, depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(put(v, generators, depth + 1) for v in value)
    if isinstance(value, dict):
        return {k: put(v, generators, depth + 1) for k, v in value.items()}
    return value


def left_behind(value: Any, path: str = "", depth: int = 0, limit: int = 8) -> list[str]:
    """Where in ``value`` a tensor is not on the accelerator, as paths like ``[1]`` or
    ``["trajectory"][0][2]`` (an empty path for ``value`` itself); at most ``limit``."""
    found: list[str] = []

    def walk(v: Any, p: str, d: int) -> None:
        if len(found) >= limit:
            return
        if isinstance(v, torch.Tensor):
            if not on_accelerator(v):
                found.append(p)
            return
        if d > 8:
            return
        if isinstance(v, (list, tuple)):
            for i, item in enumerate(v):
                walk(item, f"{p}[{i}]", d + 1)
        elif isinstance(v, dict):
            for k, item in v.items():
                walk(item, f"{p}[{k!r}]", d + 1)

    walk(value, path, depth)
    return found
