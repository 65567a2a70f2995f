"""Readers of each dataset's original file format, by name: `READERS["trec"](path, options)`.

Every reader returns split name -> raw examples, each a dict with exactly `id`, `inputs`, `target`, `reference`
and `meta` (see notes in each module for the files and fields it reads). Adding a reader is adding a module here
that uses `@register("name")`: every public module of this package is imported below.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from taskexpert.errors import ConfigError
from taskexpert.tasks.readers._examples import Example, Splits, check_unique_ids
from taskexpert.tasks.readers.registry import READERS, Reader, register

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name != "registry":
        importlib.import_module(f"{__name__}.{_module.name}")


def read_dataset(name: str, path: str | Path, options: Mapping[str, Any] | None = None) -> Splits:
    """Read `path` with the reader called `name`; ids are checked to be unique across the splits."""
    if name not in READERS:
        raise ConfigError(f"unknown reader {name!r}: use one of {', '.join(sorted(READERS))}")
    return check_unique_ids(READERS[name](Path(path), options or {}), str(path))


__all__ = ["READERS", "Example", "Reader", "Splits", "read_dataset", "register"]
