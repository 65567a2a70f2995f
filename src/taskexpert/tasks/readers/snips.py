"""SNIPS (the 2017 custom-intent benchmark) in its original layout: one folder per intent holding
`train_<Intent>_full.json` and `validate_<Intent>.json`, each `{"<Intent>": [{"data": [pieces]}, ...]}`.

A piece is `{"text": ...}` or `{"text": ..., "entity": ...}`; the utterance is the pieces' texts joined.
inputs {text}; target = the intent; meta {entities: [[entity, text], ...]}. The validate files are the test
split. The option `intents` narrows (or widens) the seven intents read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from taskexpert.errors import DataError
from taskexpert.tasks.readers._examples import Example, Splits, example, require
from taskexpert.tasks.readers._files import dataset_folder, encodings, load_json
from taskexpert.tasks.readers.registry import register

INTENTS = (
    "AddToPlaylist",
    "BookRestaurant",
    "GetWeather",
    "PlayMusic",
    "RateBook",
    "SearchCreativeWork",
    "SearchScreeningEvent",
)


def _file_names(intent: str) -> dict[str, str]:
    return {"train": f"{intent}/train_{intent}_full.json", "test": f"{intent}/validate_{intent}.json"}


@register("snips")
def read(path: Path, options: Mapping[str, Any]) -> Splits:
    intents = list(options.get("intents") or INTENTS)
    folder = dataset_folder(path, [name for intent in intents for name in _file_names(intent).values()])
    tried = encodings(options)
    splits: Splits = {"train": [], "test": []}
    for intent in intents:
        for split, name in _file_names(intent).items():
            splits[split] += _read_file(folder / name, intent, tried)
    return splits


def _read_file(file: Path, intent: str, tried: tuple[str, ...]) -> list[Example]:
    payload = load_json(file, tried)
    if not isinstance(payload, dict) or not isinstance(payload.get(intent), list):
        raise DataError(str(file), intent, 'is missing: the file is not {"' + intent + '": [utterances]}')
    return [_utterance(file, intent, position, item) for position, item in enumerate(payload[intent], 1)]


def _utterance(file: Path, intent: str, position: int, item: Any) -> Example:
    where = f"{file}, record {position}"
    pieces = require(item, "data", where) if isinstance(item, dict) else None
    if not isinstance(pieces, list) or not pieces:
        raise DataError(where, "data", "is not a non-empty list of text pieces")
    for index, piece in enumerate(pieces):
        if not isinstance(piece, dict) or not isinstance(piece.get("text"), str):
            raise DataError(where, f"data[{index}].text", "is missing or not a string")
    text = "".join(piece["text"] for piece in pieces).strip()
    if not text:
        raise DataError(where, "data", "joins to an empty utterance")
    entities = [[str(piece["entity"]), piece["text"]] for piece in pieces if "entity" in piece]
    return example(f"{file.name}:{position}", {"text": text}, intent, meta={"entities": entities})
