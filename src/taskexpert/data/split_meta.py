"""Which split an augmented file was guarded against, and which seeds it grew from, in a sidecar file.

`augmented.jsonl` gets `augmented.meta.json` beside it (the records file's name with `.meta.json` for its
suffix). The records file keeps its format, so files written before fingerprints existed still read; the
training-time check treats a file without a sidecar as unguarded (checked for overlap, with a warning).

The fingerprint is a SHA-256 over the evaluation (validation + test) items sorted by id: for each, its id and
the texts of its input fields and reference. Moving an item between validation and test keeps it (both are held out);
adding, removing or editing an evaluation item changes it.

The seed fingerprint is a SHA-256 over the ids of the training seed set the records were made from (the whole
training split, or the `data.train_limit` / `data.train_fraction` draw), written with its size and the draw's
settings, so a low-data run can tell a file grown from its own seeds from one grown from the full split.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from taskexpert.errors import DataError
from taskexpert.records import Record
from taskexpert.text import default_fields, field_text
from taskexpert.utils.atomic import atomic_write_json

META_SUFFIX = ".meta.json"
FORMAT = "taskexpert.split_meta/2"  # /2 adds the seed set; /1 files still read


def split_fingerprint(evaluation: Sequence[Record]) -> str:
    digest = hashlib.sha256()
    for record in sorted(evaluation, key=lambda item: item.id):
        row = [record.id, *(field_text(record, name) for name in default_fields(record))]
        digest.update(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def seed_fingerprint(seeds: Sequence[Record]) -> str:
    """SHA-256 over the sorted ids of a training seed set (order-free: the same draw, the same fingerprint)."""
    digest = hashlib.sha256()
    for record_id in sorted(record.id for record in seeds):
        digest.update(record_id.encode("utf-8") + b"\n")
    return digest.hexdigest()


def meta_path(records_path: str | Path) -> Path:
    """augmented.jsonl -> augmented.meta.json, in the same directory."""
    path = Path(records_path)
    return path.with_name(path.stem + META_SUFFIX)


def write_split_meta(
    records_path: str | Path,
    evaluation: Sequence[Record],
    guard: dict[str, Any] | None,
    method: str,
    records: int,
    seeds: Sequence[Record] | None = None,
    seed_draw: dict[str, Any] | None = None,
) -> Path:
    """Write the sidecar of an augmented file; `guard` is what the contamination guard compared (None: off),
    `seeds` the training seed set the records were made from, `seed_draw` how it was drawn (train_limit,
    train_fraction, split seed)."""
    payload = {
        "format": FORMAT,
        "split_fingerprint": split_fingerprint(evaluation),
        "evaluation_items": len(evaluation),
        "seed_fingerprint": seed_fingerprint(seeds) if seeds is not None else None,
        "seed_items": len(seeds) if seeds is not None else None,
        "seed_draw": seed_draw,
        "contamination_guard": guard,
        "method": method,
        "records": records,
    }
    return atomic_write_json(meta_path(records_path), payload)


def read_split_meta(records_path: str | Path) -> dict[str, Any] | None:
    """The sidecar of a records file, or None when it has none (written before fingerprints, or by hand)."""
    path = meta_path(records_path)
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(
            str(path),
            "-",
            f"is not valid JSON ({error})",
            f"delete it and regenerate {Path(records_path).name}",
        ) from error
    fingerprint = payload.get("split_fingerprint") if isinstance(payload, dict) else None
    if not isinstance(fingerprint, str) or not fingerprint:
        raise DataError(
            str(path),
            "split_fingerprint",
            "is missing",
            f"delete it and regenerate {Path(records_path).name} with augment.py",
        )
    return payload
