"""ReBase selection: the datastore passages most relevant to a task, scored as in ReBase.

For every seed record two queries are made, its input (the task's input fields, joined) and its
output (its reference, e.g. a long answer, or else the task's decision piece with its
gold, e.g. "The answer type is HUM."), plus one query for the task instruction. Each query retrieves its top `per_query_k` passages; their union is the candidate
pool. Each candidate gets

    score = mean(input_similarity, output_similarity, instruction_similarity)

where input/output similarity aggregate over the seeds with `seed_aggregation`: `max` (default:
a passage close to any one seed counts, as with ReBase's per-seed retrieval, and the pool stays
diverse) or `mean` (favours passages close to all seeds at once). Similarities are cosines for the
dense backend, BM25 divided by the query's best score for bm25, and their mix for hybrid.
Evaluation overlaps and near-duplicates (see exclusion.py) and repeated texts are dropped; if
fewer than k candidates remain, `per_query_k` doubles until k are found or the datastore is used up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from taskexpert.errors import ConfigError
from taskexpert.records import Record
from taskexpert.retrieval.datastore import plain_dict
from taskexpert.retrieval.exclusion import (
    EVALUATION_OVERLAP,
    NEAR_DUPLICATE,
    EvaluationFilter,
    ExclusionSettings,
)
from taskexpert.retrieval.passages import Passage
from taskexpert.retrieval.retriever import Retriever, settings_from
from taskexpert.tasks.task import Task

log = logging.getLogger(__name__)

AGGREGATIONS = ("max", "mean")
DUPLICATE_TEXT = "duplicate_text"


@dataclass(frozen=True)
class SelectionSettings:
    per_query_k: int = 20
    seed_aggregation: str = "max"
    drop_duplicate_texts: bool = True
    exclude: ExclusionSettings = field(default_factory=ExclusionSettings)

    def __post_init__(self) -> None:
        if self.seed_aggregation not in AGGREGATIONS:
            raise ConfigError(
                f"retrieval.select.seed_aggregation={self.seed_aggregation!r} is unknown: use max or mean"
            )
        if self.per_query_k < 1:
            raise ConfigError(f"retrieval.select.per_query_k must be at least 1, got {self.per_query_k}")


@dataclass(frozen=True)
class RetrievedRecord:
    """A selected passage: its text, where it came from, and its ReBase scores."""

    text: str
    passage: Passage
    position: int
    rank: int
    score: float
    input_similarity: float
    output_similarity: float
    instruction_similarity: float
    nearest_seed_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "text": self.text,
            "provenance": self.passage.provenance(),
            "score": self.score,
            "input_similarity": self.input_similarity,
            "output_similarity": self.output_similarity,
            "instruction_similarity": self.instruction_similarity,
            "nearest_seed_id": self.nearest_seed_id,
        }


@dataclass
class Selection:
    """The selected records, best first, and what was left out on the way."""

    records: list[RetrievedRecord]
    candidates: int
    excluded: dict[str, int]
    per_query_k: int

    def __iter__(self) -> Iterator[RetrievedRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> RetrievedRecord:
        return self.records[index]

    def summary(self) -> str:
        excluded = ", ".join(f"{count} {reason}" for reason, count in self.excluded.items())
        return (
            f"selected {len(self.records)} of {self.candidates} candidates "
            f"(per_query_k={self.per_query_k}); excluded: {excluded}"
        )


def seed_input(record: Record, task: Task | None = None) -> str:
    """The input query: the task's input fields (all of the record's inputs without a task)."""
    fields = task.input_fields if task is not None else tuple(record.inputs)
    return " ".join(record.inputs.get(name, "") for name in fields)


def seed_output(record: Record, task: Task | None = None) -> str:
    """The output query: the reference, else the task's decision piece with the gold filled in."""
    if record.reference.strip():
        return record.reference.strip()
    if task is None:
        return f"The answer is {record.target}."
    return task.prompt.decision.format(**{task.placeholder: record.target}).strip()


def select_for_task(
    retriever: Retriever,
    seeds: Sequence[Record],
    evaluation_records: Sequence[Record],
    instruction: str,
    k: int,
    settings: SelectionSettings | None = None,
    task: Task | None = None,
) -> Selection:
    """The k passages with the best ReBase score for the task the seeds and instruction describe;
    `task` names the seeds' input fields and decision piece (see seed_input, seed_output)."""
    settings = settings or SelectionSettings()
    if not seeds:
        raise ConfigError("select_for_task needs at least one seed record")
    if not instruction or not instruction.strip():
        raise ConfigError(
            "retrieval.select.instruction is empty: describe the task in one sentence (or set task.instruction)"
        )
    if k < 1:
        raise ConfigError(f"retrieval.select.k must be at least 1, got {k}")
    index, datastore = retriever.index, retriever.datastore
    inputs = [seed_input(seed, task) for seed in seeds]
    queries = inputs + [seed_output(seed, task) for seed in seeds] + [instruction]
    encoded = index.encode_queries(queries)
    evaluation_filter = EvaluationFilter(evaluation_records, settings.exclude, retriever.dense)
    reasons: dict[int, str] = {}  # excluded position -> why
    checked: set[int] = set()  # positions the evaluation filter has seen
    seen_texts: dict[str, int] = {}  # text -> the first position that had it
    depth = settings.per_query_k
    while True:
        candidates = sorted({position for hits in index.search(encoded, depth) for position, _ in hits})
        new = [position for position in candidates if position not in checked]
        reasons.update(evaluation_filter.reasons(new, datastore.texts(new)))
        checked.update(new)
        kept = []
        for position in candidates:
            if position in reasons:
                continue
            text = datastore[position].text
            first = seen_texts.setdefault(text, position)
            if settings.drop_duplicate_texts and first != position:
                reasons[position] = DUPLICATE_TEXT
            else:
                kept.append(position)
        if len(kept) >= k or depth >= len(datastore):
            break
        depth = min(depth * 2, len(datastore))
    records = _score(retriever, encoded, np.array(kept, dtype=np.int64), seeds, settings, k)
    counts = {reason: 0 for reason in (EVALUATION_OVERLAP, NEAR_DUPLICATE, DUPLICATE_TEXT)}
    for position in candidates:
        if position in reasons:
            counts[reasons[position]] += 1
    selection = Selection(records, len(candidates), counts, depth)
    log.info("%s", selection.summary())
    return selection


def _score(
    retriever: Retriever,
    encoded: Any,
    positions: np.ndarray,
    seeds: Sequence[Record],
    settings: SelectionSettings,
    k: int,
) -> list[RetrievedRecord]:
    if len(positions) == 0:
        return []
    n = len(seeds)
    similarity = np.asarray(retriever.index.similarity(encoded, positions), dtype=np.float32)
    aggregate = np.max if settings.seed_aggregation == "max" else np.mean
    input_similarity = aggregate(similarity[:n], axis=0)
    output_similarity = aggregate(similarity[n : 2 * n], axis=0)
    instruction_similarity = similarity[2 * n]
    scores = (input_similarity + output_similarity + instruction_similarity) / 3.0
    nearest_seed = similarity[:n].argmax(axis=0)
    order = np.lexsort((positions, -scores))[:k]  # best first; ties by datastore position
    return [
        RetrievedRecord(
            text=retriever.datastore[int(positions[j])].text,
            passage=retriever.datastore[int(positions[j])],
            position=int(positions[j]),
            rank=rank,
            score=float(scores[j]),
            input_similarity=float(input_similarity[j]),
            output_similarity=float(output_similarity[j]),
            instruction_similarity=float(instruction_similarity[j]),
            nearest_seed_id=seeds[int(nearest_seed[j])].id,
        )
        for rank, j in enumerate(order, start=1)
    ]


def selection_settings_from_config(select_cfg: Any) -> SelectionSettings:
    """SelectionSettings from `retrieval.select` (its `instruction` and `k` are arguments, not settings)."""
    values = plain_dict(select_cfg or {})
    values.pop("instruction", None)
    values.pop("k", None)
    exclude = settings_from(ExclusionSettings, values.pop("exclude", {}) or {}, "retrieval.select.exclude")
    settings = settings_from(SelectionSettings, values, "retrieval.select")
    return SelectionSettings(**{**settings.__dict__, "exclude": exclude})


def select_from_config(
    retriever: Retriever,
    retrieval_cfg: Any,
    seeds: Sequence[Record],
    evaluation_records: Sequence[Record],
    task: Task | None = None,
) -> Selection:
    """`select_for_task` with k and settings from the `retrieval.select` config node; its instruction,
    or when null the task's (task.instruction)."""
    select_cfg = retrieval_cfg.get("select") or {}
    return select_for_task(
        retriever,
        seeds,
        evaluation_records,
        instruction=instruction_of(retrieval_cfg, task),
        k=int(select_cfg.get("k", 100)),
        settings=selection_settings_from_config(select_cfg),
        task=task,
    )


def instruction_of(retrieval_cfg: Any, task: Task | None) -> str:
    """`retrieval.select.instruction`, or the task's when it is null."""
    configured = (retrieval_cfg.get("select") or {}).get("instruction")
    return str(configured or (task.instruction if task is not None else ""))
