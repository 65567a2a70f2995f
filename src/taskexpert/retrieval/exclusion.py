"""Keep evaluation data out of retrieved training data.

A passage is excluded when
- `evaluation_overlap`: it shares word n-grams with an evaluation text (a validation or test
  record's question, context or long answer) at or beyond `max_overlap` (default 0.2), in either
  direction: that share of the passage's n-grams occurs in the evaluation texts, or that share of
  one evaluation text's n-grams occurs in the passage. This catches copies, excerpts and passages
  that quote a test item's question or conclusion; 8-word matches outside copying are rare;
- `near_duplicate`: its vector has cosine >= `near_duplicate_cosine` with an evaluation text
  (contexts cut into `chunk_words`-word pieces); this catches light paraphrases and edits. The
  vectors are the dense index's embeddings (dense, hybrid); with BM25 alone they are word counts
  (a hashing embedder), which catch edited copies but not paraphrases in other words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from taskexpert.errors import ConfigError
from taskexpert.records import Record
from taskexpert.retrieval.dense import DenseIndex
from taskexpert.retrieval.embedders import HashingEmbedder
from taskexpert.retrieval.passages import split_words

_WORD = re.compile(r"\w+")
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

    def __post_init__(self) -> None:
        if self.ngram < 1:
            raise ConfigError(f"retrieval.select.exclude.ngram must be at least 1, got {self.ngram}")
        if not 0.0 < self.max_overlap <= 1.0:
            raise ConfigError(
                f"retrieval.select.exclude.max_overlap must be in (0, 1], got {self.max_overlap}"
            )


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def evaluation_texts(records: Iterable[Record], include_long_answers: bool = True) -> list[str]:
    texts = []
    for record in records:
        texts.extend(record.inputs.values())
        if include_long_answers and record.reference:
            texts.append(record.reference)
    return [text for text in texts if text and text.strip()]


class EvaluationFilter:
    """Decides, per datastore passage, whether it is too close to the evaluation data."""

    def __init__(
        self, evaluation_records: Sequence[Record], settings: ExclusionSettings, dense: DenseIndex | None
    ) -> None:
        self.settings = settings
        embed, self._passage_vectors = _vector_source(dense)
        texts = evaluation_texts(evaluation_records, settings.include_long_answers)
        n = settings.ngram
        self._owners: dict[tuple[str, ...], set[int]] = {}  # n-gram -> evaluation texts holding it
        self._sizes: list[int] = []  # distinct n-grams per evaluation text
        self._short: list[str] = []  # evaluation texts shorter than n words, matched as phrases
        for text_index, text in enumerate(texts):
            words = words_of(text)
            grams = _ngrams(words, n)
            self._sizes.append(len(grams))
            for gram in grams:
                self._owners.setdefault(gram, set()).add(text_index)
            if 0 < len(words) < n:
                self._short.append(" ".join(words))
        # All evaluation texts, normalised: passages shorter than n words are looked up in it.
        self._joined = " | ".join(" ".join(words_of(text)) for text in texts)
        self._vectors = None
        if settings.near_duplicate_cosine is not None and texts:
            pieces = []
            for text in texts:
                pieces.extend(split_words(text, settings.chunk_words, settings.chunk_words // 4))
            self._vectors = _unit(embed(pieces))

    def overlap(self, text: str) -> float:
        """Largest n-gram containment between `text` and the evaluation texts, either direction."""
        words = words_of(text)
        if not words:
            return 0.0
        normalised = " ".join(words)
        if any(f" {phrase} " in f" {normalised} " for phrase in self._short):
            return 1.0
        grams = _ngrams(words, self.settings.ngram)
        if not grams:  # shorter than one n-gram: is the whole passage inside an evaluation text?
            return 1.0 if f" {normalised} " in f" {self._joined} " else 0.0
        shared_per_text: dict[int, int] = {}
        shared = 0
        for gram in grams:
            owners = self._owners.get(gram)
            if owners:
                shared += 1
                for owner in owners:
                    shared_per_text[owner] = shared_per_text.get(owner, 0) + 1
        evaluation_in_passage = max(
            (count / self._sizes[owner] for owner, count in shared_per_text.items()), default=0.0
        )
        return max(shared / len(grams), evaluation_in_passage)

    def reasons(self, positions: Sequence[int], texts: Sequence[str]) -> dict[int, str]:
        """`position -> reason` for the excluded ones among these passages (texts in the same order)."""
        excluded = {
            position: EVALUATION_OVERLAP
            for position, text in zip(positions, texts, strict=True)
            if self.overlap(text) >= self.settings.max_overlap
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


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
