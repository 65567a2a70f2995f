"""Contamination guard: drop a generated record that shares too many word n-grams with an evaluation item.

Overlap of a candidate with one evaluation item = the fraction of the candidate's distinct n-grams that
also occur in that item; the candidate is dropped when its largest overlap with any validation or test item
exceeds the threshold. A candidate shorter than n words has no n-grams and cannot be judged (kept).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from taskexpert.augment.filters import Dropped
from taskexpert.augment.text import ngrams, record_text, words
from taskexpert.errors import ConfigError
from taskexpert.records import Record


class ContaminationGuard:
    name = "contamination"

    def __init__(
        self,
        evaluation: Sequence[Record],
        n: int = 8,
        threshold: float = 0.2,
        fields: Sequence[str] = ("question", "context"),
    ) -> None:
        if n < 1:
            raise ConfigError(f"filters.contamination.ngram={n} must be >= 1")
        if not 0 <= threshold < 1:
            raise ConfigError(f"filters.contamination.threshold={threshold} must be in [0, 1)")
        self.n = n
        self.threshold = threshold
        self.fields = tuple(fields)
        self._index: dict[tuple[str, ...], list[int]] = {}  # n-gram -> evaluation items holding it
        self._ids: list[str] = []
        for record in evaluation:
            position = len(self._ids)
            self._ids.append(record.id)
            for gram in set(ngrams(words(record_text(record, self.fields)), n)):
                self._index.setdefault(gram, []).append(position)

    def overlap(self, record: Record) -> tuple[float, str | None]:
        """(largest overlap fraction, id of that evaluation item) for one candidate."""
        grams = set(ngrams(words(record_text(record, self.fields)), self.n))
        if not grams:
            return 0.0, None
        shared: Counter = Counter()
        for gram in grams:
            shared.update(self._index.get(gram, ()))
        if not shared:
            return 0.0, None
        position, count = shared.most_common(1)[0]
        return count / len(grams), self._ids[position]

    def apply(self, records: list[Record]) -> tuple[list[Record], list[Dropped]]:
        kept, dropped = [], []
        for record in records:
            fraction, evaluation_id = self.overlap(record)
            if fraction > self.threshold:
                detail = f"{fraction:.2f} of its {self.n}-grams are in evaluation item {evaluation_id}"
                dropped.append(Dropped(record, "contamination", detail))
            else:
                kept.append(record)
        return kept, dropped
