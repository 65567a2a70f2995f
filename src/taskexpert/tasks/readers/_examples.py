"""The raw example every reader returns, and the checks on the values that go into it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from taskexpert.errors import ConfigError, DataError

Example = dict[str, Any]
Splits = dict[str, list[Example]]


def example(
    example_id: str,
    inputs: dict[str, str],
    target: str,
    reference: str = "",
    meta: dict[str, Any] | None = None,
) -> Example:
    """A raw example: exactly the keys `id`, `inputs`, `target`, `reference`, `meta`."""
    return {"id": example_id, "inputs": inputs, "target": target, "reference": reference, "meta": meta or {}}


def require(row: Any, key: str, where: str) -> Any:
    """`row[key]`; a row that is not an object, or lacks the key (or holds null), is an error naming it."""
    if not isinstance(row, Mapping):
        raise DataError(where, key, f"is missing: the record is a {type(row).__name__}, not a JSON object")
    if key not in row or row[key] is None:
        raise DataError(where, key, "is missing", "is this the dataset's original file?")
    return row[key]


def require_text(row: Any, key: str, where: str) -> str:
    """`row[key]` as a non-blank string; anything else is an error naming the field."""
    value = require(row, key, where)
    if not isinstance(value, str):
        raise DataError(where, key, f"is a {type(value).__name__}, not a string")
    if not value.strip():
        raise DataError(where, key, "is empty")
    return value


def label_name(raw: Any, label_names: Any, where: str, field: str) -> str:
    """The name of label id `raw` (an int, or a string such as "0") under `label_names`.

    `label_names` is a list (the id is the position) or a mapping (id -> name, keys ints or strings);
    without it the raw value is the name.
    """
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    key = str(raw).strip()
    if label_names is None:
        if not key:
            raise DataError(where, field, "is empty")
        return key
    if isinstance(label_names, Mapping):
        names = {str(k).strip(): str(v) for k, v in label_names.items()}
    elif isinstance(label_names, Sequence) and not isinstance(label_names, str):
        names = {str(index): str(name) for index, name in enumerate(label_names)}
    else:
        raise ConfigError(f"label_names must be a list or a mapping of label id -> name, not {label_names!r}")
    if key not in names:
        raise DataError(
            where,
            field,
            f"has label id {key!r}, which is not one of {', '.join(names)}",
            "fix the row, or add the id to the reader option `label_names`",
        )
    return names[key]


def int_option(options: Mapping[str, Any], key: str, default: int) -> int:
    """A non-negative integer reader option."""
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"reader option {key} must be a non-negative integer, not {value!r}")
    return value


def check_unique_ids(splits: Splits, source: str) -> Splits:
    """Ids are unique across all splits of a dataset: the first repeat is an error."""
    seen: set[str] = set()
    for examples in splits.values():
        for item in examples:
            if item["id"] in seen:
                raise DataError(
                    f"{source}, record {item['id']}", "id", "appears more than once", "ids must be unique"
                )
            seen.add(item["id"])
    return splits
