"""Shared helpers for the retrieval tests: a counting embedder, corpus writers, and a generated
corpus with planted relevant passages and copies of evaluation items. All text is generated here.

The few tests at the bottom check the helpers themselves (deterministic, planted as promised).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from data_fixtures import qa_record

from taskexpert.retrieval import CorpusConfig
from taskexpert.text.embedders import HashingEmbedder

GENERIC_WORDS = [
    "patients",
    "study",
    "group",
    "trial",
    "results",
    "outcome",
    "measured",
    "compared",
    "weeks",
    "months",
    "adults",
    "children",
    "risk",
    "rate",
    "higher",
    "lower",
    "increase",
    "decrease",
    "effect",
    "treatment",
    "control",
    "follow",
    "analysis",
    "baseline",
    "primary",
    "secondary",
    "data",
    "clinic",
    "hospital",
    "community",
    "sample",
    "cohort",
    "dose",
    "daily",
    "program",
    "visits",
    "scores",
    "change",
    "similar",
    "difference",
    "significant",
    "reported",
    "observed",
    "participants",
    "assigned",
    "randomized",
    "care",
    "standard",
    "usual",
    "during",
    "after",
    "before",
    "between",
    "among",
    "within",
    "years",
    "total",
    "mean",
    "median",
    "overall",
    "small",
    "large",
]
_SYLLABLES = ["ka", "lo", "mi", "ren", "tor", "vex", "zu", "pra", "dil", "mon", "sef", "qua", "bri", "nok"]


class CountingEmbedder:
    """A real embedder that counts what it is asked to embed."""

    def __init__(self, inner=None) -> None:
        # Word counts only: word pairs of generated text are random and would just add noise.
        self.inner = inner or HashingEmbedder(dimension=512, bigrams=False)
        self.identity = self.inner.identity
        self.calls = 0
        self.texts = 0

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        return self.inner.encode(texts)


def invented_words(count: int, seed: int) -> list[str]:
    """Distinct made-up words (e.g. `torvexmi`): rare terms that make topics easy to tell apart."""
    generator = random.Random(seed)
    words: list[str] = []
    while len(words) < count:
        word = "".join(generator.choice(_SYLLABLES) for _ in range(3))
        if word not in words:
            words.append(word)
    return words


def sentence_text(
    generator: random.Random, topic_words: Sequence[str], words: int, topic_share: float
) -> str:
    chosen = [
        generator.choice(topic_words) if generator.random() < topic_share else generator.choice(GENERIC_WORDS)
        for _ in range(words)
    ]
    return " ".join(chosen).capitalize() + "."


@dataclass
class PlantedWorld:
    corpus_path: Path
    rows: list[dict]
    seeds: list[qa_record]
    evaluation: list[qa_record]
    planted_ids: set[str]  # passages written about the seed topics: should rank first
    copy_ids: set[str]  # copies / excerpts of evaluation items: must never be selected
    near_duplicate_id: str  # a reworded evaluation context that shares no 8-gram with it

    def corpus(self, **settings) -> CorpusConfig:
        values = {"text_fields": ("text",), "id_field": "id", "unit": "field", **settings}
        return CorpusConfig(name="generated", path=str(self.corpus_path), **values)


def make_planted_world(directory: Path, background: int = 240, seed: int = 7) -> PlantedWorld:
    """4 seed topics with 2 planted passages each; 2 evaluation items on seed topics, copied into
    the corpus three ways (whole context, quoted question, reworded context); background noise."""
    generator = random.Random(seed)
    topics = [invented_words(6, seed=100 + index) for index in range(4 + 2 + 30)]
    seed_topics, evaluation_topics, background_topics = topics[:4], topics[4:6], topics[6:]
    seeds = []
    for index, words in enumerate(seed_topics):
        seeds.append(
            qa_record(
                id=f"seed{index}",
                question=f"Does {words[0]} reduce {words[1]} in {words[2]} patients?",
                context=sentence_text(generator, words, 40, 0.6),
                long_answer=f"{words[0].capitalize()} reduced {words[1]} and {words[3]} in {words[2]} patients.",
                label="yes",
            )
        )
    evaluation = []
    for index, words in enumerate(evaluation_topics):
        # Evaluation items share the seeds' topics, so their copies would otherwise rank near the top.
        words = [*seed_topics[index][:3], *words]
        evaluation.append(
            qa_record(
                id=f"eval{index}",
                question=f"Is {words[0]} linked to {words[4]} among {words[2]} adults after {words[5]}?",
                context=sentence_text(generator, words, 60, 0.5),
                long_answer=f"{words[0].capitalize()} was linked to {words[4]}.",
                label="no",
            )
        )
    rows = [
        {"id": f"bg{i:03d}", "text": sentence_text(generator, generator.choice(background_topics), 50, 0.15)}
        for i in range(background)
    ]
    planted = []
    for index, words in enumerate(seed_topics):
        for copy in range(2):
            lead = f"{words[0].capitalize()} and {words[1]} in {words[2]} patients."
            planted.append(
                {"id": f"planted{index}{copy}", "text": f"{lead} {sentence_text(generator, words, 45, 0.6)}"}
            )
    reworded = []
    for position, word in enumerate(evaluation[1].inputs["context"].split()):
        reworded.append(word)
        if position % 5 == 4:  # a filler every 5 words breaks every 8-gram but keeps the words
            reworded.append(GENERIC_WORDS[position % len(GENERIC_WORDS)])
    copies = [
        {"id": "copy_context", "text": evaluation[0].inputs["context"]},
        {
            "id": "copy_question",
            "text": f"{evaluation[1].inputs['question']} {sentence_text(generator, seed_topics[1], 40, 0.5)}",
        },
        {"id": "near_duplicate", "text": " ".join(reworded)},
    ]
    # Planted and copied rows sit among the background rows, not at the start.
    for row in planted + copies:
        rows.insert(generator.randrange(len(rows) + 1), row)
    path = directory / "generated.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return PlantedWorld(
        path,
        rows,
        seeds,
        evaluation,
        planted_ids={row["id"] for row in planted},
        copy_ids={row["id"] for row in copies},
        near_duplicate_id="near_duplicate",
    )


def write_corpus(rows: list[dict], path: Path, fmt: str) -> Path:
    """The same rows as JSONL, CSV, Parquet or a `datasets` save_to_disk directory."""
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    elif fmt == "csv":
        import pandas as pd

        pd.DataFrame(rows).to_csv(path, index=False)
    elif fmt == "parquet":
        import pandas as pd

        pd.DataFrame(rows).to_parquet(path, index=False)
    elif fmt == "hf_disk":
        import datasets

        datasets.Dataset.from_list(rows).save_to_disk(str(path))
    else:
        raise ValueError(fmt)
    return path


def test_planted_world_is_deterministic(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_planted_world(tmp_path / "a")
    second = make_planted_world(tmp_path / "b")
    assert first.rows == second.rows
    ids = [row["id"] for row in first.rows]
    assert len(ids) == len(set(ids)) == 240 + 8 + 3
    assert first.planted_ids | first.copy_ids <= set(ids)


def test_reworded_copy_defeats_the_ngram_check_but_not_the_embedding(tmp_path):
    from taskexpert.retrieval.exclusion import EvaluationFilter, ExclusionSettings

    world = make_planted_world(tmp_path)
    text = next(row["text"] for row in world.rows if row["id"] == world.near_duplicate_id)
    evaluation_filter = EvaluationFilter(world.evaluation, ExclusionSettings(), dense=None)
    assert evaluation_filter.overlap(text) < 0.2
    embedder = HashingEmbedder(dimension=256)
    vectors = embedder.encode([text, world.evaluation[1].inputs["context"]])
    assert float(vectors[0] @ vectors[1]) > 0.8
