"""The ``reference`` fixture: the instructor's topic modules, loaded in the grader only."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

from grader.errors import GraderError
from grader.topics import TOPICS

_PACKAGE = "_grader_reference"


class ReferenceModules:
    """``reference.losses`` and so on, imported lazily from the reference folder.

    The modules live in a private package so that they can import one another with
    relative imports and never collide with a student's module of the same name.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._modules: dict[str, types.ModuleType] = {}

    def _package(self) -> str:
        name = f"{_PACKAGE}_{abs(hash(str(self.directory.resolve())))}"
        if name not in sys.modules:
            pkg = types.ModuleType(name)
            pkg.__path__ = [str(self.directory)]  # type: ignore[attr-defined]
            sys.modules[name] = pkg
        return name

    def __getattr__(self, topic: str) -> types.ModuleType:
        if topic.startswith("_"):
            raise AttributeError(topic)
        if topic not in TOPICS:
            raise AttributeError(f"unknown topic {topic!r}")
        if topic not in self._modules:
            path = self.directory / f"{topic}.py"
            if not path.is_file():
                raise GraderError(f"{path}: the reference for {topic} is missing")
            name = f"{self._package()}.{topic}"
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            self._modules[topic] = module
        return self._modules[topic]
