"""The paired bootstrap of an augmentation study: an arm's metric minus the baseline's on the same test items.

Within each seed the arm's and the baseline's predictions are paired by item id; a draw resamples those items
with replacement, recomputes the task's metric on both sides with the task's own functions (what training
reports), and the draw's difference is the mean over seeds of arm − baseline. The interval is the percentile
interval of those draws. The indices of a draw depend only on the bootstrap seed, the job seed and the number of
items, so every arm of a seed is resampled on the same items as the baseline and the report is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from taskexpert.tasks.task import Task

Row = dict[str, Any]
DEFAULT_DRAWS = 1000
BOOTSTRAP_SEED = 0  # fixed: the same predictions give the same interval every time
CONFIDENCE = 0.95
CHECKED_DRAWS = 3  # draws on which a vectorised metric is checked against the task's own function
TOLERANCE = 1e-9
CHUNK_CELLS = 2_000_000  # resampled item positions held at once by a vectorised metric


def resampling_indices(n_items: int, draws: int, job_seed: int | None, bootstrap_seed: int = BOOTSTRAP_SEED):
    """(draws, n_items) item positions drawn with replacement, fixed by (bootstrap seed, job seed, n_items)."""
    stream = np.random.default_rng([bootstrap_seed, (job_seed or 0) % 2**32, n_items])
    return stream.integers(0, n_items, size=(draws, n_items))


class TaskMetric:
    """One metric of a task (`test/macro_f1`) computed on rows of predictions.jsonl, as training computes it."""

    def __init__(self, task: Task, metric: str) -> None:
        from taskexpert.models.module import split_metrics  # the very function training reports with

        self.task, self.metric = task, metric
        self.prefix = metric.split("/", 1)[0] + "/"
        self.measure = metric.removeprefix(self.prefix)
        self._split_metrics = split_metrics

    def value(self, rows: Sequence[Row]) -> float:
        try:
            computed = self._split_metrics(self.task, list(rows), self.prefix)
        except KeyError as error:
            raise KeyError(
                f"{self.metric} cannot be recomputed: the {self.prefix.rstrip('/')} rows of predictions.jsonl "
                f"lack the field {error.args[0]!r} the {self.task.kind.name} kind reads"
            ) from None
        if not isinstance(computed.get(self.metric), (int, float)):
            raise KeyError(f"{self.task.name}'s metrics do not include {self.metric}")
        return float(computed[self.metric])

    def resampled(self, rows: Sequence[Row], indices: np.ndarray) -> np.ndarray:
        """The metric on every draw of `indices`: vectorised where that gives the task's own numbers (checked on
        the whole set and a few draws), else the task's function once per draw."""
        vectorised = self._vectorised(rows)
        if vectorised is not None:
            checked = [np.arange(len(rows)), *indices[:CHECKED_DRAWS]]
            fast = vectorised(np.stack(checked))
            exact = [self.value([rows[i] for i in draw]) for draw in checked]
            if np.allclose(fast, exact, rtol=0, atol=TOLERANCE):
                chunk = max(1, CHUNK_CELLS // max(len(rows), 1))  # bounded memory on large test sets
                return np.concatenate(
                    [vectorised(indices[at : at + chunk]) for at in range(0, len(indices), chunk)]
                )
        return np.array([self.value([rows[i] for i in draw]) for draw in indices])

    def _vectorised(self, rows: Sequence[Row]) -> Callable[[np.ndarray], np.ndarray] | None:
        if self.task.labels and self.task.kind.name == "classification":
            return _label_counts_metric(rows, self.task.labels, self.measure)
        try:
            scores = np.array([self.value([row]) for row in rows])
        except (KeyError, ZeroDivisionError, ValueError):
            return None
        return lambda indices: scores[indices].mean(axis=1)  # exact when the metric is a mean over items


def _label_counts_metric(
    rows: Sequence[Row], labels: Sequence[str], measure: str
) -> Callable[[np.ndarray], np.ndarray] | None:
    """Accuracy, macro-F1 and per-label F1 from per-draw counts (F1 = 2 TP / (gold + predicted), 0 when a label
    is neither gold nor predicted); other measures have no vectorised form here."""
    labels = list(labels)
    per_label = {f"f1_{label}": index for index, label in enumerate(labels)}
    if measure not in ("acc", "macro_f1", *per_label):
        return None
    gold = [row["gold"] for row in rows]
    pred = [row["pred"] for row in rows]
    correct = np.array([g == p for g, p in zip(gold, pred, strict=True)], dtype=float)
    if measure == "acc":
        return lambda indices: correct[indices].mean(axis=1)
    is_gold = np.array([[g == label for g in gold] for label in labels], dtype=float)
    is_pred = np.array([[p == label for p in pred] for label in labels], dtype=float)
    hit = is_gold * is_pred

    def f1(indices: np.ndarray) -> np.ndarray:
        true_positives = hit[:, indices].sum(axis=2)  # (labels, draws)
        total = is_gold[:, indices].sum(axis=2) + is_pred[:, indices].sum(axis=2)
        scores = np.divide(2 * true_positives, total, out=np.zeros_like(total), where=total > 0)
        return scores.mean(axis=0) if measure == "macro_f1" else scores[per_label[measure]]

    return f1


@dataclass
class SeedPair:
    """One seed's test items predicted by the arm and by the baseline, aligned by id."""

    seed: int | None
    arm_rows: list[Row]
    baseline_rows: list[Row]


@dataclass
class PairedDifference:
    """arm − baseline: the point estimate (mean over seeds), its percentile interval, and what it rests on."""

    difference: float
    low: float
    high: float
    draws: int
    seeds: list[int | None]
    items: list[int]  # paired items per seed
    per_seed: list[float] = field(default_factory=list)

    @property
    def above_zero(self) -> bool:
        return self.low > 0

    @property
    def below_zero(self) -> bool:
        return self.high < 0


class PairedBootstrap:
    """Paired differences against one baseline; the baseline's resampled metric is computed once per seed."""

    def __init__(self, metric: TaskMetric, draws: int = DEFAULT_DRAWS, seed: int = BOOTSTRAP_SEED) -> None:
        if draws < 1:
            raise ValueError(f"--bootstrap {draws}: the number of draws must be at least 1")
        self.metric, self.draws, self.seed = metric, draws, seed
        self._baseline: dict[tuple, tuple[float, np.ndarray]] = {}

    def _side(self, rows: list[Row], job_seed: int | None) -> tuple[float, np.ndarray]:
        indices = resampling_indices(len(rows), self.draws, job_seed, self.seed)
        return self.metric.value(rows), self.metric.resampled(rows, indices)

    def _baseline_side(self, pair: SeedPair) -> tuple[float, np.ndarray]:
        key = (pair.seed, tuple(row["id"] for row in pair.baseline_rows))
        if key not in self._baseline:
            self._baseline[key] = self._side(pair.baseline_rows, pair.seed)
        return self._baseline[key]

    def difference(self, pairs: list[SeedPair]) -> PairedDifference:
        point, draws = [], []
        for pair in pairs:
            arm_value, arm_draws = self._side(pair.arm_rows, pair.seed)
            baseline_value, baseline_draws = self._baseline_side(pair)
            point.append(arm_value - baseline_value)
            draws.append(arm_draws - baseline_draws)
        averaged = np.mean(draws, axis=0)
        tail = 100 * (1 - CONFIDENCE) / 2
        low, high = np.percentile(averaged, [tail, 100 - tail])
        return PairedDifference(
            difference=float(np.mean(point)),
            low=float(low),
            high=float(high),
            draws=self.draws,
            seeds=[pair.seed for pair in pairs],
            items=[len(pair.arm_rows) for pair in pairs],
            per_seed=point,
        )


def pair_rows(arm_rows: list[Row], baseline_rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """The items both sides predicted, in the baseline's order (ids are unique within a split)."""
    by_id = {row["id"]: row for row in arm_rows}
    shared = [row for row in baseline_rows if row["id"] in by_id]
    return [by_id[row["id"]] for row in shared], shared
