"""CaseHOLD's original CSV files: `train.csv`, optional `dev.csv`, `test.csv`.

Columns `example_id,citing_prompt,holding_0..holding_4,label`: the citing text holds the marker `(<HOLDING>)`
and label is the index (0-4) of the right holding. inputs {citing_prompt, holding_0..holding_4};
target = the option letter (A-E) of the index; meta {label_index}. `dev.csv`, when present, is "validation".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from taskexpert.errors import DataError
from taskexpert.tasks.readers._examples import Example, Splits, example, require_text
from taskexpert.tasks.readers._files import dataset_folder, encodings, table_rows
from taskexpert.tasks.readers.registry import register

FILES = {"train": "train.csv", "validation": "dev.csv", "test": "test.csv"}
HOLDINGS = tuple(f"holding_{index}" for index in range(5))
LETTERS = "ABCDE"
COLUMNS = ("example_id", "citing_prompt", *HOLDINGS, "label")


@register("casehold")
def read(path: Path, options: Mapping[str, Any]) -> Splits:
    folder = dataset_folder(path, list(FILES.values()), optional={"dev.csv"})
    encoding = encodings(options)[0]
    return {
        split: [
            _example(folder / name, line, row)
            for line, row in table_rows(folder / name, COLUMNS, encoding=encoding)
        ]
        for split, name in FILES.items()
        if (folder / name).is_file()
    }


def _example(file: Path, line: int, row: dict[str, str]) -> Example:
    where = f"{file}, line {line}"
    prompt = require_text(row, "citing_prompt", where)
    if "<HOLDING>" not in prompt:
        raise DataError(where, "citing_prompt", "has no '(<HOLDING>)' marker where the holding was cut out")
    label = row["label"].strip()
    if label not in {str(index) for index in range(5)}:
        raise DataError(where, "label", f"is {label!r}, not a holding index 0-4")
    inputs = {"citing_prompt": prompt, **{column: require_text(row, column, where) for column in HOLDINGS}}
    example_id = require_text(row, "example_id", where).strip()
    return example(f"{file.name}:{example_id}", inputs, LETTERS[int(label)], meta={"label_index": int(label)})
