"""Quality filters: ROUGE-L and embedding dedup, diversity statistics (the contamination guard: test_contamination.py)."""

from __future__ import annotations

import numpy as np
import pytest
from data_fixtures import qa_record

from taskexpert.augment.dedup import Deduplicator, lcs_length, rouge_l_f
from taskexpert.augment.diversity import distinct_n, diversity_stats, mean_pairwise_cosine
from taskexpert.errors import ConfigError
from taskexpert.text.embedders import SentenceEmbedder


def record(record_id: str, question: str, context: str = "A context.", label: str = "yes") -> qa_record:
    return qa_record(id=record_id, question=question, context=context, label=label, source="rewrite")


def test_lcs_and_rouge_l_by_hand():
    assert lcs_length(["a", "b", "c", "d", "e"], ["a", "x", "c", "y", "e"]) == 3
    # LCS 3 of 5 and of 4 words: P = 3/5, R = 3/4, F = 2PR/(P+R) = 2/3
    assert rouge_l_f(["a", "b", "c", "d", "e"], ["a", "c", "e", "f"]) == pytest.approx(2 / 3)
    assert rouge_l_f([], ["a"]) == 0.0 and rouge_l_f(["a"], ["a"]) == 1.0


def test_exact_and_near_duplicates_of_seeds_and_of_each_other_are_dropped():
    seed = record("seed", "Does daily aspirin lower the risk of stroke in adults over sixty years of age?")
    dedup = Deduplicator(fields=["question"], near="rouge_l", threshold=0.95)
    dedup.add_references([seed])
    candidates = [
        record("a", "does daily ASPIRIN lower the risk of stroke in adults over sixty years of age"),  # exact
        # all 15 seed words in order among 16: P = 15/16, R = 1, ROUGE-L F = 0.968 >= 0.95
        record("b", "Does daily aspirin lower the risk of stroke in adults over sixty years of age today?"),
        record("c", "Is a walking programme useful for knee pain in older women?"),  # new
        record("d", "Is a walking programme useful for knee pain in older women?"),  # copies c
        record("e", "Does daily aspirin change anything about stroke for people over sixty?"),  # far enough
    ]
    kept, dropped = dedup.apply(candidates)
    assert [r.id for r in kept] == ["c", "e"]
    assert [(d.record.id, d.reason) for d in dropped] == [
        ("a", "duplicate_exact"),
        ("b", "duplicate_near"),
        ("d", "duplicate_exact"),
    ]
    assert "seed" in dropped[1].detail and "c" in dropped[2].detail


def test_near_duplicate_threshold_is_configurable_and_checked():
    loose = Deduplicator(near="rouge_l", threshold=0.5)
    loose.add_references([record("s", "one two three four")])
    kept, dropped = loose.apply([record("x", "one two three five six")])  # F = 2*(3/5*3/4)/(3/5+3/4) = 0.667
    assert kept == [] and dropped[0].reason == "duplicate_near"
    with pytest.raises(ConfigError, match="near='cosine'"):
        Deduplicator(near="cosine")


def test_embedding_dedup_with_minilm_catches_paraphrases():
    dedup = Deduplicator(near="embedding", threshold=0.9, embedder=SentenceEmbedder())
    dedup.add_references([record("s", "Does aspirin reduce the risk of stroke?")])
    kept, dropped = dedup.apply(
        [
            record("para", "Does aspirin reduce stroke risk?"),
            record("other", "Which bacteria colonise hospital sinks?"),
        ]
    )
    assert [r.id for r in kept] == ["other"]
    assert dropped[0].reason == "duplicate_near" and "cosine" in dropped[0].detail


def test_distinct_n_and_mean_pairwise_cosine():
    assert distinct_n(["a b a b", "a b"], 1) == pytest.approx(2 / 6, abs=1e-4)
    assert distinct_n(["a b a b", "a b"], 2) == pytest.approx(2 / 4, abs=1e-4)  # (a b), (b a) of 4 bigrams
    assert distinct_n([""], 2) is None
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 5))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    brute = np.mean([vectors[i] @ vectors[j] for i in range(6) for j in range(6) if i != j])
    assert mean_pairwise_cosine(vectors) == pytest.approx(brute, abs=1e-4)


def test_diversity_stats_with_minilm():
    same = [record(str(i), "Does aspirin prevent stroke?") for i in range(3)]
    varied = [
        record("1", "Does aspirin prevent stroke?"),
        record("2", "Which fungi grow in hospital air ducts?"),
    ]
    embedder = SentenceEmbedder()
    assert diversity_stats(same, embedder=embedder)["mean_pairwise_cosine"] == pytest.approx(1.0, abs=1e-4)
    stats = diversity_stats(varied, embedder=embedder)
    assert stats["items"] == 2 and stats["mean_pairwise_cosine"] < 0.5 and stats["distinct_1"] == 1.0
