"""Which text of a record the filters and checks look at: the one place that maps field names to text.

A name is one of the record's input fields (the task's names, e.g. question, sentence), or `reference`
(alias `long_answer`), `rationale`, `target` (alias `label`). Without names, a record's text is its input
fields and its reference (`default_fields`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from taskexpert.errors import ConfigError
from taskexpert.records import LEGACY_NAMES, Record

GOLD_FIELDS = ("reference", "rationale", "target", *LEGACY_NAMES)


def check_text_fields(
    fields: Iterable[str] | None, key: str, records: Sequence[Record] = ()
) -> tuple[str, ...] | None:
    """The fields as a tuple (None stays None: each record's default fields), or a ConfigError naming the
    config key when the list is empty or names a field that none of `records` has (a typo)."""
    if fields is None:
        return None
    fields = tuple(fields)
    if not fields:
        raise ConfigError(f"{key} is empty: name at least one input field, or reference / rationale")
    inputs = {name for record in records for name in record.inputs}
    for name in fields:
        if not isinstance(name, str) or (records and name not in inputs and name not in GOLD_FIELDS):
            known = ", ".join([*sorted(inputs), "reference", "rationale"])
            raise ConfigError(f"{key}: {name!r} is not a text field of the records: use {known}")
    return fields


def default_fields(record: Record) -> tuple[str, ...]:
    """A record's text when no fields are named: every input field, then the reference."""
    return (*record.inputs, "reference")


def field_text(record: Record, name: str) -> str:
    """The text of one field: '' when this record has no such input field (a gold field may be empty too)."""
    if name in record.inputs or name in GOLD_FIELDS:
        return record.text(name)
    return ""


def record_text(record: Record, fields: Sequence[str] | None) -> str:
    """The named fields of a record joined by newlines (the text a filter or statistic looks at); a name that
    is neither one of the record's inputs nor a gold field is a ConfigError (a typo would silently compare '')."""
    parts = []
    for name in fields if fields is not None else default_fields(record):
        if name not in record.inputs and name not in GOLD_FIELDS:
            raise ConfigError(
                f"{name!r} is not a text field of record {record.id}: use its inputs "
                f"({', '.join(record.inputs)}), reference, rationale or target"
            )
        parts.append(record.text(name))
    return "\n".join(parts)
