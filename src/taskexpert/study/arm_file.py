"""`arm.json`: the record of an arm's finished data, and the check that a later job asks for the same data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from taskexpert.errors import ConfigError, DataError
from taskexpert.utils.atomic import atomic_write_json
from taskexpert.utils.secrets import scrub

ARM_FILE = "arm.json"
FORMAT = "taskexpert.data_arm/1"


def read_arm_file(directory: Path) -> dict[str, Any] | None:
    """The arm's stored record, or None when its data was never completed."""
    path = directory / ARM_FILE
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(str(path), "-", f"is not valid JSON ({error})", f"delete {directory}") from None
    if payload.get("format") != FORMAT:
        raise DataError(
            str(path), "format", f"is {payload.get('format')!r}, not {FORMAT}", f"delete {directory}"
        )
    return payload


def write_arm_file(directory: Path, payload: dict[str, Any]) -> Path:
    return atomic_write_json(directory / ARM_FILE, scrub({"format": FORMAT, **payload}))


def check_identity(directory: Path, stored: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Stop when the stored data was made for other settings (another teacher, data, method...)."""
    for key, value in wanted.items():
        if scrub(value) != stored.get(key):
            raise ConfigError(
                f"{directory / ARM_FILE}: the arm's data was made with {key} {stored.get(key)!r}, this job asks "
                f"for {scrub(value)!r}: give the study its own directory (hydra.sweep.dir=... or augment.dir=...) "
                f"or delete {directory}"
            )
