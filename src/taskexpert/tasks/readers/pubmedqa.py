"""PubMedQA's files in their several shapes, read into records (`data.reader: pubmedqa`, `data.format`):

- `official`: the PQA-L `ori_pqal.json` (object keyed by PMID) and its `test_ground_truth.json`
- `hf_rows`: Hugging Face `pqa_labeled` rows exported as JSONL or Parquet
- `jsonl`: this project's own record format (see `taskexpert.records`)
- `hub`: a dataset id loaded with `datasets` (needs the network, or a warm local cache)
- `auto`: one of the file formats, from the file's name and first record

Everything is one list in file order (the split "train"): the splits are Dr. LLaMA's file-order split
(`data.split.name: drllama`) or the official one registered here (`official`: test = the PMIDs of
`test_ground_truth.json`). Records carry inputs {question, context}, the decision as target and the long
answer as reference; this module checks the decision against PubMedQA's labels itself, so errors name the
file's own fields (`final_decision`, `CONTEXTS`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from taskexpert.data.splits import Splits, official_split, register_split
from taskexpert.errors import ConfigError, DataError
from taskexpert.records import Record, record_from_dict, validate_record
from taskexpert.tasks.readers.registry import register
from taskexpert.utils.input_files import read_utf8_text, require_file, utf8_lines
from taskexpert.utils.json_lines import json_objects

FORMATS = ("auto", "official", "hf_rows", "jsonl", "hub")
LABELS = ("yes", "no", "maybe")
FILE_KINDS = (  # what data.path may be, for the error when it is a directory
    "ori_pqal.json (the official PubMedQA file)",
    "a .jsonl of records or of Hugging Face rows",
    "a .parquet of Hugging Face rows",
)
SOURCE = "pubmedqa"


def pubmedqa_record(
    record_id: str, question: str, context: str, label: str, long_answer: str = "", **fields: Any
) -> Record:
    """A record of this dataset from its own field names."""
    inputs = {"question": question, "context": context}
    return Record(
        id=record_id, inputs=inputs, target=label, reference=long_answer, **{"source": SOURCE, **fields}
    )


def validate_pubmedqa(record: Record, where: str) -> Record:
    """Shape, non-empty question and context, a decision among yes/no/maybe; errors name our field names."""
    validate_record(record, where)
    for name in ("question", "context"):
        value = record.inputs.get(name)
        if not isinstance(value, str) or not value.strip():
            raise DataError(where, name, "is empty", f"every record needs a non-empty {name}")
    if record.target not in LABELS:
        raise DataError(
            where, "label", f"has unknown label {record.target!r}", f"use one of {', '.join(LABELS)}"
        )
    return record


def _load_json(path: Path, setting: str) -> Any:
    require_file(path, setting, FILE_KINDS)
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


def _official_item(pmid: str, item: Any, path: Path) -> Record:
    where = f"{path}, record {pmid}"
    if not isinstance(item, dict):
        raise DataError(where, "-", "is not a JSON object")
    contexts = _require(item, "CONTEXTS", where)
    if not isinstance(contexts, list):
        raise DataError(where, "CONTEXTS", "is not a list of strings")
    record = pubmedqa_record(
        str(pmid),
        question=_require(item, "QUESTION", where),
        context="\n".join(str(part) for part in contexts),
        long_answer=item.get("LONG_ANSWER", ""),
        label=str(_require(item, "final_decision", where)).strip().lower(),
        meta={key: item[key] for key in ("LABELS", "MESHES", "YEAR") if key in item},
    )
    try:
        return validate_pubmedqa(record, where)
    except DataError as error:  # name the file's own field, not ours
        official_names = {"question": "QUESTION", "context": "CONTEXTS", "label": "final_decision"}
        raise DataError(
            where, official_names.get(error.field, error.field), error.problem, error.hint
        ) from None


def read_official(path: str | Path) -> list[Record]:
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


def _hf_row(row: dict[str, Any], where: str) -> Record:
    context = _require(row, "context", where)
    contexts = context.get("contexts") if isinstance(context, dict) else context
    if isinstance(contexts, str):
        contexts = [contexts]
    if not isinstance(contexts, list):
        raise DataError(where, "context.contexts", "is not a list of strings")
    meta = {k: list(context[k]) for k in ("labels", "meshes") if isinstance(context, dict) and k in context}
    record = pubmedqa_record(
        str(_require(row, "pubid", where)),
        question=_require(row, "question", where),
        context="\n".join(str(part) for part in contexts),
        long_answer=row.get("long_answer", "") or "",
        label=str(_require(row, "final_decision", where)).strip().lower(),
        meta=meta,
    )
    try:
        return validate_pubmedqa(record, where)
    except DataError as error:  # name the file's own field, not ours
        row_names = {"id": "pubid", "context": "context.contexts", "label": "final_decision"}
        raise DataError(where, row_names.get(error.field, error.field), error.problem, error.hint) from None


def read_hf_rows(path: str | Path) -> list[Record]:
    """Read Hugging Face `pqa_labeled` rows exported as JSONL or Parquet."""
    path = Path(path)
    require_file(path, expected=FILE_KINDS)
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


def read_hub(dataset_id: str, subset: str | None = None, split: str = "train") -> list[Record]:
    """Load a hub dataset with `datasets` (online, or from its local cache) and read its rows."""
    import datasets

    rows = datasets.load_dataset(dataset_id, subset, split=split)
    return [_hf_row(dict(row), f"{dataset_id}[{split}], row {index}") for index, row in enumerate(rows)]


def _read_own_jsonl(path: str | Path) -> list[Record]:
    """Our own record format, each record checked as a record of this dataset."""
    path = Path(path)
    require_file(path, expected=FILE_KINDS)
    return [validate_pubmedqa(record_from_dict(row, where), where) for where, row in json_objects(path)]


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


def read_records(path: str | Path, data_format: str = "auto", **hub_options: Any) -> list[Record]:
    """Read any supported source into records."""
    if data_format == "hub":
        return read_hub(str(path), **hub_options)
    if data_format == "auto":
        require_file(Path(path), expected=FILE_KINDS)  # a directory is named as one, not as an unknown format
        data_format = detect_format(path)
    readers = {"official": read_official, "hf_rows": read_hf_rows, "jsonl": _read_own_jsonl}
    if data_format not in readers:
        raise DataError(
            str(path), "-", f"has unknown data.format {data_format!r}", f"use one of {', '.join(FORMATS)}"
        )
    return readers[data_format](path)


@register("pubmedqa")
def read(path: Path, options: Mapping[str, Any]) -> dict[str, list[Record]]:
    """The reader of `data.reader: pubmedqa`: every record in file order, as the split "train"."""
    data_format = options.get("format") or "auto"
    hub_options = {"subset": options.get("subset"), "split": options.get("hub_split") or "train"}
    return {"train": read_records(path, data_format, **(hub_options if data_format == "hub" else {}))}


@register_split("official")
def split_by_ground_truth(dataset: dict[str, list[Record]], data_cfg: Any, path: str) -> Splits:
    """Test = exactly the PMIDs of `test_ground_truth.json` (`data.ground_truth`, else beside `data.path`)."""
    from taskexpert.data.loading import resolve_data_path

    if set(dataset) != {"train"}:
        raise ConfigError("data.split.name=official needs PubMedQA's single file (data.reader: pubmedqa)")
    split_cfg = data_cfg.split
    ground_truth_path = (
        resolve_data_path(data_cfg.ground_truth)
        if data_cfg.get("ground_truth")
        else str(Path(path).with_name("test_ground_truth.json"))
    )
    ground_truth = read_ground_truth(ground_truth_path)
    splits = official_split(
        dataset["train"],
        ground_truth,
        ground_truth_path,
        split_cfg.val_size,
        split_cfg.get("train_size"),
        split_cfg.get("seed", 0),
    )
    splits.settings = {"val_size": len(splits.validation), "val_size_rule": "explicit"}
    return splits
