"""BIG-Bench Hard: a folder of per-subtask files `<subtask>.json`, each `{"canary", "examples": [{"input",
"target"}]}` (or one such file, read as a single subtask).

BBH has no training split: the first `train_per_subtask` examples (option, default 3) of each subtask are
train, the rest test. inputs {input}; target = target; meta {subtask}. The option `subtasks` picks files by
subtask name; by default every `*.json` in the folder is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from taskexpert.errors import DataError
from taskexpert.tasks.readers._examples import Example, Splits, example, int_option, require_text
from taskexpert.tasks.readers._files import dataset_folder, encodings, load_json, must_exist
from taskexpert.tasks.readers.registry import register


@register("bbh")
def read(path: Path, options: Mapping[str, Any]) -> Splits:
    keep = int_option(options, "train_per_subtask", 3)
    splits: Splits = {"train": [], "test": []}
    for file in _subtask_files(path, options):
        examples = _subtask(file, encodings(options))
        splits["train"] += examples[:keep]
        splits["test"] += examples[keep:]
    return splits


def _subtask_files(path: Path, options: Mapping[str, Any]) -> list[Path]:
    must_exist(path)
    if path.is_file():
        return [path]
    if options.get("subtasks"):
        names = [f"{subtask}.json" for subtask in options["subtasks"]]
        return [dataset_folder(path, names) / name for name in names]
    files = sorted(path.glob("*.json"))
    if not files:
        raise DataError(
            str(path),
            "-",
            "has no <subtask>.json files (e.g. boolean_expressions.json, word_sorting.json)",
            "point `data.path` at BBH's folder of per-subtask JSON files",
        )
    return files


def _subtask(file: Path, tried: tuple[str, ...]) -> list[Example]:
    payload = load_json(file, tried)
    items = payload.get("examples") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise DataError(str(file), "examples", "is missing or not a list")
    subtask = file.stem
    found = []
    for position, item in enumerate(items, 1):
        where = f"{file}, record {position}"
        if not isinstance(item, dict):
            raise DataError(where, "-", "is not a JSON object with input and target")
        inputs = {"input": require_text(item, "input", where)}
        found.append(
            example(
                f"{subtask}:{position}",
                inputs,
                require_text(item, "target", where),
                meta={"subtask": subtask},
            )
        )
    return found
