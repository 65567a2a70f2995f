"""GSM8K's original `train.jsonl` and `test.jsonl`: one `{"question", "answer"}` object per line.

The answer holds the worked steps (with calculator notes such as `<<48/2=24>>`) and ends in `#### N`.
inputs {question}; target = N normalised (see `taskexpert.tasks.answers`); reference = the whole answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from taskexpert.errors import DataError
from taskexpert.tasks.answers import final_answer
from taskexpert.tasks.readers._examples import Example, Splits, example, require_text
from taskexpert.tasks.readers._files import dataset_folder, encodings, json_lines
from taskexpert.tasks.readers.registry import register

FILES = {"train": "train.jsonl", "test": "test.jsonl"}


@register("gsm8k")
def read(path: Path, options: Mapping[str, Any]) -> Splits:
    folder = dataset_folder(path, list(FILES.values()))
    encoding = encodings(options)[0]
    return {
        split: [_example(folder / name, line, row) for line, row in json_lines(folder / name, encoding)]
        for split, name in FILES.items()
    }


def _example(file: Path, line: int, row: dict[str, Any]) -> Example:
    where = f"{file}, line {line}"
    question = require_text(row, "question", where)
    answer = require_text(row, "answer", where)
    target = final_answer(answer)
    if target is None:
        raise DataError(
            where, "answer", "does not end in '#### N' with N a number", "end the answer with '#### 72'"
        )
    return example(f"{file.name}:{line}", {"question": question}, target, reference=answer)
