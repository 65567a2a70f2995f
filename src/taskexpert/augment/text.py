"""Text normalisation shared by the filters and statistics: one definition of a word and an n-gram."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from taskexpert.errors import ConfigError
from taskexpert.records import Record

_WORD = re.compile(r"\w+(?:[-'.]\w+)*")  # keeps "30-day", "p=0.003" -> "p", "0.003"


def words(text: str) -> list[str]:
    """Lower-cased words, punctuation dropped, Unicode-normalised (NFKC)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def normalized(text: str) -> str:
    """The text as a canonical string: exact duplicates after normalisation compare equal."""
    return " ".join(words(text))


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def record_text(record: Record, fields: Iterable[str]) -> str:
    """The named fields of a record joined by newlines (the text a filter or statistic looks at): input fields
    by name, or `reference` (alias `long_answer`), `rationale`, `target`."""
    parts = []
    for name in fields:
        try:
            parts.append(record.text(name))
        except KeyError:
            raise ConfigError(
                f"{name!r} is not a text field of record {record.id}: use one of its inputs "
                f"({', '.join(record.inputs)}), reference, rationale or target"
            ) from None
    return "\n".join(parts)
