"""SST-2 as GLUE ships it: `train.tsv` and `dev.tsv`, header `sentence<TAB>label`, label 0/1.

GLUE's test file has no labels, so `dev.tsv` is the test split. inputs {sentence}; target = the label's name
under the option `label_names` (default ["negative", "positive"]).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from taskexpert.tasks.readers._examples import Splits, example, label_name, require_text
from taskexpert.tasks.readers._files import dataset_folder, encodings, table_rows
from taskexpert.tasks.readers.registry import register

FILES = {"train": "train.tsv", "test": "dev.tsv"}
LABEL_NAMES = ["negative", "positive"]


@register("sst2")
def read(path: Path, options: Mapping[str, Any]) -> Splits:
    folder = dataset_folder(path, list(FILES.values()))
    names = options.get("label_names") or LABEL_NAMES
    encoding = encodings(options)[0]
    splits: Splits = {}
    for split, name in FILES.items():
        file = folder / name
        rows = table_rows(
            file, ("sentence", "label"), delimiter="\t", quoting=csv.QUOTE_NONE, encoding=encoding
        )
        splits[split] = [
            example(
                f"{name}:{line}",
                {"sentence": require_text(row, "sentence", f"{file}, line {line}")},
                label_name(row["label"], names, f"{file}, line {line}", "label"),
            )
            for line, row in rows
        ]
    return splits
