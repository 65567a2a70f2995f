"""Deduplication against the seeds and everything kept so far: exact (normalised text) and near duplicates.

Near duplicates are found either by ROUGE-L (F-measure of the longest common subsequence of words; LLM2LLM
drops a generated example whose ROUGE-L with any other is >= 0.95) or by the cosine similarity of MiniLM
sentence embeddings. The filter is stateful: use one instance across rounds to dedup across them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from taskexpert.augment.filters import Dropped
from taskexpert.errors import ConfigError
from taskexpert.records import QARecord
from taskexpert.text import normalized, record_text, words

NEAR_METHODS = ("rouge_l", "embedding", "none")


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, two rows)."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for item in a:
        current = [0]
        for j, other in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if item == other else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l_f(candidate: Sequence[str], reference: Sequence[str]) -> float:
    """ROUGE-L F1 between two word sequences: 2PR/(P+R) with P = LCS/|candidate|, R = LCS/|reference|."""
    if not candidate or not reference:
        return 0.0
    lcs = lcs_length(candidate, reference)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(candidate), lcs / len(reference)
    return 2 * precision * recall / (precision + recall)


class Deduplicator:
    """Keeps a record only if it is neither an exact nor a near duplicate of a reference or of a kept record."""

    name = "dedup"

    def __init__(
        self,
        fields: Sequence[str] = ("question",),
        near: str = "rouge_l",
        threshold: float = 0.95,
        embedder=None,
    ) -> None:
        if near not in NEAR_METHODS:
            raise ConfigError(f"filters.dedup.near={near!r} is unknown: use one of {', '.join(NEAR_METHODS)}")
        if near == "embedding" and embedder is None:
            raise ConfigError("filters.dedup.near=embedding needs the sentence embedder")
        if not 0 < threshold <= 1:
            raise ConfigError(f"filters.dedup.threshold={threshold} must be in (0, 1]")
        self.fields = tuple(fields)
        self.near = near
        self.threshold = threshold
        self.embedder = embedder
        self._exact: dict[str, str] = {}  # normalised text -> id of the first record with it
        self._ids: list[str] = []  # per remembered record, in order
        self._word_lists: list[list[str]] = []
        # word -> [(remembered index, count)]: bounds ROUGE-L before any LCS is computed
        self._postings: dict[str, list[tuple[int, int]]] = {}
        self._embeddings = None  # numpy [n, d], unit rows, aligned with _ids

    def add_references(self, records: Sequence[QARecord]) -> None:
        """Records to dedup against that are not candidates themselves (the seeds)."""
        texts = [record_text(record, self.fields) for record in records]
        vectors = self.embedder.encode(texts) if self.near == "embedding" and texts else None
        for index, (record, text) in enumerate(zip(records, texts, strict=True)):
            self._remember(record.id, text, None if vectors is None else vectors[index : index + 1])

    def _remember(self, record_id: str, text: str, vector) -> None:
        self._exact.setdefault(normalized(text), record_id)
        self._ids.append(record_id)
        if self.near == "rouge_l":
            tokens = words(text)
            for word, count in Counter(tokens).items():
                self._postings.setdefault(word, []).append((len(self._word_lists), count))
            self._word_lists.append(tokens)
        if vector is not None:
            import numpy as np

            self._embeddings = vector if self._embeddings is None else np.vstack([self._embeddings, vector])

    def _rouge_candidates(self, tokens: list[str]) -> list[int]:
        """Remembered records that can reach the threshold: the LCS is at most the multiset overlap of words,
        so F <= 2 * overlap / (m + n); only those above the threshold get the quadratic LCS."""
        shared: Counter = Counter()
        for word, count in Counter(tokens).items():
            for index, other_count in self._postings.get(word, ()):
                shared[index] += min(count, other_count)
        size = len(tokens)
        return [
            index
            for index, overlap in sorted(shared.items())
            if 2 * overlap / (size + len(self._word_lists[index])) >= self.threshold
        ]

    def _near_duplicate(self, text: str, vector) -> tuple[str, float] | None:
        """(id, similarity) of the first remembered record at or above the threshold, if any."""
        if self.near == "rouge_l":
            tokens = words(text)
            for index in self._rouge_candidates(tokens):
                score = rouge_l_f(tokens, self._word_lists[index])
                if score >= self.threshold:
                    return self._ids[index], score
        elif vector is not None and self._embeddings is not None:
            similarities = self._embeddings @ vector
            best = int(similarities.argmax())
            if float(similarities[best]) >= self.threshold:
                return self._ids[best], float(similarities[best])
        return None

    def apply(self, records: list[QARecord]) -> tuple[list[QARecord], list[Dropped]]:
        """Keep, in order, each record that duplicates nothing before it."""
        kept: list[QARecord] = []
        dropped: list[Dropped] = []
        texts = [record_text(record, self.fields) for record in records]
        vectors = self.embedder.encode(texts) if self.near == "embedding" and texts else None
        for index, (record, text) in enumerate(zip(records, texts, strict=True)):
            vector = None if vectors is None else vectors[index]
            same = self._exact.get(normalized(text))
            if same is not None:
                dropped.append(Dropped(record, "duplicate_exact", f"same {'+'.join(self.fields)} as {same}"))
                continue
            near = self._near_duplicate(text, vector)
            if near is not None:
                measure = "ROUGE-L F" if self.near == "rouge_l" else "cosine"
                dropped.append(Dropped(record, "duplicate_near", f"{measure} {near[1]:.3f} with {near[0]}"))
                continue
            kept.append(record)
            self._remember(record.id, text, None if vector is None else vector[None, :])
        return kept, dropped
