"""One definition of a word and of a word n-gram, used by dedup, the contamination guard, ReBase's passage
exclusion, the training-time leak check and the diversity statistics.

A word is a run of letters/digits, with inner hyphens, apostrophes and dots kept ("30-day", "p=0.003" ->
"p", "0.003"), after Unicode NFKC normalisation and lower-casing; punctuation and whitespace only separate.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_WORD = re.compile(r"\w+(?:[-'.]\w+)*")


def words(text: str) -> list[str]:
    """Lower-cased words, punctuation dropped, Unicode-normalised (NFKC)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def normalized(text: str) -> str:
    """The text as a canonical string: exact duplicates after normalisation compare equal."""
    return " ".join(words(text))


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The word n-grams of `tokens` in order (none when there are fewer than n words)."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def ngram_hashes(tokens: Sequence[str], n: int) -> set[int]:
    """The distinct n-grams of `tokens` as hashes: sets of these are what overlap is counted on.

    Python's hash of a tuple of strings is 64 bits (collisions are negligible at any data size here) and
    salted per process, so the sets are built and compared in the same process, never stored.
    """
    shifted = (tokens[offset:] for offset in range(n))  # zip builds the n-gram tuples in C
    return set(map(hash, zip(*shifted, strict=False)))  # zip stops at the shortest: the last n-gram
