"""The grader's side of a case on the simulated GPU (:mod:`grader.accelerator`).

A suite's ``on_device`` test calls :func:`on_device`: the worker runs the student's
function with its tensors on the simulated accelerator (``harness.on_device``) and
reports what came back and which returned tensors were not on it. Here that report is
judged: a tensor left on the CPU, or an error CUDA would raise, fails the case with a
message that names where and a hint that says how to keep tensors on their device.
The values themselves are compared by the suite, with the reference's on the CPU.
"""

from __future__ import annotations

from typing import Any

from grader.diagnosis import specific_error_hint
from grader.errors import StudentError

LEFT_HINT = (
    "keep results on the input's device: no .cpu() or .numpy() on the way out, and new tensors made "
    "with device=x.device (or torch.zeros_like(x), x.new_zeros(shape))"
)


def on_device(check: Any, student: Any, fn: Any, *args: Any, what: str, generators: bool = True,
              **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` run in the worker with its tensors (and, with
    ``generators``, its generators) on the simulated GPU; returns what it returned.

    ``fn`` is a student function or a harness driver (``student.harness.run_layer``) and
    ``what`` names the call in messages. The case fails when the call raises (a device
    error gets its hint) or returns a tensor that is not on the GPU.
    """
    try:
        report = student.harness.on_device(fn, list(args), dict(kwargs), bool(generators))
    except StudentError as err:
        hint = specific_error_hint(err.type_name, err.exc_message)
        if hint is not None:
            check.fail(err.message, hint)
        raise
    if not isinstance(report, dict) or "value" not in report or not isinstance(report.get("left"), list):
        check.fail(f"{what}: the run on the simulated GPU returned no report")
    left = [str(p)[:60] for p in report["left"][:4]]
    if left:
        where = ", ".join(f"result{p}" for p in left) if left != [""] else "its result"
        check.fail(f"{what} on the simulated GPU returned a tensor on the CPU ({where})", LEFT_HINT)
    return report["value"]
