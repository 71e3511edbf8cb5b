"""The run-time side of the forbidden-call rule, installed in the worker before student code.

The course contract (docs/api.md) forbids the "manual" topics ready-made functions (``torch.nn``, ``torch.optim``,
``torch.func``, most of ``torch.autograd``, ``Tensor.backward`` and the course's
functions in any namespace). The static check reads the source; a call assembled at run
time (``exec``, ``getattr`` on computed strings, ``gc``) escapes it. Here every such
function is wrapped: when the code calling it is a manual topic's (or code with no file
of its own, run while a manual topic's function is being graded), the worker tells the
grader at once, in a notice frame between the frames of the call in progress. The grader
records it as a finding that costs the topic its forbidden-call penalty; the call itself
goes on, as a statically found call does.

This code runs beside student code, so it is advisory: a submission can remove the
wrappers before using what they wrap. It can never earn anything from them: a notice can
only cost points.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Callable

import torch

READY_MADE = ("sigmoid", "relu", "softmax", "log_softmax", "logsumexp", "dropout", "batch_norm", "layer_norm")
TENSOR_METHODS = ("backward", "sigmoid", "sigmoid_", "relu", "relu_", "softmax", "log_softmax", "logsumexp")
AUTOGRAD_ALLOWED = frozenset({"no_grad", "enable_grad", "inference_mode"})

_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
_GRADER_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class Guard:
    """Wrappers that announce forbidden calls; one announcement per (topic, name)."""

    def __init__(self, submission_dir: str, manual: set[str], topics: set[str], announce: Callable[[dict], None]):
        base = os.path.abspath(submission_dir)
        self.files = {os.path.join(base, f"{t}.py"): t for t in topics}
        self.manual = set(manual)
        self.announce = announce
        self.topic: str | None = None  # the topic whose function the worker is running
        self.seen: set[tuple[str, str]] = set()
        self._paths: dict[str, str] = {}

    def _path(self, frame: Any) -> str:
        name = frame.f_code.co_filename
        path = self._paths.get(name)
        if path is None:
            path = os.path.abspath(name)
            if len(self._paths) < 4096:
                self._paths[name] = path
        return path

    def culprit(self, frame: Any, past_torch: bool = False) -> tuple[str, Any] | None:
        """The manual topic a call made from ``frame`` counts against, or None. With
        ``past_torch`` the call is judged by the first frame outside torch (a module
        built through torch's own constructors), otherwise torch's own code may call it."""
        while past_torch and frame is not None and self._path(frame).startswith(_TORCH_DIR):
            frame = frame.f_back
        filename = self._path(frame) if frame is not None else ""
        if filename.startswith(_TORCH_DIR) or filename.startswith(_GRADER_DIR):
            return None  # torch using itself, or the grader's own drivers
        topic = self.files.get(filename)
        if topic in self.manual:
            return topic, frame
        # another topic's file, exec'd code, a file written at run time: it counts
        # against the manual topic being graded, if one is
        return (self.topic, frame) if self.topic in self.manual else None

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        guard = self

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            found = guard.culprit(sys._getframe(1))
            if found is not None:
                guard.found(found[0], name, found[1])
            return fn(*args, **kwargs)

        guarded.__grader_guarded__ = True  # type: ignore[attr-defined]
        return guarded

    def found(self, topic: str, name: str, frame: Any) -> None:
        if (topic, name) in self.seen or len(self.seen) >= 64:
            return
        self.seen.add((topic, name))
        try:
            self.announce({"kind": "forbidden", "topic": topic, "name": name,
                           "function": frame.f_code.co_name, "line": int(frame.f_lineno)})
        except Exception:  # the channel is gone: the grader sees the worker end
            pass


def _wrap_attr(guard: Guard, owner: Any, attr: str, name: str) -> None:
    fn = getattr(owner, attr, None)
    if fn is None or not callable(fn) or getattr(fn, "__grader_guarded__", False):
        return
    try:
        setattr(owner, attr, guard.wrap(name, fn))
    except (AttributeError, TypeError):
        pass  # a read-only attribute of an extension type: the static check covers it


def _wrap_init(guard: Guard, cls: type, name: str) -> None:
    """Constructing ``cls`` or any subclass (torch.nn.Module, torch.optim.Optimizer)."""
    original = cls.__init__

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        found = guard.culprit(sys._getframe(1), past_torch=True)
        if found is not None:
            guard.found(found[0], f"{name} ({type(self).__name__})", found[1])
        original(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[method-assign]


def install(guard: Guard) -> Guard:
    """Wrap every function the course contract forbids the manual topics. Idempotent."""
    import torch.autograd
    import torch.func
    import torch.nn.functional as F
    import torch.nn.init
    import torch.optim
    import torch.special

    for attr in dir(F):
        if not attr.startswith("_") and callable(getattr(F, attr)) and not isinstance(getattr(F, attr), type):
            _wrap_attr(guard, F, attr, f"torch.nn.functional.{attr}")
    for attr in dir(torch.nn.init):
        if not attr.startswith("_") and callable(getattr(torch.nn.init, attr)):
            _wrap_attr(guard, torch.nn.init, attr, f"torch.nn.init.{attr}")
    for attr in ("grad", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "vmap", "functional_call", "grad_and_value"):
        _wrap_attr(guard, torch.func, attr, f"torch.func.{attr}")
    for attr in ("grad", "backward"):
        _wrap_attr(guard, torch.autograd, attr, f"torch.autograd.{attr}")
    for attr in ("jacobian", "hessian", "vjp", "jvp", "hvp", "vhp"):
        _wrap_attr(guard, torch.autograd.functional, attr, f"torch.autograd.functional.{attr}")
    for base in READY_MADE:
        for attr in (base, base + "_", "_" + base, "native_" + base):
            _wrap_attr(guard, torch, attr, f"torch.{attr}")
    for attr in ("expit", "softmax", "log_softmax", "logsumexp"):
        _wrap_attr(guard, torch.special, attr, f"torch.special.{attr}")
    for attr in TENSOR_METHODS:
        _wrap_attr(guard, torch.Tensor, attr, f"Tensor.{attr}")
    _wrap_init(guard, torch.nn.Module, "torch.nn")
    _wrap_init(guard, torch.optim.Optimizer, "torch.optim")
    _wrap_apply(guard, torch.autograd.Function)
    return guard


def _wrap_apply(guard: Guard, cls: type) -> None:
    """``Function.apply``: running a custom autograd Function (torch.autograd)."""
    original = cls.__dict__["apply"].__func__

    @functools.wraps(original)
    def apply(klass: Any, *args: Any, **kwargs: Any) -> Any:
        found = guard.culprit(sys._getframe(1))
        if found is not None:
            guard.found(found[0], "torch.autograd.Function", found[1])
        return original(klass, *args, **kwargs)

    cls.apply = classmethod(apply)  # type: ignore[assignment]
