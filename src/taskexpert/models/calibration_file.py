"""calibration.json: the offsets saved beside an adapter, read back by every later use of it (an evaluation with
init_adapter, the student judge)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from taskexpert.errors import ConfigError
from taskexpert.models.calibration import Calibration
from taskexpert.utils.atomic import atomic_write_json

CALIBRATION_FILE = "calibration.json"


def save_calibration(directory: str | Path, calibration: Calibration) -> Path:
    payload = asdict(calibration) | {"labels": list(calibration.labels)}
    return atomic_write_json(Path(directory) / CALIBRATION_FILE, payload)


def load_calibration(directory: str | Path, labels: Sequence[str]) -> Calibration | None:
    """The calibration saved with an adapter, or None when there is none; it must be for the same labels."""
    path = Path(directory) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        calibration = Calibration(
            method=str(payload["method"]),
            labels=tuple(payload["labels"]),
            offsets={str(k): float(v) for k, v in payload["offsets"].items()},
            applied=bool(payload["applied"]),
            note=str(payload.get("note", "")),
            fit=dict(payload.get("fit") or {}),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"{path}: not a calibration file ({error}); delete it to use the adapter uncalibrated"
        ) from None
    if calibration.labels != tuple(labels) or set(calibration.offsets) != set(labels):
        raise ConfigError(
            f"{path}: offsets for the labels {list(calibration.labels)}, but the task's labels are {list(labels)}: "
            "delete the file or evaluate with the labels it was fitted for"
        )
    if not all(math.isfinite(value) for value in calibration.offsets.values()):
        raise ConfigError(f"{path}: an offset is not a finite number; delete the file")
    return calibration
