"""The reader registry: a module that defines `@register("name") def read(path, options)` adds a reader."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from taskexpert.tasks.readers._examples import Splits

Reader = Callable[[Path, Mapping[str, Any]], Splits]

READERS: dict[str, Reader] = {}


def register(name: str) -> Callable[[Reader], Reader]:
    """Register the decorated function as the reader called `name`; a name taken twice is a bug."""

    def add(reader: Reader) -> Reader:
        if name in READERS:
            raise ValueError(
                f"reader {name!r} is registered twice ({READERS[name].__module__}, {reader.__module__})"
            )
        READERS[name] = reader
        return reader

    return add
