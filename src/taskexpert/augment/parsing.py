"""Teacher answers -> record fields: the first JSON object, checked against the record schema.

Prose or code fences around the object are tolerated; anything else is a rejection with a reason code
that is counted in augment_stats.json (`no_json_object`, `invalid_json`, `missing_field:label`, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from taskexpert.teachers.json_text import first_json_object

GENERATED_FIELDS = ("question", "context", "long_answer", "label", "rationale")


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str = ""


def normalize_label(value: str, labels: Sequence[str] = ()) -> str:
    """The task's label written loosely ('Positive.', ' NEUTRAL ' -> 'positive', 'neutral', in the task's own
    spelling); anything else is returned lower-cased for the error message."""
    loose = value.strip().strip(".!\"'").strip().lower()
    return next((label for label in labels if label.lower() == loose), loose)


def parse_fields(text: str, fields: Sequence[str], labels: Sequence[str] = ()) -> dict[str, str] | Rejection:
    """The requested `fields` of the first JSON object in `text`, each a non-empty string; a `label` must be one
    of `labels` (the task's). Keys the teacher added beyond `fields` are ignored. Constrained answers go through
    the same checks: a schema keeps the answer well formed, this keeps the records valid whatever the backend."""
    payload = first_json_object(text)
    if payload is None:
        reason = "invalid_json" if "{" in text else "no_json_object"
        return Rejection(reason, text[:200])
    values: dict[str, str] = {}
    for name in fields:
        if name not in payload:
            return Rejection(f"missing_field:{name}", f"keys given: {', '.join(sorted(payload)) or 'none'}")
        value = payload[name]
        if not isinstance(value, str):
            return Rejection(f"not_a_string:{name}", repr(value)[:200])
        value = value.strip()
        if not value:
            return Rejection(f"empty_field:{name}")
        if name == "label":
            value = normalize_label(value, labels)
            if value not in labels:
                return Rejection("invalid_label", f"{payload[name]!r} is not one of {', '.join(labels)}")
        values[name] = value
    return values
