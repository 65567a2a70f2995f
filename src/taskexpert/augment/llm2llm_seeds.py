"""Which seeds LLM2LLM augments: the ones the student gets wrong (the paper's rule), or, beyond the paper, the
ones it is least sure of by its own label scores in `predictions.jsonl`.

`margin` is the gap between the two highest label scores (log-probabilities; small = unsure); `loss` is
-log p(gold label), the gold label's probability renormalised over the task's labels (large = unsure). Both
need label scoring: a task scored by generating text (answer, span, or `eval.mode=generate`) has no label
scores, and asking for them there is a config error. Ties are broken by record id, so a ranking is the same on
every run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from taskexpert.errors import ConfigError, DataError
from taskexpert.records import Record
from taskexpert.tasks import Task

SEED_SELECTIONS = ("wrong", "margin", "loss")


def check_seed_selection(selection: str, task: Task, eval_mode: str | None) -> None:
    """Fail before anything trains when the ranking asked for needs label scores the student will not write."""
    if selection not in SEED_SELECTIONS:
        raise ConfigError(f"method.seed_selection={selection!r} must be one of {', '.join(SEED_SELECTIONS)}")
    if selection == "wrong":
        return
    scored = bool(task.labels) and "label" in task.kind.eval_modes and eval_mode in (None, "label")
    if not scored:
        raise ConfigError(
            f"method.seed_selection={selection} ranks seeds by label scores, but task {task.name} is scored "
            "by generating text (no label scores in predictions.jsonl); use method.seed_selection=wrong"
        )


def label_scores(row: dict[str, Any], labels: Sequence[str], where: Path) -> list[float]:
    """The row's score of every label, in the task's label order (a generate-mode row has none); the
    calibrated scores when the student's decision was calibrated, so the measure is that of its decision."""
    scores = row.get("calibrated_scores") or row.get("scores")
    if "parsed" in row or not isinstance(scores, dict) or any(label not in scores for label in labels):
        raise DataError(
            str(where),
            "scores",
            f"has no label scores for {row.get('id')}",
            "score the training split by labels (eval.mode=label) or use method.seed_selection=wrong",
        )
    return [float(scores[label]) for label in labels]


def margin(scores: Sequence[float]) -> float:
    """The gap between the highest and the second-highest score (0 for a single label)."""
    top = sorted(scores, reverse=True)
    return top[0] - top[1] if len(top) > 1 else 0.0


def gold_loss(scores: Sequence[float], gold_index: int) -> float:
    """-log p(gold), the label scores renormalised over the labels (a stable log-sum-exp)."""
    peak = max(scores)
    log_total = peak + math.log(sum(math.exp(score - peak) for score in scores))
    return log_total - scores[gold_index]


def seed_measure(selection: str, row: dict[str, Any], task: Task, where: Path) -> float:
    scores = label_scores(row, task.labels, where)
    if selection == "margin":
        return margin(scores)
    gold = str(row.get("gold"))
    if gold not in task.labels:
        raise DataError(
            str(where), "gold", f"{gold!r} of {row.get('id')} is not a label of the task", "re-run"
        )
    return gold_loss(scores, list(task.labels).index(gold))


def least_sure_seeds(
    selection: str,
    task: Task,
    predictions: dict[str, dict[str, Any]],
    seeds: Sequence[Record],
    count: int,
    where: Path,
) -> list[tuple[Record, str, float]]:
    """(record, the student's answer, its measure) for the `count` seeds the student is least sure of: the
    smallest margins or the largest losses first, ties by id."""
    ranked = []
    for record in seeds:
        row = predictions.get(record.id)
        if row is None:
            raise DataError(str(where), "id", f"has no training prediction for {record.id}", "re-run")
        measure = seed_measure(selection, row, task, where)
        unsure_first = measure if selection == "margin" else -measure
        ranked.append((unsure_first, record.id, record, str(row["pred"]), measure))
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [(record, answer, measure) for _, _, record, answer, measure in ranked[: max(0, count)]]


def hard_seed_count(max_hard_seeds: int | None, wrong_count: int) -> int:
    """How many seeds a ranking picks: `method.max_hard_seeds`, or as many as the student got wrong (so the
    teacher writes as much as the paper's rule would have asked for)."""
    return wrong_count if max_hard_seeds is None else max_hard_seeds


def history_of_choice(selection: str, chosen: Sequence[tuple[Record, str, float]]) -> list[dict[str, Any]]:
    return [{"id": record.id, selection: round(measure, 6)} for record, _, measure in chosen]
