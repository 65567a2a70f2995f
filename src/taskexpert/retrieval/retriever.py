"""The retriever: a datastore plus a dense, BM25 or hybrid index over it, opened from config."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from taskexpert.errors import ConfigError
from taskexpert.retrieval.bm25 import BM25Index, BM25Settings
from taskexpert.retrieval.datastore import Datastore, plain_dict
from taskexpert.retrieval.dense import DenseIndex, DenseSettings
from taskexpert.retrieval.hybrid import HybridIndex, HybridSettings
from taskexpert.retrieval.passages import Passage
from taskexpert.text.embedders import Embedder

log = logging.getLogger(__name__)

BACKENDS = ("dense", "bm25", "hybrid")


@dataclass(frozen=True)
class SearchHit:
    """One search result: the passage, its position in the datastore, and its score (higher is better)."""

    passage: Passage
    position: int
    score: float


def default_index_dir(datastore_name: str) -> Path:
    from taskexpert.models.cache_dir import cache_root

    return cache_root() / "retrieval" / datastore_name


class Retriever:
    """Search a datastore by text. `index` is a DenseIndex, BM25Index or HybridIndex."""

    def __init__(self, datastore: Datastore, index: Any, built: dict[str, bool] | None = None) -> None:
        self.datastore = datastore
        self.index = index
        self.built = built or {}  # index kind -> True if this run built it, False if it was reused

    @classmethod
    def open(
        cls,
        datastore: Datastore,
        backend: str = "dense",
        embedder: Embedder | None = None,
        dense: DenseSettings | None = None,
        bm25: BM25Settings | None = None,
        hybrid: HybridSettings | None = None,
        index_dir: str | Path | None = None,
        keep_builds: int = 2,
    ) -> Retriever:
        """Load (or build once) the indexes `backend` needs, under `index_dir`."""
        if backend not in BACKENDS:
            raise ConfigError(f"retrieval.backend={backend!r} is unknown: use one of {', '.join(BACKENDS)}")
        root = Path(index_dir).expanduser() if index_dir else default_index_dir(datastore.name)
        built: dict[str, bool] = {}
        started = time.perf_counter()
        dense_index = bm25_index = None
        if backend in ("dense", "hybrid"):
            if embedder is None:
                raise ConfigError(f"retrieval.backend={backend} needs an embedder (retrieval.dense.embedder)")
            dense_index, built["dense"] = DenseIndex.open(
                datastore, embedder, dense or DenseSettings(), root, keep_builds
            )
        if backend in ("bm25", "hybrid"):
            bm25_index, built["bm25"] = BM25Index.open(datastore, bm25 or BM25Settings(), root, keep_builds)
        if backend == "hybrid":
            index: Any = HybridIndex(dense_index, bm25_index, hybrid or HybridSettings())
        else:
            index = dense_index if backend == "dense" else bm25_index
        log.info(
            "retriever %s over %d passages ready in %.1fs (%s)",
            backend,
            len(datastore),
            time.perf_counter() - started,
            ", ".join(f"{kind} {'built' if fresh else 'reused'}" for kind, fresh in built.items()),
        )
        return cls(datastore, index, built)

    @classmethod
    def from_config(
        cls, retrieval_cfg: Any, embedder: Embedder | None = None, datastore: Datastore | None = None
    ) -> Retriever:
        """From the `retrieval` config node (conf/retrieval/*.yaml).

        `embedder` replaces the configured one (e.g. a wrapped or already loaded model);
        `datastore` skips reading the corpora again.
        """
        backend = retrieval_cfg.get("backend", "dense")
        if datastore is None:
            datastore = Datastore.from_config(retrieval_cfg)
        dense_cfg = plain_dict(retrieval_cfg.get("dense") or {})
        embedder_cfg = dense_cfg.pop("embedder", None)
        if embedder is None and backend in ("dense", "hybrid"):
            if not embedder_cfg:
                raise ConfigError(
                    "retrieval.dense.embedder is not set: give it a _target_ (see conf/retrieval)"
                )
            from hydra.utils import instantiate

            embedder = instantiate(embedder_cfg)
        return cls.open(
            datastore,
            backend,
            embedder,
            dense=settings_from(DenseSettings, dense_cfg, "retrieval.dense"),
            bm25=settings_from(BM25Settings, retrieval_cfg.get("bm25") or {}, "retrieval.bm25"),
            hybrid=settings_from(HybridSettings, retrieval_cfg.get("hybrid") or {}, "retrieval.hybrid"),
            index_dir=retrieval_cfg.get("index_dir"),
            keep_builds=int(retrieval_cfg.get("keep_builds", 2)),
        )

    @property
    def dense(self) -> DenseIndex | None:
        """The dense part, if any: used to embed texts for near-duplicate checks."""
        if isinstance(self.index, DenseIndex):
            return self.index
        return self.index.dense if isinstance(self.index, HybridIndex) else None

    def search(self, queries: list[str], k: int) -> list[list[SearchHit]]:
        """The k best passages for each query, best first."""
        if isinstance(queries, str):
            raise TypeError("search() takes a list of queries; wrap a single query in a list")
        hits = self.index.search(self.index.encode_queries(list(queries)), k)
        return [
            [SearchHit(self.datastore[position], position, score) for position, score in query_hits]
            for query_hits in hits
        ]


def settings_from(settings_class: type, values: Any, where: str) -> Any:
    """A settings dataclass from a config mapping; unknown keys are errors, not silently ignored."""
    values = plain_dict(values)
    known = {field.name for field in fields(settings_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]} is not a setting: known settings are {', '.join(sorted(known))}"
        )
    return settings_class(**values)
