"""Calibrated decisions: per-label offsets added to the label scores before the argmax.

Two ways to get them (`eval.calibration`):
- `bias`: fitted on the validation split after training, to maximise the run's optimized metric (offset_search.py),
  with a guard against overfitting a small split: off below a minimum number of validation items or of items per
  label, and offsets shrunk towards 0 by n / (n + shrinkage).
- `content_free`: "Calibrate Before Use" (Zhao et al., 2021): the label distribution the model gives to inputs with
  no content ("N/A", empty fields) is its prior; dividing it out is subtracting its log. Needs no labels.

Offsets are stored beside the adapter (`calibration.json`) and applied wherever that adapter decides. They are
written against a `labels` sequence (the module's labels), so any label set works.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from taskexpert.errors import ConfigError
from taskexpert.models.offset_search import decide, metric_values, search_offsets, supported_metric

METHODS = ("none", "bias", "content_free")
FALLBACK_METRIC = "macro_f1"


@dataclass(frozen=True)
class CalibrationSettings:
    method: str = "bias"  # none | bias | content_free
    metric: str = FALLBACK_METRIC  # what bias offsets maximise: acc, macro_f1 or f1_<label>
    min_examples: int = 30  # bias: fewer validation items than this and calibration is off
    min_per_class: int = 1  # bias: a label with fewer validation items than this turns calibration off
    shrinkage: float = 0.0  # bias: offsets are multiplied by n / (n + shrinkage)
    content_free_inputs: tuple[str, ...] = ("N/A", "", "[MASK]")

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"eval.calibration={self.method!r} is unknown: use one of {', '.join(METHODS)}")
        if self.min_examples < 1 or self.min_per_class < 0 or self.shrinkage < 0:
            raise ConfigError(
                "eval.calibration_guard needs min_examples >= 1, min_per_class >= 0 and shrinkage >= 0"
            )
        if self.method == "content_free" and not self.content_free_inputs:
            raise ConfigError(
                "eval.calibration=content_free needs at least one eval.content_free_inputs entry"
            )


def decision_metric(optimized_metric: str, labels: Sequence[str]) -> tuple[str, str | None]:
    """(metric the offsets maximise, a note when the run's optimized metric cannot be that metric)."""
    split, _, name = optimized_metric.partition("/")
    if split == "val" and supported_metric(name, labels):
        return name, None
    return FALLBACK_METRIC, (
        f"optimized_metric={optimized_metric} is not a validation accuracy or F1: offsets maximise val/macro_f1"
    )


@dataclass
class Calibration:
    """Offsets per label, whether they are applied, and why (or why not)."""

    method: str
    labels: tuple[str, ...]
    offsets: dict[str, float]
    applied: bool
    note: str
    # what it was fitted on and what it changed on validation (before/after), and the seconds the fit took
    fit: dict[str, Any] = field(default_factory=dict)

    def adjusted(self, scores: Mapping[str, float]) -> dict[str, float]:
        return {label: float(scores[label]) + self.offsets[label] for label in self.labels}

    def decision(self, scores: Mapping[str, float]) -> str:
        """The label of highest adjusted score; the first label on a tie, as the uncalibrated argmax."""
        adjusted = self.adjusted(scores)
        return max(self.labels, key=lambda label: (adjusted[label], -self.labels.index(label)))

    def summary(self) -> dict[str, object]:
        """What metrics.json and the loggers carry: applied (1/0), the offsets, method and note (the fit's
        seconds stay in calibration.json: metrics of the same run must not differ from one execution to the next)."""
        values: dict[str, object] = {"calibration/applied": float(self.applied)}
        values |= {f"calibration/offset_{label}": float(self.offsets[label]) for label in self.labels}
        return values | {"calibration/method": self.method, "calibration/note": self.note}


def off(method: str, labels: Sequence[str], note: str, fit: dict[str, Any] | None = None) -> Calibration:
    labels = tuple(labels)
    return Calibration(method, labels, dict.fromkeys(labels, 0.0), False, note, fit or {})


def _matrix(rows: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    scores = np.array([[float(row["scores"][label]) for label in labels] for row in rows])
    gold = np.array([list(labels).index(row["gold"]) for row in rows])
    return scores, gold


def _validation_effect(scores, gold, offsets, metric, labels) -> dict[str, float]:
    n = len(labels)
    before, after = decide(scores, np.zeros(n)), decide(scores, offsets)
    effect = {f"before_{metric}": metric_values(gold, before, n, metric, labels)[0]}
    effect[f"after_{metric}"] = metric_values(gold, after, n, metric, labels)[0]
    if metric != "acc":
        effect["before_acc"] = metric_values(gold, before, n, "acc", labels)[0]
        effect["after_acc"] = metric_values(gold, after, n, "acc", labels)[0]
    return {key: float(value) for key, value in effect.items()}


def fit_bias(
    validation_rows: Sequence[Mapping[str, Any]], labels: Sequence[str], settings: CalibrationSettings
) -> Calibration:
    """Offsets maximising `settings.metric` on the validation rows (each with `gold` and `scores`), guarded."""
    labels = tuple(labels)
    counts = Counter(row["gold"] for row in validation_rows)
    fit: dict[str, Any] = {
        "split": "validation",
        "examples": len(validation_rows),
        "per_label": {label: counts.get(label, 0) for label in labels},
        "metric": settings.metric,
    }
    if len(validation_rows) < settings.min_examples:
        return off(
            "bias", labels,
            f"off: the validation split has {len(validation_rows)} items, fewer than "
            f"eval.calibration_guard.min_examples={settings.min_examples}", fit,
        )  # fmt: skip
    scarce = [label for label in labels if counts.get(label, 0) < settings.min_per_class]
    if scarce:
        return off(
            "bias", labels,
            f"off: the validation split has {counts.get(scarce[0], 0)} '{scarce[0]}' items, fewer than "
            f"eval.calibration_guard.min_per_class={settings.min_per_class}", fit,
        )  # fmt: skip
    scores, gold = _matrix(validation_rows, labels)
    searched, rounds = search_offsets(scores, gold, settings.metric, labels)
    shrink = len(validation_rows) / (len(validation_rows) + settings.shrinkage)
    offsets = searched * shrink
    fit |= {
        "rounds": rounds,
        "shrink_factor": shrink,
        "searched_offsets": dict(zip(labels, searched.tolist(), strict=True)),
    }
    fit |= _validation_effect(scores, gold, offsets, settings.metric, labels)
    if fit[f"after_{settings.metric}"] <= fit[f"before_{settings.metric}"]:
        return off("bias", labels, f"off: no offsets raise validation {settings.metric}", fit)
    note = (
        f"fitted on {len(validation_rows)} validation items: validation {settings.metric} "
        f"{fit[f'before_{settings.metric}']:.4f} -> {fit[f'after_{settings.metric}']:.4f}"
    )
    return Calibration("bias", labels, dict(zip(labels, offsets.tolist(), strict=True)), True, note, fit)


def content_free_prior(content_free_scores: Sequence[Sequence[float]]) -> np.ndarray:
    """The mean, over content-free inputs, of each one's label distribution (scores renormalised over labels)."""
    scores = np.asarray(content_free_scores, dtype=float)
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).mean(axis=0)


def fit_content_free(
    content_free_scores: Sequence[Sequence[float]],
    labels: Sequence[str],
    settings: CalibrationSettings,
    validation_rows: Sequence[Mapping[str, Any]] = (),
) -> Calibration:
    """Offsets = -log(prior): the prior divided out. Validation rows, if given, only report the effect."""
    labels = tuple(labels)
    prior = content_free_prior(content_free_scores)
    offsets = -np.log(np.maximum(prior, 1e-30))
    offsets -= offsets.mean()
    fit: dict[str, Any] = {
        "inputs": list(settings.content_free_inputs),
        "prior": dict(zip(labels, prior.tolist(), strict=True)),
    }
    if validation_rows:
        scores, gold = _matrix(validation_rows, labels)
        fit |= {"split": "validation", "examples": len(validation_rows), "metric": settings.metric}
        fit |= _validation_effect(scores, gold, offsets, settings.metric, labels)
    prior_text = ", ".join(f"{label} {p:.3f}" for label, p in zip(labels, prior, strict=True))
    return Calibration(
        "content_free",
        labels,
        dict(zip(labels, offsets.tolist(), strict=True)),
        True,
        f"prior {prior_text} divided out",
        fit,
    )


@dataclass
class CalibrationPlan:
    """What the final validation needs to fit the offsets: settings, labels, and the content-free batch."""

    settings: CalibrationSettings
    labels: tuple[str, ...]
    scores_exist: bool = True  # false for eval.mode=generate: nothing to calibrate
    content_free_batch: dict[str, Any] | None = None

    def fit(
        self,
        validation_rows: Sequence[Mapping[str, Any]],
        score_batch: Callable[[dict[str, Any]], Sequence[Sequence[float]]],
    ) -> Calibration:
        """Fit from the validation rows alone (and, for content_free, the model's scores of the batch)."""
        started = time.perf_counter()
        method = self.settings.method
        if not self.labels:
            calibration = off(method, self.labels, "off: the task has no labels to calibrate")
        elif not self.scores_exist:
            calibration = off(
                method, self.labels, "off: eval.mode=generate gives no label scores to calibrate"
            )
        elif method == "bias":
            calibration = fit_bias(validation_rows, self.labels, self.settings)
        elif method == "content_free":
            if self.content_free_batch is None:
                raise ValueError("content_free calibration needs the encoded content-free inputs")
            scores = score_batch(self.content_free_batch)
            calibration = fit_content_free(scores, self.labels, self.settings, validation_rows)
        else:
            calibration = off("none", self.labels, "off: eval.calibration=none")
        calibration.fit["seconds"] = time.perf_counter() - started
        return calibration


def describe(calibration: Calibration) -> str:
    """One log line: the method, the offsets, and what was fitted or why it is off."""
    offsets = ", ".join(f"{label} {value:+.3f}" for label, value in calibration.offsets.items())
    state = f"offsets {offsets}; " if calibration.applied else ""
    seconds = f" ({calibration.fit['seconds']:.3f} s)" if "seconds" in calibration.fit else ""
    return f"calibration ({calibration.method}): {state}{calibration.note}{seconds}"


def calibrate_rows(rows: Sequence[Mapping[str, Any]], calibration: Calibration) -> list[dict[str, Any]]:
    """Rows with the calibrated decision as `pred`; the raw `scores` stay, `pred_uncalibrated` keeps the argmax."""
    calibrated = []
    for row in rows:
        adjusted = calibration.adjusted(row["scores"])
        decision = calibration.decision(row["scores"])
        calibrated.append(
            {**row, "pred": decision, "pred_uncalibrated": row["pred"], "calibrated_scores": adjusted}
        )
    return calibrated


def calibrated_results(
    rows: list[dict[str, Any]],
    calibration: Calibration,
    metrics_of: Callable[[list[dict[str, Any]], str], dict[str, object]],
    prefix: str,
) -> tuple[list[dict[str, Any]], dict[str, object]]:
    """(rows, metrics): `<prefix>*` of the calibrated decision, `<prefix>uncalibrated/*` of the plain argmax."""
    uncalibrated = metrics_of(rows, f"{prefix}uncalibrated/")
    if not calibration.applied:
        return rows, metrics_of(rows, prefix) | uncalibrated
    rows = calibrate_rows(rows, calibration)
    return rows, metrics_of(rows, prefix) | uncalibrated
