"""This project's own record format (JSON lines, see taskexpert.records) as a dataset: `data.reader: records`.

One file is the split "train" (cut with `data.split.name=drllama`); the option `split_files` (split -> file
name beside `data.path`) names one file per split, e.g. {train: train.jsonl, test: test.jsonl}.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from taskexpert.records import Record, read_jsonl
from taskexpert.tasks.readers.registry import register


@register("records")
def read(path: Path, options: Mapping[str, Any]) -> dict[str, list[Record]]:
    split_files = options.get("split_files")
    if not split_files:
        return {"train": read_jsonl(path)}
    folder = path if path.is_dir() else path.parent
    return {str(split): read_jsonl(folder / str(name)) for split, name in split_files.items()}
