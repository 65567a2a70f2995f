"""Read corpus rows from JSONL, CSV, Parquet or a `datasets` directory saved with `save_to_disk`.

Each reader yields `(row_index, where, row)` with the row restricted to the requested columns;
row indexes count data rows from 0, the way pandas and `datasets` do.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from taskexpert.errors import DataError
from taskexpert.utils.input_files import utf8_lines
from taskexpert.utils.json_lines import json_objects

FORMATS = ("auto", "jsonl", "csv", "parquet", "hf_disk")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
_BATCH_ROWS = 2048

Row = tuple[int, str, dict[str, Any]]


def detect_format(path: Path) -> str:
    if path.is_dir():
        if any((path / marker).is_file() for marker in _HF_MARKERS):
            return "hf_disk"
        raise DataError(
            str(path),
            "-",
            "is a directory but not a dataset saved with datasets' save_to_disk",
            "point the corpus path at a .jsonl, .csv or .parquet file, or a save_to_disk directory",
        )
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            str(path),
            "-",
            f"has an unknown suffix {path.suffix!r}",
            "set the corpus format to jsonl, csv, parquet or hf_disk",
        )
    return fmt


def read_rows(path: str | Path, fmt: str, columns: Sequence[str], split: str | None = None) -> Iterator[Row]:
    """Rows of the corpus at `path`; checks up front that the file and the columns exist."""
    path = Path(path)
    if not path.exists():
        raise DataError(str(path), "-", "does not exist", "check the corpus path in the retrieval config")
    if fmt not in FORMATS:
        raise DataError(
            str(path), "-", f"has unknown corpus format {fmt!r}", f"use one of {', '.join(FORMATS)}"
        )
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "hf_disk":
        return _hf_disk_rows(path, list(columns), split)
    readers = {"jsonl": _jsonl_rows, "csv": _csv_rows, "parquet": _parquet_rows}
    return readers[fmt](path, list(columns))


def _missing_column(path: Path, column: str, available: Sequence[str]) -> DataError:
    return DataError(
        str(path),
        column,
        "is not a column of the corpus",
        f"available columns: {', '.join(available) or 'none'}; fix text_fields/id_field",
    )


def _jsonl_rows(path: Path, columns: list[str]) -> Iterator[Row]:
    for row_index, (line, row) in enumerate(json_objects(path)):
        where = f"{line} (row {row_index})"
        for column in columns:
            if column not in row:
                raise DataError(
                    where,
                    column,
                    "is missing",
                    f"the row has {', '.join(sorted(row)) or 'no fields'}; use null for a row without text",
                )
        yield row_index, where, {column: row[column] for column in columns}


def _csv_rows(path: Path, columns: list[str]) -> Iterator[Row]:
    # Abstracts and full texts can exceed the csv module's default cell limit of 128 KiB.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    lines = utf8_lines(path)  # decoded line by line: a non-UTF-8 byte is named by line and byte offset
    try:
        reader = csv.DictReader(lines)
        header = reader.fieldnames or []
        for column in columns:
            if column not in header:
                raise _missing_column(path, column, header)
        for row_index, row in enumerate(reader):
            where = f"{path}, row {row_index} (line {reader.line_num})"
            yield row_index, where, {column: row[column] for column in columns}
    finally:
        lines.close()  # closes the file when the caller stops early


def _parquet_rows(path: Path, columns: list[str]) -> Iterator[Row]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises several types for a file that is not Parquet
        raise DataError(str(path), "-", f"is not a readable Parquet file ({error})") from None
    names = parquet.schema_arrow.names
    for column in columns:
        if column not in names:
            raise _missing_column(path, column, names)
    row_index = 0
    for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=columns):
        for row in batch.to_pylist():
            yield row_index, f"{path}, row {row_index}", row
            row_index += 1


def _hf_disk_rows(path: Path, columns: list[str], split: str | None) -> Iterator[Row]:
    import datasets

    try:
        dataset = datasets.load_from_disk(str(path))
    except Exception as error:  # datasets raises FileNotFoundError or its own errors for bad dirs
        raise DataError(str(path), "-", f"cannot be loaded with datasets.load_from_disk ({error})") from None
    if isinstance(dataset, datasets.DatasetDict):
        names = list(dataset)
        if split is None and len(names) == 1:
            split = names[0]
        if split not in dataset:
            raise DataError(
                str(path),
                "split",
                f"{'is not set' if split is None else f'{split!r} is not a split'} of this DatasetDict",
                f"set the corpus split to one of {', '.join(names)}",
            )
        dataset = dataset[split]
    for column in columns:
        if column not in dataset.column_names:
            raise _missing_column(path, column, dataset.column_names)
    where_prefix = f"{path}" + (f" [{split}]" if split else "")
    row_index = 0
    for batch in dataset.select_columns(columns).iter(batch_size=_BATCH_ROWS):
        for offset in range(len(batch[columns[0]])):
            yield row_index, f"{where_prefix}, row {row_index}", {c: batch[c][offset] for c in columns}
            row_index += 1
