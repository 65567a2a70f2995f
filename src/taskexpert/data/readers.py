"""Readers that turn PubMedQA files in their several shapes into records.

- `official`: the PQA-L `ori_pqal.json` (object keyed by PMID) and its `test_ground_truth.json`
- `hf_rows`: Hugging Face `pqa_labeled` rows exported as JSONL or Parquet
- `jsonl`: this project's own record format (see `taskexpert.records`)
- `hub`: a dataset id loaded with `datasets` (needs the network, or a warm local cache)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from taskexpert.errors import DataError
from taskexpert.records import QARecord, read_jsonl, validate_record
from taskexpert.utils.input_files import read_utf8_text, require_file, utf8_lines
from taskexpert.utils.json_lines import json_objects

FORMATS = ("auto", "official", "hf_rows", "jsonl", "hub")


def _load_json(path: Path, setting: str) -> Any:
    require_file(path, setting)
    repeats: list[str | None] = []  # per JSON object, innermost first: the top-level object comes last

    def keep_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()  # set.add returns None, so the generator yields the first key seen twice
        repeats.append(next((key for key, _ in pairs if key in seen or seen.add(key)), None))
        return dict(pairs)

    try:
        payload = json.loads(read_utf8_text(path), object_pairs_hook=keep_pairs)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}, line {error.lineno}", "-", f"is not valid JSON ({error.msg})") from None
    if isinstance(payload, dict) and repeats[-1] is not None:  # plain json.loads would keep the last silently
        raise DataError(
            f"{path}, record {repeats[-1]}", "id", "appears more than once", "PMIDs must be unique"
        )
    return payload


def _require(row: dict[str, Any], key: str, where: str) -> Any:
    if key not in row:
        raise DataError(where, key, "is missing", "is this file in the format named by `data.format`?")
    return row[key]


def _official_item(pmid: str, item: Any, path: Path) -> QARecord:
    where = f"{path}, record {pmid}"
    if not isinstance(item, dict):
        raise DataError(where, "-", "is not a JSON object")
    contexts = _require(item, "CONTEXTS", where)
    if not isinstance(contexts, list):
        raise DataError(where, "CONTEXTS", "is not a list of strings")
    record = QARecord(
        id=str(pmid),
        question=_require(item, "QUESTION", where),
        context="\n".join(str(part) for part in contexts),
        long_answer=item.get("LONG_ANSWER", ""),
        label=str(_require(item, "final_decision", where)).strip().lower(),
        meta={key: item[key] for key in ("LABELS", "MESHES", "YEAR") if key in item},
    )
    try:
        return validate_record(record, where)
    except DataError as error:  # name the file's own field, not ours
        official_names = {"question": "QUESTION", "context": "CONTEXTS", "label": "final_decision"}
        raise DataError(
            where, official_names.get(error.field, error.field), error.problem, error.hint
        ) from None


def read_official(path: str | Path) -> list[QARecord]:
    """Read `ori_pqal.json`: a JSON object keyed by PMID, in file order."""
    path = Path(path)
    payload = _load_json(path, "data.path")
    if not isinstance(payload, dict):
        raise DataError(
            str(path), "-", "is not a JSON object keyed by PMID", "is this an `ori_pqal.json` file?"
        )
    return [_official_item(pmid, item, path) for pmid, item in payload.items()]


def read_ground_truth(path: str | Path) -> dict[str, str]:
    """Read `test_ground_truth.json`: PMID -> yes|no|maybe."""
    path = Path(path)
    payload = _load_json(path, "data.ground_truth")
    if not isinstance(payload, dict):
        raise DataError(str(path), "-", "is not a JSON object mapping PMID to label")
    return {str(pmid): str(label) for pmid, label in payload.items()}


def _hf_row(row: dict[str, Any], where: str) -> QARecord:
    context = _require(row, "context", where)
    contexts = context.get("contexts") if isinstance(context, dict) else context
    if isinstance(contexts, str):
        contexts = [contexts]
    if not isinstance(contexts, list):
        raise DataError(where, "context.contexts", "is not a list of strings")
    meta = {k: list(context[k]) for k in ("labels", "meshes") if isinstance(context, dict) and k in context}
    record = QARecord(
        id=str(_require(row, "pubid", where)),
        question=_require(row, "question", where),
        context="\n".join(str(part) for part in contexts),
        long_answer=row.get("long_answer", "") or "",
        label=str(_require(row, "final_decision", where)).strip().lower(),
        meta=meta,
    )
    try:
        return validate_record(record, where)
    except DataError as error:  # name the file's own field, not ours
        row_names = {"id": "pubid", "context": "context.contexts", "label": "final_decision"}
        raise DataError(where, row_names.get(error.field, error.field), error.problem, error.hint) from None


def read_hf_rows(path: str | Path) -> list[QARecord]:
    """Read Hugging Face `pqa_labeled` rows exported as JSONL or Parquet."""
    path = Path(path)
    require_file(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ... for a file that is not Parquet
            reason = (str(error).splitlines() or [type(error).__name__])[0]
            raise DataError(
                str(path),
                "-",
                f"is not a readable Parquet file ({reason})",
                "a .parquet file must be Parquet; rename a JSON-lines file to .jsonl",
            ) from None
        return [_hf_row(row, f"{path}, row {index}") for index, row in enumerate(rows)]
    return [_hf_row(row, where) for where, row in json_objects(path)]


def read_hub(dataset_id: str, subset: str | None = None, split: str = "train") -> list[QARecord]:
    """Load a hub dataset with `datasets` (online, or from its local cache) and read its rows."""
    import datasets

    rows = datasets.load_dataset(dataset_id, subset, split=split)
    return [_hf_row(dict(row), f"{dataset_id}[{split}], row {index}") for index, row in enumerate(rows)]


def detect_format(path: str | Path) -> str:
    """Guess a file's format from its name and, for JSONL, its first record."""
    path = Path(path)
    if path.suffix == ".json":
        return "official"
    if path.suffix == ".parquet":
        return "hf_rows"
    if path.suffix == ".jsonl" and path.is_file():
        first = next((line for line in utf8_lines(path) if line.strip()), "{}")
        try:
            row = json.loads(first)
            return "hf_rows" if isinstance(row, dict) and "pubid" in row else "jsonl"
        except json.JSONDecodeError:
            return "jsonl"  # the jsonl reader reports the line
    if path.suffix == ".jsonl":
        return "jsonl"
    raise DataError(
        str(path), "-", "has an unknown format", f"set `data.format` to one of {', '.join(FORMATS[1:])}"
    )


def read_records(path: str | Path, data_format: str = "auto", **hub_options: Any) -> list[QARecord]:
    """Read any supported source into records."""
    if data_format == "hub":
        return read_hub(str(path), **hub_options)
    if data_format == "auto":
        require_file(Path(path))  # a directory is named as one, not as an unknown format
        data_format = detect_format(path)
    readers = {"official": read_official, "hf_rows": read_hf_rows, "jsonl": read_jsonl}
    if data_format not in readers:
        raise DataError(
            str(path), "-", f"has unknown data.format {data_format!r}", f"use one of {', '.join(FORMATS)}"
        )
    return readers[data_format](path)
