"""Diversity statistics of a set of records: distinct-1/2 and mean pairwise embedding similarity.

distinct-n = distinct word n-grams / all word n-grams over the set (higher = more varied wording).
Mean pairwise cosine = average MiniLM similarity over all pairs of different records (lower = more varied
content); at most `max_items` records, drawn reproducibly, enter it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from taskexpert.records import QARecord
from taskexpert.text import ngrams, record_text, words


def distinct_n(texts: Sequence[str], n: int) -> float | None:
    total, distinct = 0, set()
    for text in texts:
        grams = ngrams(words(text), n)
        total += len(grams)
        distinct.update(grams)
    return round(len(distinct) / total, 4) if total else None


def mean_pairwise_cosine(vectors) -> float | None:
    """Mean cosine over pairs i != j of unit-length rows: (|sum v|^2 - n) / (n (n - 1))."""
    count = len(vectors)
    if count < 2:
        return None
    total = vectors.sum(axis=0)
    return round(float((total @ total - count) / (count * (count - 1))), 4)


def diversity_stats(
    records: Sequence[QARecord],
    fields: Sequence[str] = ("question",),
    embedder=None,
    max_items: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    texts = [record_text(record, fields) for record in records]
    stats: dict[str, Any] = {
        "items": len(texts),
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
    }
    if embedder is not None:
        sample = texts if len(texts) <= max_items else random.Random(seed).sample(texts, max_items)
        stats["mean_pairwise_cosine"] = (
            mean_pairwise_cosine(embedder.encode(sample)) if len(sample) > 1 else None
        )
    return stats
