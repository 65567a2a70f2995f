"""The datastore: every passage of the configured corpora, in a fixed order, with a content fingerprint."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from taskexpert.errors import ConfigError, DataError
from taskexpert.retrieval.corpus_readers import read_rows
from taskexpert.retrieval.passages import CorpusConfig, Passage, row_passages

log = logging.getLogger(__name__)

# Bump when the way passages are made changes, so old indexes are not reused by mistake.
FINGERPRINT_VERSION = 1


@dataclass
class CorpusStats:
    rows: int = 0
    passages: int = 0
    empty_fields: int = 0


def _text_value(value: Any, where: str, field: str) -> str:
    """Field value as text: strings as they are, lists of strings joined, null as empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return " ".join(item.strip() for item in value if item.strip())
    raise DataError(
        where,
        field,
        f"holds a {type(value).__name__} ({str(value)[:40]!r}), not text",
        "text fields must hold a string, a list of strings, or null",
    )


def read_corpus(corpus: CorpusConfig, path: str) -> tuple[list[Passage], CorpusStats]:
    """All passages of one corpus file, in row order."""
    columns = list(dict.fromkeys([*corpus.text_fields, *([corpus.id_field] if corpus.id_field else [])]))
    stats = CorpusStats()
    passages: list[Passage] = []
    try:
        for row_index, where, row in read_rows(path, corpus.format, columns, corpus.split):
            stats.rows += 1
            texts = {}
            for name in corpus.text_fields:
                text = _text_value(row[name], where, name)
                if text:
                    texts[name] = text
                else:
                    stats.empty_fields += 1
            row_id = None
            if corpus.id_field and row[corpus.id_field] is not None:
                row_id = str(row[corpus.id_field])
            before = len(passages)
            passages.extend(row_passages(corpus, row_index, texts, row_id))
            stats.passages += len(passages) - before
    except UnicodeDecodeError as error:
        raise DataError(
            path, "-", f"is not UTF-8 text (byte {error.start}: {error.reason})", "save the corpus as UTF-8"
        ) from None
    if not passages:
        raise DataError(
            path,
            "-",
            f"gave no passages ({stats.rows} rows; fields {', '.join(corpus.text_fields)} empty or too short)",
            "check text_fields and min_words of this corpus, or that the file is not empty",
        )
    return passages, stats


def fingerprint_passages(corpora: Sequence[CorpusConfig], passages: Iterable[Passage]) -> str:
    """SHA-256 of the chunking settings and every passage's provenance and text (not of paths or dates)."""
    digest = hashlib.sha256()
    settings = {"version": FINGERPRINT_VERSION, "corpora": [corpus.chunking() for corpus in corpora]}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for p in passages:
        digest.update(json.dumps([p.corpus, p.row, p.field, p.passage, p.row_id, p.text]).encode())
        digest.update(b"\n")
    return digest.hexdigest()


class Datastore:
    """The passages retrieval searches, addressed by position (0..len-1) in a fixed order."""

    def __init__(self, passages: list[Passage], corpora: Sequence[CorpusConfig], name: str = "datastore"):
        self.name = name
        self.corpora = tuple(corpora)
        self.passages = passages
        self.fingerprint = fingerprint_passages(self.corpora, passages)
        self.stats: dict[str, CorpusStats] = {}

    @classmethod
    def from_corpora(cls, corpora: Sequence[CorpusConfig], name: str = "datastore") -> Datastore:
        """Read every corpus (paths may use `sample:NAME` for the bundled files)."""
        from taskexpert.data.loading import resolve_data_path

        names = [corpus.name for corpus in corpora]
        if not corpora:
            raise ConfigError("retrieval.corpora is empty: configure at least one corpus")
        if len(set(names)) != len(names):
            raise ConfigError(f"retrieval.corpora has duplicate names: {names}")
        passages: list[Passage] = []
        stats = {}
        for corpus in corpora:
            corpus_passages, stats[corpus.name] = read_corpus(corpus, resolve_data_path(corpus.path))
            passages.extend(corpus_passages)
            log.info(
                "corpus %s: %d rows -> %d passages (%d empty fields skipped)",
                corpus.name,
                stats[corpus.name].rows,
                stats[corpus.name].passages,
                stats[corpus.name].empty_fields,
            )
        store = cls(passages, corpora, name)
        store.stats = stats
        return store

    @classmethod
    def from_config(cls, retrieval_cfg: Any) -> Datastore:
        """From the `retrieval` config node: its `name` and its `corpora` mapping of name -> settings."""
        corpora_cfg = retrieval_cfg.get("corpora") or {}
        if not isinstance(corpora_cfg, Mapping):
            raise ConfigError("retrieval.corpora must be a mapping of corpus name -> settings")
        corpora = [
            CorpusConfig.from_mapping(str(name), plain_dict(settings))
            for name, settings in corpora_cfg.items()
        ]
        return cls.from_corpora(corpora, retrieval_cfg.get("name") or "datastore")

    def __len__(self) -> int:
        return len(self.passages)

    def __getitem__(self, position: int) -> Passage:
        return self.passages[position]

    def texts(self, positions: Iterable[int] | None = None) -> list[str]:
        if positions is None:
            return [passage.text for passage in self.passages]
        return [self.passages[position].text for position in positions]


def plain_dict(settings: Any) -> dict[str, Any]:
    """An OmegaConf node or a dict as a plain dict."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(settings, DictConfig):
        return OmegaConf.to_container(settings, resolve=True)  # type: ignore[return-value]
    return dict(settings)
