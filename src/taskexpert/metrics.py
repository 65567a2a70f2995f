"""Classification metrics with scikit-learn's definitions, over a task's labels."""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


def classification_metrics(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str], prefix: str = ""
) -> dict[str, object]:
    """Accuracy, macro-F1 and per-class F1 (floats) plus the confusion matrix (rows gold, columns predicted),
    over `labels` in their order. A prediction outside `labels` (an unparsed answer) is wrong for every class."""
    labels = list(labels)
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
