"""Which text of a record the filters and checks look at: the one place that maps field names to text."""

from __future__ import annotations

from collections.abc import Iterable

from taskexpert.errors import ConfigError
from taskexpert.records import QARecord

RECORD_TEXT_FIELDS = ("question", "context", "long_answer", "rationale")


def check_text_fields(fields: Iterable[str], key: str) -> tuple[str, ...]:
    """The fields as a tuple, or a ConfigError naming the config key when one is not a text field."""
    fields = tuple(fields)
    for name in fields:
        if name not in RECORD_TEXT_FIELDS:
            raise ConfigError(
                f"{key}: {name!r} is not a text field of a record: use {', '.join(RECORD_TEXT_FIELDS)}"
            )
    if not fields:
        raise ConfigError(f"{key} is empty: name at least one of {', '.join(RECORD_TEXT_FIELDS)}")
    return fields


def field_text(record: QARecord, name: str) -> str:
    """The text of one field ('' when the record has none)."""
    return getattr(record, name) or ""


def record_text(record: QARecord, fields: Iterable[str]) -> str:
    """The named fields of a record joined by newlines (the text a filter or statistic looks at)."""
    parts = []
    for name in fields:
        if name not in RECORD_TEXT_FIELDS:
            raise ConfigError(
                f"{name!r} is not a text field of a record: use {', '.join(RECORD_TEXT_FIELDS)}"
            )
        parts.append(field_text(record, name))
    return "\n".join(parts)
