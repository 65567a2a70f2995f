"""Text as the filters and leak checks see it: one definition of a word, an n-gram and their overlap, and the
one sentence embedder (MiniLM) behind near-duplicate filtering, diversity statistics and dense retrieval.

Below augment/, data/ and retrieval/ (it imports only records and errors), so all three use the same code.
"""

from taskexpert.text.embedders import Embedder, HashingEmbedder, SentenceEmbedder
from taskexpert.text.fields import check_text_fields, default_fields, field_text, record_text
from taskexpert.text.ngrams import ngram_hashes, ngrams, normalized, words
from taskexpert.text.overlap import (
    DEFAULT_FIELDS,
    EvaluationIndex,
    Leak,
    Overlap,
    OverlapIndex,
    OverlapSettings,
    overlap_settings,
)

__all__ = [
    "DEFAULT_FIELDS",
    "default_fields",
    "Embedder",
    "EvaluationIndex",
    "HashingEmbedder",
    "Leak",
    "Overlap",
    "OverlapIndex",
    "OverlapSettings",
    "SentenceEmbedder",
    "check_text_fields",
    "field_text",
    "ngram_hashes",
    "ngrams",
    "normalized",
    "overlap_settings",
    "record_text",
    "words",
]
