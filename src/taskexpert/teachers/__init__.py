"""Teachers: one interface over local transformers, OpenAI-compatible servers and vLLM, every call cached.

Augmentation code talks to `Teacher.generate(requests) -> responses` only; the backend behind it and the
SQLite cache in front of it are configuration.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module; imported on first use, so `python -m taskexpert.teachers.cache` runs a module not yet imported
_EXPORTS = {
    "ResponseCache": "cache",
    "Sampling": "sampling",
    "Teacher": "teacher",
    "TeacherRequest": "types",
    "TeacherResponse": "types",
    "TeacherStats": "teacher",
    "build_teacher": "factory",
}

__all__ = [
    "ResponseCache",
    "Sampling",
    "Teacher",
    "TeacherRequest",
    "TeacherResponse",
    "TeacherStats",
    "build_teacher",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
