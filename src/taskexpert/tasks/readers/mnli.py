"""MultiNLI as GLUE ships it: `train.tsv` and `dev_matched.tsv` (the matched dev set is the test split).

Tab-separated with a header (`index promptID pairID genre sentence1_binary_parse ... sentence1 sentence2
label1 [label2..label5] gold_label`). inputs {premise: sentence1, hypothesis: sentence2}; target = gold_label;
meta {genre}. Rows whose gold_label is "-" (no annotator majority) are skipped, and their count is logged.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from taskexpert.errors import DataError
from taskexpert.tasks.readers._examples import Example, Splits, example, require_text
from taskexpert.tasks.readers._files import dataset_folder, encodings, table_rows
from taskexpert.tasks.readers.registry import register

log = logging.getLogger(__name__)

FILES = {"train": "train.tsv", "test": "dev_matched.tsv"}
LABELS = ("entailment", "neutral", "contradiction")
COLUMNS = ("pairID", "genre", "sentence1", "sentence2", "gold_label")


@register("mnli")
def read(path: Path, options: Mapping[str, Any]) -> Splits:
    folder = dataset_folder(path, list(FILES.values()))
    encoding = encodings(options)[0]
    splits: Splits = {}
    for split, name in FILES.items():
        file, kept, skipped = folder / name, [], 0
        for line, row in table_rows(file, COLUMNS, delimiter="\t", quoting=csv.QUOTE_NONE, encoding=encoding):
            if row["gold_label"].strip() == "-":
                skipped += 1
            else:
                kept.append(_example(file, line, row))
        if skipped:
            log.info("%s: skipped %d rows whose gold_label is '-' (no annotator majority)", file, skipped)
        splits[split] = kept
    return splits


def _example(file: Path, line: int, row: dict[str, str]) -> Example:
    where = f"{file}, line {line}"
    label = row["gold_label"].strip()
    if label not in LABELS:
        raise DataError(where, "gold_label", f"is {label!r}, not one of {', '.join(LABELS)} or '-'")
    inputs = {
        "premise": require_text(row, "sentence1", where),
        "hypothesis": require_text(row, "sentence2", where),
    }
    pair_id = require_text(row, "pairID", where).strip()
    return example(f"{file.name}:{pair_id}", inputs, label, meta={"genre": row["genre"]})
