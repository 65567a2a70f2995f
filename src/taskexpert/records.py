"""The one record type that flows through taskexpert: a QA example, read or generated."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from taskexpert.errors import DataError
from taskexpert.utils.atomic import atomic_write_text
from taskexpert.utils.input_files import require_file
from taskexpert.utils.json_lines import json_objects

LABELS: tuple[str, ...] = ("yes", "no", "maybe")
SOURCES: tuple[str, ...] = ("pubmedqa", "rewrite", "new", "llm2llm", "rebase")


@dataclass
class QARecord:
    """A question about a context with a yes/no/maybe decision, and where it came from."""

    id: str
    question: str
    context: str
    long_answer: str = ""
    label: str = ""
    source: str = "pubmedqa"
    parent_id: str | None = None
    rationale: str | None = None
    teacher: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


_FIELD_NAMES = {f.name for f in fields(QARecord)}
_REQUIRED = ("id", "question", "context", "label")


def validate_record(record: QARecord, where: str) -> QARecord:
    """Check one record's fields; `where` names file and record for the error message."""
    if not isinstance(record.id, str) or not record.id.strip():
        raise DataError(where, "id", "is empty", "give every record a unique non-empty id")
    for name in ("question", "context"):
        value = getattr(record, name)
        if not isinstance(value, str) or not value.strip():
            raise DataError(where, name, "is empty", f"every record needs a non-empty {name}")
    if record.label not in LABELS:
        raise DataError(
            where, "label", f"has unknown label {record.label!r}", f"use one of {', '.join(LABELS)}"
        )
    if record.source not in SOURCES:
        raise DataError(
            where, "source", f"has unknown source {record.source!r}", f"use one of {', '.join(SOURCES)}"
        )
    return record


def record_from_dict(row: dict[str, Any], where: str) -> QARecord:
    """Build and validate a record from a parsed JSON object."""
    if not isinstance(row, dict):
        raise DataError(
            where, "-", f"is a {type(row).__name__}, not a JSON object", "write one object per line"
        )
    for name in _REQUIRED:
        if name not in row:
            raise DataError(where, name, "is missing", f"records need the fields {', '.join(_REQUIRED)}")
    unknown = set(row) - _FIELD_NAMES
    if unknown:
        raise DataError(
            where,
            sorted(unknown)[0],
            "is not a record field",
            f"known fields: {', '.join(sorted(_FIELD_NAMES))}",
        )
    row = dict(row)
    row["id"] = str(row["id"])
    row["meta"] = row.get("meta") or {}
    return validate_record(QARecord(**row), where)


def read_jsonl(path: str | Path) -> list[QARecord]:
    """Read records from a JSON-lines file, one object per line; blank lines are skipped."""
    path = Path(path)
    require_file(path)
    return [record_from_dict(row, where) for where, row in json_objects(path)]


def iter_json_lines(records: Iterable[QARecord]) -> Iterator[str]:
    for record in records:
        yield record.to_json() + "\n"


def write_jsonl(records: Iterable[QARecord], path: str | Path) -> Path:
    """Write records atomically: readers see the old file or the complete new one."""
    return atomic_write_text(path, "".join(iter_json_lines(records)))
