"""Hybrid retrieval: dense and BM25 candidates fused into one ranking.

Both sides contribute their top `depth` passages per query. `fusion`:
- `mix` (default): score = dense_weight * cosine + (1 - dense_weight) * BM25 / best BM25 of the query;
  every candidate gets both scores, so a passage found by one side only is still scored fairly.
- `rrf`: reciprocal rank fusion, score = sum over the two rankings of 1 / (rrf_k + rank); uses ranks
  only, so it ignores how far apart the scores are.
`similarity` (what the ReBase score averages) is always the `mix` formula: RRF has no pairwise score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from taskexpert.errors import ConfigError
from taskexpert.retrieval.bm25 import BM25Index
from taskexpert.retrieval.dense import DenseIndex

FUSIONS = ("mix", "rrf")
Hits = list[list[tuple[int, float]]]


@dataclass(frozen=True)
class HybridSettings:
    fusion: str = "mix"
    dense_weight: float = 0.5
    rrf_k: int = 60
    depth: int = 100

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ConfigError(f"retrieval.hybrid.fusion={self.fusion!r} is unknown: use {', '.join(FUSIONS)}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ConfigError(f"retrieval.hybrid.dense_weight must be in [0, 1], got {self.dense_weight}")


class HybridIndex:
    kind = "hybrid"

    def __init__(self, dense: DenseIndex, bm25: BM25Index, settings: HybridSettings) -> None:
        self.dense = dense
        self.bm25 = bm25
        self.settings = settings

    def __len__(self) -> int:
        return len(self.dense)

    def encode_queries(self, queries: list[str]) -> tuple[np.ndarray, list[list[str]]]:
        return self.dense.encode_queries(queries), self.bm25.encode_queries(queries)

    def search(self, encoded: tuple[np.ndarray, list[list[str]]], k: int) -> Hits:
        vectors, tokens = encoded
        depth = max(k, self.settings.depth)
        dense_hits = self.dense.search(vectors, depth)
        bm25_hits = self.bm25.search(tokens, depth)
        results: Hits = []
        for query, (dense_list, bm25_list) in enumerate(zip(dense_hits, bm25_hits, strict=True)):
            if self.settings.fusion == "rrf":
                fused = self._rrf(dense_list, bm25_list)
            else:
                positions = np.array(
                    sorted({p for p, _ in dense_list} | {p for p, _ in bm25_list}), dtype=np.int64
                )
                scores = self.similarity(_one(encoded, query), positions)[0]
                fused = dict(zip(positions.tolist(), scores.tolist(), strict=True))
            ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
            results.append([(int(p), float(s)) for p, s in ranked])
        return results

    def _rrf(self, *rankings: list[tuple[int, float]]) -> dict[int, float]:
        fused: dict[int, float] = {}
        for ranking in rankings:
            for rank, (position, _) in enumerate(ranking, start=1):
                fused[position] = fused.get(position, 0.0) + 1.0 / (self.settings.rrf_k + rank)
        return fused

    def similarity(self, encoded: tuple[np.ndarray, list[list[str]]], positions: np.ndarray) -> np.ndarray:
        vectors, tokens = encoded
        weight = self.settings.dense_weight
        return weight * self.dense.similarity(vectors, positions) + (1.0 - weight) * self.bm25.similarity(
            tokens, positions
        )


def _one(encoded: tuple[np.ndarray, list[list[str]]], query: int) -> tuple[Any, Any]:
    vectors, tokens = encoded
    return vectors[query : query + 1], tokens[query : query + 1]
