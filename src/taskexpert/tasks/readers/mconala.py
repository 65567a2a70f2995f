"""MCoNaLa (Japanese): `ja_test.json`, and optionally `ja_train.json`, each a JSON list of
`{"question_id", "intent", "rewritten_intent", "snippet"}` (or the test file itself as `data.path`).

inputs {intent}: the field named by the option `intent_field` (intent | rewritten_intent; a null
rewritten_intent falls back to intent); target = the Python snippet; meta {question_id}. Without
`ja_train.json`, the first `train_size` items (option, default 10) of the test file form the train split.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from taskexpert.errors import ConfigError, DataError
from taskexpert.tasks.readers._examples import Example, Splits, example, int_option, require, require_text
from taskexpert.tasks.readers._files import dataset_folder, encodings, load_json, must_exist
from taskexpert.tasks.readers.registry import register

TEST, TRAIN = "ja_test.json", "ja_train.json"
INTENT_FIELDS = ("intent", "rewritten_intent")


@register("mconala")
def read(path: Path, options: Mapping[str, Any]) -> Splits:
    field = options.get("intent_field", "intent")
    if field not in INTENT_FIELDS:
        raise ConfigError(
            f"reader option intent_field must be one of {', '.join(INTENT_FIELDS)}, not {field!r}"
        )
    must_exist(path)
    test_file = path if path.is_file() else dataset_folder(path, [TEST, TRAIN], optional={TRAIN}) / TEST
    test = _items(test_file, field, encodings(options))
    if path.is_dir() and (path / TRAIN).is_file():
        return {"train": _items(path / TRAIN, field, encodings(options)), "test": test}
    size = int_option(options, "train_size", 10)
    return {"train": test[:size], "test": test[size:]}


def _items(file: Path, field: str, tried: tuple[str, ...]) -> list[Example]:
    payload = load_json(file, tried)
    if not isinstance(payload, list):
        raise DataError(str(file), "-", "is not a JSON list of {question_id, intent, snippet} objects")
    return [_item(file, position, item, field) for position, item in enumerate(payload, 1)]


def _item(file: Path, position: int, item: Any, field: str) -> Example:
    if not isinstance(item, dict):
        raise DataError(f"{file}, record {position}", "-", "is not a JSON object")
    question_id = require(item, "question_id", f"{file}, record {position}")
    where = f"{file}, record {question_id}"
    intent = require_text(item, "intent", where)
    rewritten = item.get("rewritten_intent")
    if field == "rewritten_intent" and isinstance(rewritten, str) and rewritten.strip():
        intent = rewritten
    snippet = require_text(item, "snippet", where)
    return example(
        f"{file.name}:{question_id}", {"intent": intent}, snippet, meta={"question_id": question_id}
    )
