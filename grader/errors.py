"""Exceptions: what went wrong in student code, and what went wrong for the grader."""

from __future__ import annotations


class GraderError(Exception):
    """A problem the grader cannot grade around; the CLI prints it as one line."""

    exit_code = 1


class UsageError(GraderError):
    """Bad input from the person running the grader (paths, options, rubric)."""

    exit_code = 2


class RubricError(UsageError):
    """The rubric file is malformed; the message names the file and the field."""


class SubmissionError(Exception):
    """A submission cannot be read (not a student failure inside a test)."""


class StudentFailure(Exception):
    """Base for everything student code can do wrong inside a graded call."""

    status = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class StudentError(StudentFailure):
    """Student code raised an exception; carries its type names, not the object."""

    def __init__(self, type_name: str, mro: list[str], message: str, where: str, call: str = ""):
        self.type_name = type_name
        self.mro = list(mro) or [type_name]
        self.exc_message = message
        self.where = where
        self.call = call
        location = f" ({where})" if where else ""
        text = f"{type_name}: {message}" if message else type_name
        prefix = f"{call} raised " if call else "raised "
        super().__init__(f"{prefix}{text}{location}")

    def is_a(self, name: str) -> bool:
        return name in self.mro


class StudentTimeout(StudentFailure):
    status = "timeout"


class StudentCrash(StudentFailure):
    """The worker process died: os._exit, a signal, a resource limit."""


class StudentImportError(StudentFailure):
    """The topic module could not be imported."""


class TopicMissing(StudentFailure):
    status = "missing"


class BadReturn(StudentFailure):
    """The worker sent something that is not acceptable data."""


class StaleObject(StudentFailure):
    """An object handle from a worker that has since died."""
