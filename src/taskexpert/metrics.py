"""Classification metrics with scikit-learn's definitions, over the three PubMedQA labels."""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from taskexpert.records import LABELS


def classification_metrics(gold: Sequence[str], pred: Sequence[str], prefix: str = "") -> dict[str, object]:
    """Accuracy, macro-F1 and per-class F1 (floats) plus the confusion matrix (rows gold, columns predicted)."""
    labels = list(LABELS)
    per_class = f1_score(gold, pred, labels=labels, average=None, zero_division=0)
    metrics: dict[str, object] = {
        f"{prefix}acc": float(accuracy_score(gold, pred)),
        f"{prefix}macro_f1": float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0)),
    }
    metrics.update(
        {f"{prefix}f1_{label}": float(score) for label, score in zip(labels, per_class, strict=True)}
    )
    metrics[f"{prefix}confusion"] = confusion_matrix(gold, pred, labels=labels).tolist()
    return metrics
