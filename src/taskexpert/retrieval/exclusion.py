"""Keep evaluation data out of retrieved training data.

A passage is excluded when
- `evaluation_overlap`: it overlaps an evaluation text (a validation or test record's question,
  context or long answer) as the contamination guard and the training-time leak check measure it
  (taskexpert.text.overlap, the same words and n-grams), with `max_overlap` (default 0.2) for both
  directions: that share of the passage's n-grams occurs in the evaluation texts, or the passage holds
  that share of one evaluation text's n-grams. Evaluation texts shorter than `ngram` words are found
  word for word (when at least `min_phrase_words` long) and passages that short are compared whole.
  This catches copies, excerpts and passages that quote a test item's question or conclusion; 8-word
  matches outside copying are rare;
- `near_duplicate`: its vector has cosine >= `near_duplicate_cosine` with an evaluation text
  (contexts cut into `chunk_words`-word pieces); this catches light paraphrases and edits. The
  vectors are the dense index's embeddings (dense, hybrid); with BM25 alone they are word counts
  (a hashing embedder), which catch edited copies but not paraphrases in other words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from taskexpert.records import Record
from taskexpert.retrieval.dense import DenseIndex
from taskexpert.retrieval.passages import split_words
from taskexpert.text import HashingEmbedder, OverlapIndex, OverlapSettings, default_fields, field_text

_WORD_COUNT_DIMENSION = 4096  # buckets of the word-count vectors used without a dense index
EVALUATION_OVERLAP = "evaluation_overlap"
NEAR_DUPLICATE = "near_duplicate"


@dataclass(frozen=True)
class ExclusionSettings:
    ngram: int = 8
    max_overlap: float = 0.2
    near_duplicate_cosine: float | None = 0.9
    chunk_words: int = 128
    include_long_answers: bool = True
    min_phrase_words: int = 4

    def __post_init__(self) -> None:
        self.overlap_settings()  # a bad ngram, max_overlap or min_phrase_words fails here

    def overlap_settings(self) -> OverlapSettings:
        """The shared overlap measure with `max_overlap` as the threshold of both directions."""
        settings = OverlapSettings(self.ngram, self.max_overlap, self.max_overlap, self.min_phrase_words)
        return settings.check("retrieval.select.exclude")


def evaluation_fields(record: Record, include_long_answers: bool = True) -> tuple[str, ...]:
    """An evaluation record's input fields, and its reference (the long answer) when asked."""
    return default_fields(record) if include_long_answers else tuple(record.inputs)


def evaluation_texts(records: Iterable[Record], include_long_answers: bool = True) -> list[str]:
    texts = [
        field_text(record, name)
        for record in records
        for name in evaluation_fields(record, include_long_answers)
    ]
    return [text for text in texts if text.strip()]


class EvaluationFilter:
    """Decides, per datastore passage, whether it is too close to the evaluation data."""

    def __init__(
        self, evaluation_records: Sequence[Record], settings: ExclusionSettings, dense: DenseIndex | None
    ) -> None:
        self.settings = settings
        embed, self._passage_vectors = _vector_source(dense)
        self._index = OverlapIndex(settings.overlap_settings())
        for record in evaluation_records:
            for name in evaluation_fields(record, settings.include_long_answers):
                self._index.add(record.id, name, field_text(record, name))
        texts = evaluation_texts(evaluation_records, settings.include_long_answers)
        self._vectors = None
        if settings.near_duplicate_cosine is not None and texts:
            pieces = []
            for text in texts:
                pieces.extend(split_words(text, settings.chunk_words, settings.chunk_words // 4))
            self._vectors = _unit(embed(pieces))

    def overlap(self, text: str) -> float:
        """How much `text` overlaps the evaluation texts, either direction (1.0: equal or quoted whole)."""
        return self._index.score(text)

    def overlaps(self, text: str) -> bool:
        return self._index.find(text) is not None

    def reasons(self, positions: Sequence[int], texts: Sequence[str]) -> dict[int, str]:
        """`position -> reason` for the excluded ones among these passages (texts in the same order)."""
        excluded = {
            position: EVALUATION_OVERLAP
            for position, text in zip(positions, texts, strict=True)
            if self.overlaps(text)
        }
        if self._vectors is not None and len(positions):
            kept = [(p, text) for p, text in zip(positions, texts, strict=True) if p not in excluded]
            remaining = np.array([p for p, _ in kept], dtype=np.int64)
            if len(remaining):
                vectors = self._passage_vectors(remaining, [text for _, text in kept])
                cosines = _unit(vectors) @ self._vectors.T
                closest = cosines.max(axis=1)
                for position, cosine in zip(remaining.tolist(), closest.tolist(), strict=True):
                    if cosine >= self.settings.near_duplicate_cosine:
                        excluded[position] = NEAR_DUPLICATE
        return excluded


def _vector_source(
    dense: DenseIndex | None,
) -> tuple[Callable[[list[str]], np.ndarray], Callable[[np.ndarray, list[str]], np.ndarray]]:
    """How to embed evaluation texts, and how to get passage vectors (stored ones when indexed)."""
    if dense is not None:
        return dense.embedder.encode, lambda positions, texts: dense.vectors(positions)
    word_counts = HashingEmbedder(dimension=_WORD_COUNT_DIMENSION, bigrams=False)
    return word_counts.encode, lambda positions, texts: word_counts.encode(texts)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
