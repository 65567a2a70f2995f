"""Lexical retrieval with BM25 (`bm25s`), built once per fingerprint and reused.

Scores are divided by the query's best score over the whole corpus, so they lie in [0, 1] like
cosines and can be averaged with them (hybrid search, the ReBase score). A passage sharing no
word with the query scores 0 and is never returned.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from taskexpert.errors import ConfigError
from taskexpert.retrieval.builds import cached_build, fingerprint_of
from taskexpert.retrieval.datastore import Datastore

log = logging.getLogger(__name__)

METHODS = ("robertson", "lucene", "bm25l", "bm25+", "atire")
INDEX_SUBDIR = "bm25"
Hits = list[list[tuple[int, float]]]


@dataclass(frozen=True)
class BM25Settings:
    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"
    stopwords: str | None = "en"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"retrieval.bm25.method={self.method!r} is unknown: use {', '.join(METHODS)}")


def tokenize(texts: list[str], settings: BM25Settings, as_ids: bool) -> Any:
    import bm25s

    return bm25s.tokenize(texts, stopwords=settings.stopwords, return_ids=as_ids, show_progress=False)


class BM25Index:
    """BM25 over a datastore's passages."""

    kind = "bm25"

    def __init__(self, model: Any, settings: BM25Settings, size: int) -> None:
        self.model = model
        self.settings = settings
        self.size = size

    @staticmethod
    def fingerprint(datastore: Datastore, settings: BM25Settings) -> str:
        return fingerprint_of({"datastore": datastore.fingerprint, "bm25": asdict(settings)})

    @classmethod
    def open(
        cls, datastore: Datastore, settings: BM25Settings, root: Path, keep: int = 2
    ) -> tuple[BM25Index, bool]:
        """Load the BM25 index for this datastore and settings, building it first if needed."""
        import bm25s

        def build(scratch: Path) -> dict[str, Any]:
            model = bm25s.BM25(k1=settings.k1, b=settings.b, method=settings.method)
            model.index(tokenize(datastore.texts(), settings, as_ids=True), show_progress=False)
            model.save(str(scratch / INDEX_SUBDIR), show_progress=False)
            return {
                "passages": len(datastore),
                "settings": asdict(settings),
                "datastore_fingerprint": datastore.fingerprint,
            }

        fingerprint = cls.fingerprint(datastore, settings)
        directory, built = cached_build(root, cls.kind, fingerprint, build, keep)
        log.info("bm25 index %s %s", "built in" if built else "reused from", directory)
        model = bm25s.BM25.load(str(directory / INDEX_SUBDIR), show_progress=False, verbosity=0)
        return cls(model, settings, len(datastore)), built

    def __len__(self) -> int:
        return self.size

    def encode_queries(self, queries: list[str]) -> list[list[str]]:
        return tokenize(queries, self.settings, as_ids=False)

    def _normalised_scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 of every passage for one query, divided by the best one (all 0 without a match)."""
        token_ids = self.model.get_tokens_ids(tokens)
        if not token_ids:
            return np.zeros(self.size, dtype=np.float32)
        scores = np.asarray(self.model.get_scores_from_ids(token_ids), dtype=np.float32)
        best = float(scores.max())
        return scores / best if best > 0 else np.zeros_like(scores)

    def search(self, encoded: list[list[str]], k: int) -> Hits:
        hits: Hits = []
        for tokens in encoded:
            scores = self._normalised_scores(tokens)
            count = min(k, int(np.count_nonzero(scores > 0)))
            if count <= 0:
                hits.append([])
                continue
            top = np.argpartition(-scores, count - 1)[:count]
            top = top[np.lexsort((top, -scores[top]))]  # best first; ties by position, for stable output
            hits.append([(int(p), float(scores[p])) for p in top])
        return hits

    def similarity(self, encoded: list[list[str]], positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        return (
            np.stack([self._normalised_scores(tokens)[positions] for tokens in encoded])
            if encoded
            else (np.zeros((0, len(positions)), dtype=np.float32))
        )
