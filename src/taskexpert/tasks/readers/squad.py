"""SQuAD v1.1's original `train-v1.1.json` and `dev-v1.1.json` (the dev set is the test split).

`{"version", "data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question", "answers":
[{"answer_start", "text"}]}]}]}]}`. inputs {context, question}; target = the first answer's text;
meta {answers: every gold answer text, title}. Each answer must sit in the context at its `answer_start`
(as in the official files); the option `check_answer_start: false` skips that check for other SQuAD-style data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from taskexpert.errors import DataError
from taskexpert.tasks.readers._examples import Example, Splits, example, require, require_text
from taskexpert.tasks.readers._files import dataset_folder, encodings, load_json
from taskexpert.tasks.readers.registry import register

FILES = {"train": "train-v1.1.json", "test": "dev-v1.1.json"}


@register("squad")
def read(path: Path, options: Mapping[str, Any]) -> Splits:
    folder = dataset_folder(path, list(FILES.values()))
    check = bool(options.get("check_answer_start", True))
    return {split: list(_examples(folder / name, encodings(options), check)) for split, name in FILES.items()}


def _list(value: Any, where: str, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise DataError(where, field, "is not a list")
    return value


def _examples(file: Path, tried: tuple[str, ...], check: bool) -> Iterator[Example]:
    payload = load_json(file, tried)
    if not isinstance(payload, dict):
        raise DataError(str(file), "data", "is missing: the file is not a SQuAD object")
    for a, article in enumerate(_list(require(payload, "data", str(file)), str(file), "data"), 1):
        where = f"{file}, article {a}"
        title = str(article.get("title", "")) if isinstance(article, dict) else ""
        for p, paragraph in enumerate(_list(require(article, "paragraphs", where), where, "paragraphs"), 1):
            where = f"{file}, article {a}, paragraph {p}"
            context = require_text(paragraph, "context", where)
            for qa in _list(require(paragraph, "qas", where), where, "qas"):
                qa_id = str(require(qa, "id", where))
                yield _question(qa, context, title, f"{file}, record {qa_id}", check)


def _question(qa: dict[str, Any], context: str, title: str, where: str, check: bool) -> Example:
    texts = []
    for index, answer in enumerate(_list(require(qa, "answers", where), where, "answers")):
        text = require_text(answer, "text", where)
        start = require(answer, "answer_start", where)
        if check and (not isinstance(start, int) or context[start : start + len(text)] != text):
            raise DataError(
                where,
                f"answers[{index}].answer_start",
                f"is {start!r}, but {text!r} is not at that offset",
                "fix the offset, or set the reader option check_answer_start=false",
            )
        texts.append(text)
    if not texts:
        raise DataError(where, "answers", "is empty: SQuAD v1.1 questions all have an answer")
    inputs = {"context": context, "question": require_text(qa, "question", where)}
    return example(str(qa["id"]), inputs, texts[0], meta={"answers": texts, "title": title})
