"""Reading JSON-lines files: one object per line, blank lines skipped, errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from taskexpert.errors import DataError
from taskexpert.utils.input_files import utf8_lines


def json_objects(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (where, object) for every non-blank line; `where` is "<path>, line <n>" for error messages.
    Bytes that are not UTF-8 are reported with their line and byte offset."""
    for line_number, line in enumerate(utf8_lines(path), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {line_number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(
                where, "-", f"is not valid JSON ({error.msg})", "write one JSON object per line"
            ) from None
        if not isinstance(row, dict):
            raise DataError(where, "-", f"is a {type(row).__name__}, not a JSON object")
        yield where, row
