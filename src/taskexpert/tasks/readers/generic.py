"""Users' own data: a JSON-lines, CSV, TSV or Parquet file per split, or a dataset loaded with `datasets`.

Options:
- `columns` (required): task field -> column of the file. `target` is the gold answer or label id, `id` and
  `reference` are optional; every other key is an input field (e.g. {text: review, target: stars}).
- `label_names`: label id in the file -> label name, a list (the id is the position) or a mapping (int or
  string ids); without it the target column holds the label names themselves.
- `split_files`: split -> file name, beside `data.path` (a folder, or a file whose folder is used); without it
  `data.path` is one file, the train split.
- `format`: jsonl | csv | tsv | parquet | hub; by default the file's suffix decides.
- hub only: `data.path` is the dataset id or a local dataset folder, read through `datasets.load_dataset`
  (from its cache: set HF_HUB_OFFLINE=1 to never reach the network); `subset`, `cache_dir`; `split_files`
  maps our split -> the dataset's split name (default: the dataset's own split names).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from taskexpert.errors import ConfigError, DataError
from taskexpert.tasks.readers._examples import Example, Splits, example, label_name
from taskexpert.tasks.readers._files import encodings, json_lines, must_exist, table_rows
from taskexpert.tasks.readers.registry import register

FORMATS = ("jsonl", "csv", "tsv", "parquet", "hub")
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}
NOT_INPUTS = ("target", "id", "reference")

Row = tuple[str, int, Mapping[str, Any], list[str]]  # where, position, row, the columns the file has


@register("generic")
def read(path: Path, options: Mapping[str, Any]) -> Splits:
    columns = _columns(options)
    if options.get("format") == "hub":
        return _read_hub(str(path), columns, options)
    must_exist(path)
    names = options.get("split_files") or {"train": path.name}
    folder = path if path.is_dir() else path.parent
    if path.is_dir() and not options.get("split_files"):
        raise ConfigError(f"{path} is a folder: name its files with split_files (split -> file name)")
    return {
        split: [
            _example(row, columns, options, Path(name).name)
            for row in _rows(folder / name, options, list(columns.values()))
        ]
        for split, name in names.items()
    }


def _columns(options: Mapping[str, Any]) -> dict[str, str]:
    columns = options.get("columns")
    if not isinstance(columns, Mapping) or "target" not in columns:
        raise ConfigError("the generic reader needs `columns`: task field -> file column, with `target`")
    if not [field for field in columns if field not in NOT_INPUTS]:
        raise ConfigError("`columns` names no input field (e.g. text: <column>) beside target/id/reference")
    return {str(field): str(column) for field, column in columns.items()}


def _file_format(file: Path, options: Mapping[str, Any]) -> str:
    chosen = options.get("format") or SUFFIXES.get(file.suffix.lower())
    if chosen not in FORMATS:
        raise DataError(
            str(file),
            "-",
            f"has no known format ({chosen or file.suffix!r})",
            f"set `format` to one of {', '.join(FORMATS)}",
        )
    return chosen


def _rows(file: Path, options: Mapping[str, Any], needed: list[str]) -> Iterator[Row]:
    must_exist(file)
    kind = _file_format(file, options)
    encoding = encodings(options)[0]
    if kind == "jsonl":
        for line, row in json_lines(file, encoding):
            yield f"{file}, line {line}", line, row, list(row)
    elif kind == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(file)
        for position, row in enumerate(table.to_pylist(), 1):
            yield f"{file}, row {position}", position, row, table.column_names
    else:
        hint = "set `columns.<field>` to a column the file has"
        rows = table_rows(
            file, needed, delimiter="\t" if kind == "tsv" else ",", encoding=encoding, hint=hint
        )
        for line, row in rows:
            yield f"{file}, line {line}", line, row, list(row)


def _example(row: Row, columns: dict[str, str], options: Mapping[str, Any], file_name: str) -> Example:
    where, position, values, available = row

    def value(field: str) -> Any:
        column = columns[field]
        if column not in values or values[column] is None:
            raise DataError(
                where,
                column,
                f"is missing (the file's columns: {', '.join(available)})",
                f"set `columns.{field}` to one of them",
            )
        found = values[column]
        if isinstance(found, (dict, list)):
            raise DataError(where, column, f"is a {type(found).__name__}, not text or a label id")
        return found

    inputs = {field: str(value(field)) for field in columns if field not in NOT_INPUTS}
    for field, text in inputs.items():
        if not text.strip():
            raise DataError(where, columns[field], "is empty")
    target = label_name(value("target"), options.get("label_names"), where, columns["target"])
    example_id = str(value("id")) if "id" in columns else f"{file_name}:{position}"
    reference = str(value("reference")) if "reference" in columns else ""
    return example(example_id, inputs, target, reference)


def _read_hub(dataset_id: str, columns: dict[str, str], options: Mapping[str, Any]) -> Splits:
    import datasets

    try:
        loaded = datasets.load_dataset(dataset_id, options.get("subset"), cache_dir=options.get("cache_dir"))
    except Exception as error:  # datasets raises many types: offline, unknown id, bad config
        raise DataError(
            dataset_id,
            "-",
            f"could not be loaded with datasets ({type(error).__name__}: {error})".replace("\n", " "),
            "download it once with the network on (it is then read from the cache), or check the id",
        ) from None
    names = options.get("split_files") or {name: name for name in loaded}
    splits: Splits = {}
    for split, hub_split in names.items():
        if hub_split not in loaded:
            raise DataError(dataset_id, "-", f"has no split {hub_split!r} (its splits: {', '.join(loaded)})")
        rows = loaded[hub_split]
        splits[split] = [
            _example(
                (f"{dataset_id}[{hub_split}], row {n}", n, row, rows.column_names),
                columns,
                options,
                hub_split,
            )
            for n, row in enumerate(rows, 1)
        ]
    return splits
