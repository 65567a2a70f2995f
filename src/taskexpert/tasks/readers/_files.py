"""Finding, decoding and parsing a dataset's own files, with errors that name the file, the line and the field.

Shared by every reader: a folder must hold the dataset's own file names; undecodable bytes are reported by line
and byte offset; cut JSON by line; a table's missing column by name, beside the columns the file does have.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from taskexpert.errors import DataError

UTF8 = ("utf-8",)


def encodings(options: Mapping[str, Any], default: Sequence[str] = UTF8) -> tuple[str, ...]:
    """The encodings to try, in order: the `encoding` option when set, else the reader's default."""
    chosen = options.get("encoding")
    return (str(chosen),) if chosen else tuple(default)


def must_exist(path: Path) -> None:
    if not path.exists():
        raise DataError(str(path), "-", "does not exist", "check `data.path`")


def dataset_folder(path: Path, expected: Sequence[str], optional: Collection[str] = ()) -> Path:
    """`path` as the folder holding the dataset's own file names; a missing one is an error listing them all."""
    must_exist(path)
    names = ", ".join(f"{name} (optional)" if name in optional else name for name in expected)
    if not path.is_dir():
        raise DataError(
            str(path),
            "-",
            f"is a file, but this dataset is a folder of files: {names}",
            "point `data.path` at the folder that holds them",
        )
    missing = [name for name in expected if name not in optional and not (path / name).is_file()]
    if missing:
        found = sorted(child.name for child in path.iterdir())[:12]
        raise DataError(
            str(path),
            "-",
            f"has no {', '.join(missing)} (expected: {names}; found: {', '.join(found) or 'nothing'})",
            "point `data.path` at the folder holding the dataset's original files, under their own names",
        )
    return path


def decode_error(path: Path, encoding: str) -> DataError:
    """The first byte `path` cannot decode as `encoding`, pinned to its line and byte offset."""
    offset = 0
    with path.open("rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError as error:
                bad = offset + error.start
                return DataError(
                    f"{path}, line {line_number}",
                    "-",
                    f"has a byte that is not {encoding} at byte offset {bad} (0x{line[error.start]:02x})",
                    "save the file as UTF-8, or set the reader option `encoding` (e.g. latin-1)",
                )
            offset += len(line)
    return DataError(str(path), "-", f"is not valid {encoding}", "set the reader option `encoding`")


def read_text(path: Path, tried: Sequence[str] = UTF8) -> str:
    """The whole file, decoded with the first encoding of `tried` that fits it."""
    must_exist(path)
    data = path.read_bytes()
    for encoding in tried:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise decode_error(path, tried[0])


@contextmanager
def open_text(path: Path, encoding: str = "utf-8") -> Iterator[TextIO]:
    """A text stream of a large file (read lazily); a decoding error becomes a DataError naming line and byte."""
    must_exist(path)
    with path.open(encoding=encoding, newline="") as handle:
        try:
            yield handle
        except UnicodeDecodeError:
            raise decode_error(path, encoding) from None


def load_json(path: Path, tried: Sequence[str] = UTF8) -> Any:
    """A whole JSON document; cut or malformed JSON is reported with its line."""
    try:
        return json.loads(read_text(path, tried))
    except json.JSONDecodeError as error:
        raise DataError(
            f"{path}, line {error.lineno}",
            "-",
            f"is not valid JSON ({error.msg}, column {error.colno})",
            "is the file complete? (a cut download ends mid-object)",
        ) from None


def json_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a JSON-lines file."""
    with open_text(path, encoding) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(
                    f"{path}, line {line_number}",
                    "-",
                    f"is not valid JSON ({error.msg})",
                    "write one JSON object per line",
                ) from None
            if not isinstance(row, dict):
                raise DataError(f"{path}, line {line_number}", "-", "is not a JSON object")
            yield line_number, row


def table_rows(
    path: Path,
    required: Sequence[str],
    *,
    delimiter: str = ",",
    quoting: int = csv.QUOTE_MINIMAL,
    encoding: str = "utf-8",
    hint: str = "is this the dataset's original file, with its header line?",
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row by column name) for a CSV/TSV file with a header; `required` columns must be there.

    GLUE's TSV files are read with `quoting=csv.QUOTE_NONE`: their sentences hold bare quote characters.
    """
    with open_text(path, encoding) as handle:
        reader = csv.DictReader(handle, delimiter=delimiter, quoting=quoting)
        try:
            columns = reader.fieldnames or []
            for column in required:
                if column not in columns:
                    raise DataError(
                        f"{path}, line 1",
                        column,
                        f"is not a column of the header (the file's columns: {', '.join(columns) or 'none'})",
                        hint,
                    )
            for row in reader:
                where = f"{path}, line {reader.line_num}"
                if None in row:
                    raise DataError(where, "-", f"has more fields than the header's {len(columns)}")
                short = next((column for column in required if row[column] is None), None)
                if short is not None:
                    raise DataError(where, short, "is missing: the row has fewer fields than the header")
                yield reader.line_num, row
        except csv.Error as error:
            raise DataError(f"{path}, line {reader.line_num}", "-", f"is not valid CSV ({error})") from None
