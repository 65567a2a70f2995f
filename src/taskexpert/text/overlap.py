"""Overlap of a text with evaluation texts, on hashed word n-gram sets, in both directions.

An index holds evaluation texts, each owned by an evaluation item and one of its fields. A text overlaps them when
(the rules are tried in this order and the first that holds is reported)
- `equal`: it is, after normalisation, an evaluation text shorter than n words. A text shorter than n words has
  no n-grams, so this is the only way it can overlap: short texts on both sides are compared whole;
- `phrase`: an evaluation text shorter than n words, of at least `min_phrase_words` words, occurs in it word
  for word;
- `contained`: it holds at least `contained_share` of one evaluation text's distinct n-grams (a copied question,
  even inside a long fresh text);
- `own`: at least `own_share` of its own distinct n-grams occur in evaluation texts (a text mostly made of
  evaluation text, even if it copies only part of a long one); the item sharing most is named.
Words and n-grams are those of taskexpert.text.ngrams.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from taskexpert.errors import ConfigError
from taskexpert.records import Record
from taskexpert.text.fields import check_text_fields, default_fields, field_text
from taskexpert.text.ngrams import ngram_hashes, words

DEFAULT_FIELDS = None  # each record's input fields, reference, rationale and target (see EvaluationIndex)
# an evaluation item's label or short answer is shared by design: compared on the record's side, never indexed
RECORD_SIDE_ONLY = ("target", "label")


@dataclass(frozen=True)
class OverlapSettings:
    ngram: int = 8
    own_share: float = 0.2
    contained_share: float = 0.5
    min_phrase_words: int = 4

    def check(self, key: str) -> OverlapSettings:
        """Self, or a ConfigError naming the config key `key` of the bad value."""
        if self.ngram < 1:
            raise ConfigError(f"{key}.ngram={self.ngram} must be >= 1")
        for name in ("own_share", "contained_share"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ConfigError(f"{key}.{name}={value} must be in (0, 1]")
        if self.min_phrase_words < 1:
            raise ConfigError(f"{key}.min_phrase_words={self.min_phrase_words} must be >= 1")
        return self


def overlap_settings(values: Mapping[str, Any] | None, key: str) -> OverlapSettings:
    """OverlapSettings from a config mapping; keys it does not know (fields, switches) are left to the caller."""
    given = dict(values or {})
    types = {item.name: int if item.type == "int" else float for item in fields(OverlapSettings)}
    values_given = {}
    for name, kind in types.items():
        if name in given:
            try:
                values_given[name] = kind(given[name])
            except (TypeError, ValueError):
                raise ConfigError(f"{key}.{name}={given[name]!r} is not a number") from None
    return OverlapSettings(**values_given).check(key)


@dataclass(frozen=True)
class Overlap:
    """Why a text overlaps evaluation text: the rule, its measure, and the evaluation item and field."""

    kind: str  # equal | phrase | contained | own
    share: float  # contained/own: the share measured; equal/phrase: 1.0
    item_id: str
    item_field: str
    ngram: int

    def describe(self) -> str:
        target = f"evaluation item {self.item_id}'s {self.item_field}"
        if self.kind == "equal":
            return f"equals {target}"
        if self.kind == "phrase":
            return f"contains {target} word for word"
        if self.kind == "contained":
            return f"holds {self.share:.2f} of the {self.ngram}-grams of {target}"
        return (
            f"has {self.share:.2f} of its {self.ngram}-grams in evaluation text (most shared with {target})"
        )


class OverlapIndex:
    """Hashed n-gram sets of evaluation texts, built once, asked about many texts."""

    def __init__(self, settings: OverlapSettings | None = None) -> None:
        self.settings = settings or OverlapSettings()
        self._owners: dict[int, list[int]] = {}  # n-gram hash -> evaluation texts holding it
        self._sources: list[tuple[str, str]] = []  # (item id, field) per evaluation text
        self._sizes: list[int] = []  # distinct n-grams per evaluation text (0 when shorter than n)
        self._short: dict[int, dict[int, int]] = {}  # word count k < n -> hash of the k words -> text

    def __len__(self) -> int:
        return len(self._sources)

    def add(self, item_id: str, field: str, text: str) -> None:
        """Index one evaluation text (empty texts are skipped)."""
        tokens = words(text)
        if not tokens:
            return
        source = len(self._sources)
        self._sources.append((item_id, field))
        n = self.settings.ngram
        if len(tokens) < n:
            self._short.setdefault(len(tokens), {}).setdefault(hash(tuple(tokens)), source)
            self._sizes.append(0)
            return
        grams = ngram_hashes(tokens, n)
        self._sizes.append(len(grams))
        for gram in grams:
            self._owners.setdefault(gram, []).append(source)

    def _overlap(self, kind: str, share: float, source: int) -> Overlap:
        item_id, field = self._sources[source]
        return Overlap(kind, share, item_id, field, self.settings.ngram)

    def _short_match(self, tokens: Sequence[str]) -> Overlap | None:
        """An indexed short evaluation text equal to the text, or inside it as a phrase."""
        exact = self._short.get(len(tokens), {}).get(hash(tuple(tokens)))
        if exact is not None:
            return self._overlap("equal", 1.0, exact)
        for length, phrases in sorted(self._short.items()):
            if self.settings.min_phrase_words <= length < len(tokens):
                for gram in ngram_hashes(tokens, length):
                    if gram in phrases:
                        return self._overlap("phrase", 1.0, phrases[gram])
        return None

    def score(self, text: str) -> float:
        """How much the text overlaps, whatever the thresholds: 1.0 for an equal or phrase match, else the
        larger of its own share and its best contained share (0.0 when it has no n-grams)."""
        tokens = words(text)
        if not tokens:
            return 0.0
        if self._short_match(tokens) is not None:
            return 1.0
        own, contained, _, _ = self._shares(ngram_hashes(tokens, self.settings.ngram))
        return max(own, contained)

    def shares(self, text: str) -> tuple[float, float]:
        """(share of the text's n-grams found in evaluation texts, largest share of one evaluation text's
        n-grams found in the text); (0.0, 0.0) when the text has no n-grams."""
        own, contained, _, _ = self._shares(ngram_hashes(words(text), self.settings.ngram))
        return own, contained

    def _shares(self, grams: set[int]) -> tuple[float, float, int, int]:
        """(own share, best contained share, source sharing most, source with the best contained share)."""
        common = self._owners.keys() & grams  # intersected in C; usually empty or small
        if not common:
            return 0.0, 0.0, -1, -1
        shared = len(common)
        per_source: Counter = Counter()
        for gram in common:
            per_source.update(self._owners[gram])
        most_shared = per_source.most_common(1)[0][0]
        contained, best = max((count / self._sizes[source], source) for source, count in per_source.items())
        return shared / len(grams), contained, most_shared, best

    def find(self, text: str) -> Overlap | None:
        """The first overlap rule the text meets (equal, phrase, contained, own), or None."""
        tokens = words(text)
        if not tokens:
            return None
        short = self._short_match(tokens)
        if short is not None:
            return short
        grams = ngram_hashes(tokens, self.settings.ngram)
        if not grams:
            return None
        own, contained, most_shared, best = self._shares(grams)
        if contained >= self.settings.contained_share:
            return self._overlap("contained", contained, best)
        if own >= self.settings.own_share:
            return self._overlap("own", own, most_shared)
        return None


@dataclass(frozen=True)
class Leak:
    """A record field that overlaps evaluation text."""

    record_id: str
    field: str
    overlap: Overlap

    def describe(self) -> str:
        return f"{self.field} {self.overlap.describe()}"


class EvaluationIndex:
    """The evaluation (validation + test) items of one split, indexed field by field, built once.

    Every field in `fields` of a record is compared with every field in `fields` of every evaluation item,
    so a context quoting a test question is caught as well as a copied question. `target` is compared on the
    record's side only: evaluation items' labels and short answers are shared by design (every record of a label
    would equal every item of that label), while a record whose target copies an item's text is a leak. Fields None: a record's
    inputs, reference, rationale and target against each item's inputs, reference and rationale.
    """

    def __init__(
        self,
        evaluation: Iterable[Record],
        fields: Sequence[str] | None = DEFAULT_FIELDS,
        settings: OverlapSettings | None = None,
        key: str = "data.leak_check",
    ) -> None:
        evaluation = list(evaluation)
        self.fields = check_text_fields(fields, f"{key}.fields", evaluation)
        self.settings = (settings or OverlapSettings()).check(key)
        self.index = OverlapIndex(self.settings)
        for record in evaluation:
            for name in self._indexed_fields(record):
                self.index.add(record.id, name, field_text(record, name))

    def _indexed_fields(self, item: Record) -> tuple[str, ...]:
        names = self.fields if self.fields is not None else (*default_fields(item), "rationale")
        return tuple(name for name in names if name not in RECORD_SIDE_ONLY)

    def _compared_fields(self, record: Record) -> tuple[str, ...]:
        return self.fields if self.fields is not None else (*default_fields(record), "rationale", "target")

    def find(self, record: Record) -> Leak | None:
        """The first field of the record that overlaps evaluation text, or None."""
        for name in self._compared_fields(record):
            overlap = self.index.find(field_text(record, name))
            if overlap is not None:
                return Leak(record.id, name, overlap)
        return None
