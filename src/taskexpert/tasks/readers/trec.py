"""TREC question classification: the original `train_5500.label` and `TREC_10.label` files.

Each line is `COARSE:fine question tokens ?` (e.g. `NUM:date When did ... ?`). inputs {question};
target = the coarse label; meta {fine}. The original files are Latin-1: without the `encoding` option the
reader tries UTF-8, then Latin-1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from taskexpert.errors import DataError
from taskexpert.tasks.readers._examples import Example, Splits, example
from taskexpert.tasks.readers._files import dataset_folder, encodings, read_text
from taskexpert.tasks.readers.registry import register

FILES = {"train": "train_5500.label", "test": "TREC_10.label"}
COARSE = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
_LINE = re.compile(r"(?P<coarse>[^:\s]+):(?P<fine>\S+)\s+(?P<question>\S.*)")


@register("trec")
def read(path: Path, options: Mapping[str, Any]) -> Splits:
    folder = dataset_folder(path, list(FILES.values()))
    tried = encodings(options, default=("utf-8", "latin-1"))
    splits: Splits = {}
    for split, name in FILES.items():
        lines = read_text(folder / name, tried).splitlines()
        splits[split] = [_example(folder / name, n, line) for n, line in enumerate(lines, 1) if line.strip()]
    return splits


def _example(file: Path, number: int, line: str) -> Example:
    where = f"{file}, line {number}"
    match = _LINE.fullmatch(line.strip())
    if match is None:
        raise DataError(where, "label", "is not 'COARSE:fine question'", "e.g. 'NUM:date When did ... ?'")
    if match["coarse"] not in COARSE:
        raise DataError(
            where, "label", f"has coarse label {match['coarse']!r}, not one of {', '.join(COARSE)}"
        )
    return example(
        f"{file.name}:{number}",
        {"question": match["question"]},
        match["coarse"],
        meta={"fine": match["fine"]},
    )
