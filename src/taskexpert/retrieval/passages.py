"""Datastore units: a passage of text and where it came from, and how corpus rows become passages."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from taskexpert.errors import ConfigError

UNITS = ("field", "passage")


@dataclass(frozen=True)
class Passage:
    """One retrievable text with its provenance; rows and passages are counted from 0."""

    text: str
    corpus: str
    row: int
    field: str
    passage: int = 0
    row_id: str | None = None

    def provenance(self) -> dict[str, Any]:
        """Everything but the text: enough to find the passage again in its corpus."""
        return {key: value for key, value in asdict(self).items() if key != "text"}

    @property
    def key(self) -> str:
        """A short stable name, e.g. `pubmed:1234:abstract:2`."""
        return f"{self.corpus}:{self.row}:{self.field}:{self.passage}"


@dataclass(frozen=True)
class CorpusConfig:
    """How to read one corpus file and cut it into passages."""

    name: str
    path: str
    text_fields: tuple[str, ...]
    format: str = "auto"
    id_field: str | None = None
    split: str | None = None
    unit: str = "passage"
    join_fields: bool = False
    passage_words: int = 128
    passage_overlap: int = 32
    min_words: int = 1

    def __post_init__(self) -> None:
        where = f"retrieval.corpora.{self.name}"
        if not self.text_fields:
            raise ConfigError(f"{where}.text_fields is empty: name the field(s) that hold the text")
        if self.unit not in UNITS:
            raise ConfigError(f"{where}.unit={self.unit!r} is unknown: use one of {', '.join(UNITS)}")
        if self.passage_words < 1:
            raise ConfigError(f"{where}.passage_words must be at least 1, got {self.passage_words}")
        if not 0 <= self.passage_overlap < self.passage_words:
            raise ConfigError(
                f"{where}.passage_overlap must be in [0, passage_words={self.passage_words}), "
                f"got {self.passage_overlap}"
            )

    @classmethod
    def from_mapping(cls, name: str, settings: Mapping[str, Any]) -> CorpusConfig:
        values = dict(settings)
        values.setdefault("name", name)
        text_fields = values.get("text_fields")
        if isinstance(text_fields, str):
            text_fields = [text_fields]
        values["text_fields"] = tuple(text_fields or ())
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"retrieval.corpora.{name}.{unknown[0]} is not a corpus setting: "
                f"known settings are {', '.join(sorted(known))}"
            )
        if not values.get("path"):
            raise ConfigError(f"retrieval.corpora.{name}.path is not set: point it at a corpus file")
        return cls(**values)

    def chunking(self) -> dict[str, Any]:
        """The settings that decide the passages (part of the fingerprint; the path is not)."""
        return {
            "name": self.name,
            "text_fields": list(self.text_fields),
            "id_field": self.id_field,
            "unit": self.unit,
            "join_fields": self.join_fields,
            "passage_words": self.passage_words,
            "passage_overlap": self.passage_overlap,
            "min_words": self.min_words,
        }


def split_words(text: str, words: int, overlap: int) -> list[str]:
    """Windows of at most `words` words, each sharing `overlap` words with the one before.

    Whitespace is normalised to single spaces. The last window ends at the last word, so no
    word is lost; a text no longer than one window stays whole.
    """
    tokens = text.split()
    if len(tokens) <= words:
        return [" ".join(tokens)] if tokens else []
    step = words - overlap
    windows = []
    start = 0
    while True:
        windows.append(" ".join(tokens[start : start + words]))
        if start + words >= len(tokens):
            return windows
        start += step


def row_passages(
    corpus: CorpusConfig, row_index: int, texts: Mapping[str, str], row_id: str | None
) -> Iterator[Passage]:
    """The passages of one row; `texts` maps field name to its (non-empty) text."""
    if corpus.join_fields:
        joined = "\n".join(texts[name] for name in corpus.text_fields if name in texts)
        units: Iterable[tuple[str, str]] = [("+".join(corpus.text_fields), joined)] if joined else []
    else:
        units = [(name, texts[name]) for name in corpus.text_fields if name in texts]
    for field_name, text in units:
        if corpus.unit == "field":
            pieces = [" ".join(text.split())]
        else:
            pieces = split_words(text, corpus.passage_words, corpus.passage_overlap)
        for index, piece in enumerate(pieces):
            if len(piece.split()) >= max(corpus.min_words, 1):
                yield Passage(piece, corpus.name, row_index, field_name, index, row_id)
