"""The search behind bias calibration: per-label score offsets that maximise a decision metric on labelled rows.

Deterministic coordinate ascent. For one label at a time, with the other offsets fixed, the metric is a step
function of that label's offset whose steps sit where an example's decision flips (its score margin to the best
other label). Every interval between neighbouring flips is tried through its midpoint (the decision is the same
anywhere inside, and the midpoint keeps the widest margin either side); the best wins, ties going to the offset
closest to 0, so nothing moves without a gain. Rounds repeat until no offset changes.

The metrics are computed here with numpy for many candidate decisions at once; they follow scikit-learn's
definitions (per-class F1 = 2tp / (2tp + fp + fn), 0 for a class neither predicted nor present), which a test
checks against scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_ROUNDS = 20
MAX_CANDIDATES = 512  # thresholds tried per label and round; larger splits use quantiles of the thresholds


def supported_metric(name: str, labels: Sequence[str]) -> bool:
    """Metrics the search computes itself: accuracy, macro-F1 and one label's F1."""
    return name in ("acc", "macro_f1") or (name.startswith("f1_") and name.removeprefix("f1_") in labels)


def metric_values(
    gold: np.ndarray, predictions: np.ndarray, n_labels: int, metric: str, labels=()
) -> np.ndarray:
    """`metric` of each row of `predictions` ([candidates, examples] label indices) against `gold` ([examples])."""
    predictions = np.atleast_2d(predictions)
    if metric == "acc":
        return (predictions == gold[None, :]).mean(axis=1)
    f1 = np.zeros((predictions.shape[0], n_labels))
    for label in range(n_labels):
        predicted, actual = predictions == label, (gold == label)[None, :]
        true_positive = (predicted & actual).sum(axis=1)
        denominator = predicted.sum(axis=1) + actual.sum()  # 2tp + fp + fn
        f1[:, label] = np.where(denominator > 0, 2 * true_positive / np.maximum(denominator, 1), 0.0)
    if metric == "macro_f1":
        return f1.mean(axis=1)
    return f1[:, list(labels).index(metric.removeprefix("f1_"))]


def decide(scores: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The label index of each row: argmax of score + offset, the first label on a tie (as torch's argmax)."""
    return np.argmax(scores + offsets[None, :], axis=1)


def _candidates(thresholds: np.ndarray, current: float) -> np.ndarray:
    """Midpoints between neighbouring flip points, one point beyond each end, the current offset and 0."""
    points = np.unique(thresholds)
    if len(points) > MAX_CANDIDATES:
        points = np.unique(np.quantile(points, np.linspace(0, 1, MAX_CANDIDATES)))
    spread = float(points.std()) if len(points) > 1 else 1.0
    beyond = 0.5 * (spread if spread > 0 else 1.0)
    middle = (points[:-1] + points[1:]) / 2
    return np.concatenate([[points[0] - beyond], middle, [points[-1] + beyond, current, 0.0]])


def _best_offset(
    scores: np.ndarray, gold: np.ndarray, offsets: np.ndarray, label: int, metric: str, labels
) -> tuple[float, float]:
    """(offset, metric) for `label` with the other offsets fixed: the best, the smallest |offset| on a tie."""
    shifted = scores + offsets[None, :]
    others = np.delete(shifted, label, axis=1).max(axis=1)
    candidates = _candidates(others - scores[:, label], float(offsets[label]))
    trial = np.repeat(offsets[None, :], len(candidates), axis=0)
    trial[:, label] = candidates
    predictions = np.argmax(scores[None, :, :] + trial[:, None, :], axis=2)
    values = metric_values(gold, predictions, scores.shape[1], metric, labels)
    best = values.max()
    tied = np.flatnonzero(values >= best - 1e-12)
    chosen = min(tied, key=lambda index: (abs(candidates[index]), candidates[index]))
    return float(candidates[chosen]), float(values[chosen])


def search_offsets(
    scores: np.ndarray, gold: np.ndarray, metric: str, labels: Sequence[str]
) -> tuple[np.ndarray, int]:
    """Offsets ([labels], centred on 0) maximising `metric` of argmax(scores + offsets) against `gold`; rounds run."""
    n_labels = scores.shape[1]
    offsets = np.zeros(n_labels)
    current = float(metric_values(gold, decide(scores, offsets), n_labels, metric, labels)[0])
    rounds = 0
    while rounds < MAX_ROUNDS:
        rounds += 1
        changed = False
        for label in range(n_labels):
            value, measured = _best_offset(scores, gold, offsets, label, metric, labels)
            better = measured > current + 1e-12
            smaller = measured >= current - 1e-12 and abs(value) < abs(offsets[label]) - 1e-12
            if better or smaller:
                offsets[label], current, changed = value, measured, True
        if not changed:
            break
    return offsets - offsets.mean(), rounds
