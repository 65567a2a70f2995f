"""Opening input files with one-line errors: a directory where a file belongs, a missing file, bytes that are not
UTF-8 (named by line and byte offset, so `head -c`/`xxd` find them)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from taskexpert.errors import DataError

UTF8_HINT = "save the file as UTF-8, e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8"
DATA_FILE_KINDS = (
    "ori_pqal.json (the official PubMedQA file)",
    "a .jsonl of records or of Hugging Face rows",
    "a .parquet of Hugging Face rows",
)


def require_file(path: Path, setting: str = "data.path", expected: Sequence[str] = DATA_FILE_KINDS) -> None:
    """A DataError unless `path` is an existing file; a directory is named as one, with what it holds."""
    if path.is_dir():
        present = sorted(
            child.name for child in path.iterdir() if child.suffix in (".json", ".jsonl", ".parquet")
        )
        holds = f"; it holds {', '.join(present[:5])}" if present else ""
        raise DataError(
            str(path),
            "-",
            "is a directory, not a file",
            f"point {setting} at a file in it: {', '.join(expected)}{holds}",
        )
    if not path.is_file():
        raise DataError(str(path), "-", "does not exist", f"check `{setting}`")


def _not_utf8(path: Path, line: int, offset: int, byte: bytes) -> DataError:
    return DataError(
        f"{path}, line {line}, byte offset {offset}",
        "-",
        f"is not UTF-8 text (byte 0x{byte.hex()})",
        UTF8_HINT,
    )


def read_utf8_text(path: Path) -> str:
    """The whole file as text; non-UTF-8 bytes are reported with their line and byte offset."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise _not_utf8(path, line, error.start, data[error.start : error.start + 1]) from None


def utf8_lines(path: Path) -> Iterator[str]:
    """The file's lines, line endings kept (what `csv` wants), decoded one by one so that a non-UTF-8 byte is
    reported with its line number and byte offset instead of a traceback."""
    offset = 0
    with path.open("rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as error:
                byte = raw[error.start : error.start + 1]
                raise _not_utf8(path, line_number, offset + error.start, byte) from None
            offset += len(raw)
