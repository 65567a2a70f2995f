"""The one record type that flows through taskexpert: an example of any task, read or generated.

A record holds the task's input fields by name (`inputs`), the gold `target` (a label name, a final answer or an
answer text), an optional longer gold text (`reference`), and where it came from. What the fields mean is the
task's business (`taskexpert.tasks`); this module only reads, writes and checks the shape.

Files written before tasks were configurable hold `question`, `context`, `label` and `long_answer` at the top
level; they still read: `question`/`context` become inputs, `label` the target, `long_answer` the reference.
"""

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


@dataclass
class Record:
    """One example: the task's input fields, the gold target, and its provenance."""

    id: str
    inputs: dict[str, str]  # the task's input fields, e.g. {"sentence": ...}
    target: str  # gold: a label name (classification), a final answer (answer), the answer text (span)
    reference: str = ""  # a longer gold text where the dataset has one (a worked solution, a long answer)
    source: str = "dataset"  # the dataset, or the method that wrote the record (free-form, non-empty)
    parent_id: str | None = None
    rationale: str | None = None
    teacher: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def text(self, name: str) -> str:
        """The text of an input field, or of `target`, `reference`, `rationale` ("" when absent)."""
        if name in self.inputs:
            return self.inputs[name]
        name = LEGACY_NAMES.get(name, name)
        if name in ("target", "reference", "rationale"):
            return getattr(self, name) or ""
        raise KeyError(f"record {self.id} has no field {name!r} (inputs: {', '.join(self.inputs)})")

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Record))
REQUIRED: tuple[str, ...] = ("id", "inputs", "target")
# The top-level fields of files written before tasks were configurable, and what they became.
LEGACY_INPUTS: tuple[str, ...] = ("question", "context")
LEGACY_NAMES: dict[str, str] = {"label": "target", "long_answer": "reference"}


def validate_record(record: Record, where: str) -> Record:
    """Check one record's shape (not its task: see `Task.validate`); `where` names file and record."""
    if not isinstance(record.id, str) or not record.id.strip():
        raise DataError(where, "id", "is empty", "give every record a unique non-empty id")
    if not isinstance(record.inputs, dict) or not record.inputs:
        raise DataError(where, "inputs", "is not a non-empty object", 'write e.g. {"text": "..."}')
    for name, value in record.inputs.items():
        if not isinstance(value, str):
            raise DataError(where, name, f"is a {type(value).__name__}, not a string")
    for name in ("target", "reference", "source"):
        if not isinstance(getattr(record, name), str):
            raise DataError(where, name, f"is a {type(getattr(record, name)).__name__}, not a string")
    if not record.source.strip():
        raise DataError(where, "source", "is empty", "name the dataset or the method that wrote the record")
    return record


def _from_legacy(row: dict[str, Any], where: str) -> dict[str, Any]:
    """A row of the old format (top-level question/context/label/long_answer) in today's field names."""
    for name in (*LEGACY_INPUTS, "label"):
        if name not in row:
            raise DataError(where, name, "is missing", "records need the fields question, context, label")
    row = dict(row)
    row["inputs"] = {name: row.pop(name) for name in LEGACY_INPUTS}
    for old, new in LEGACY_NAMES.items():
        if old in row:
            row[new] = row.pop(old)
    return row


def record_from_dict(row: dict[str, Any], where: str) -> Record:
    """Build and check a record from a parsed JSON object (today's format, or the old one)."""
    if not isinstance(row, dict):
        raise DataError(
            where, "-", f"is a {type(row).__name__}, not a JSON object", "write one object per line"
        )
    if "inputs" not in row and any(name in row for name in (*LEGACY_INPUTS, "label")):
        row = _from_legacy(row, where)
    for name in REQUIRED:
        if name not in row:
            raise DataError(where, name, "is missing", f"records need the fields {', '.join(REQUIRED)}")
    unknown = set(row) - set(FIELD_NAMES)
    if unknown:
        raise DataError(
            where,
            sorted(unknown)[0],
            "is not a record field",
            f"known fields: {', '.join(FIELD_NAMES)}",
        )
    row = dict(row)
    row["id"] = str(row["id"])
    row["meta"] = row.get("meta") or {}
    row["reference"] = row.get("reference") or ""
    return validate_record(Record(**row), where)


def read_jsonl(path: str | Path) -> list[Record]:
    """Read records from a JSON-lines file, one object per line; blank lines are skipped."""
    path = Path(path)
    require_file(path)
    return [record_from_dict(row, where) for where, row in json_objects(path)]


def iter_json_lines(records: Iterable[Record]) -> Iterator[str]:
    for record in records:
        yield record.to_json() + "\n"


def write_jsonl(records: Iterable[Record], path: str | Path) -> Path:
    """Write records atomically: readers see the old file or the complete new one."""
    return atomic_write_text(path, "".join(iter_json_lines(records)))
