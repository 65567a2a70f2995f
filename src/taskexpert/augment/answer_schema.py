"""The JSON schema of a teacher answer: one object with the fields a job asks for, in the order it asks.

Every field is a string; a classification label is an enum of the allowed labels (a parameter, so a task
with its own labels passes them), other fields have `[min, max]` character bounds from the task (`task.field_lengths`, fitted to the job's
token budget by teachers/token_budget.py; a field without bounds is any string). No other keys are allowed.
The maximum lengths matter to constrained decoding: they keep every field short enough for the answer to
close within the job's token budget.

`schema_violation` checks an answer against such a schema, to count the constrained answers that break it
(a server that accepts `response_format` but ignores it, or an answer cut at the token limit).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def answer_schema(
    fields: Sequence[str],
    labels: Sequence[str] = (),
    lengths: Mapping[str, Sequence[int]] | None = None,
    label_field: str = "label",
) -> dict[str, Any]:
    """The schema of an answer with `fields`; `label_field` must be one of `labels` (the task's; without
    labels it is any string)."""
    lengths = lengths or {}
    properties: dict[str, Any] = {}
    for name in fields:
        if name == label_field and labels:
            properties[name] = {"type": "string", "enum": list(labels)}
            continue
        bounds = lengths.get(name)
        if bounds is None:  # no bounds (OpenAI's strict mode refuses them): the parser rejects empty fields
            properties[name] = {"type": "string"}
        else:
            properties[name] = {"type": "string", "minLength": int(bounds[0]), "maxLength": int(bounds[1])}
    return {
        "type": "object",
        "properties": properties,
        "required": list(fields),
        "additionalProperties": False,
    }


def schema_violation(text: str, schema: Mapping[str, Any]) -> str | None:
    """How `text` breaks `schema`, as a short kind (`not_json`, `missing_field:question`, `length:context`,
    `not_in_enum:label`, `extra_key:x`, `not_a_string:x`); None when it is exactly one conforming object."""
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        return "not_json"
    if not isinstance(payload, dict):
        return "not_json"
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in payload:
            return f"missing_field:{name}"
    for name, value in payload.items():
        rule = properties.get(name)
        if rule is None:
            return f"extra_key:{name}"
        if not isinstance(value, str):
            return f"not_a_string:{name}"
        if "enum" in rule and value not in rule["enum"]:
            return f"not_in_enum:{name}"
        if not rule.get("minLength", 0) <= len(value) <= rule.get("maxLength", len(value)):
            return f"length:{name}"
    return None
