"""Classification: the target is one of the task's labels (2-50 label names, any number of tokens each).

Predictions come from label scoring (the label whose whole continuation after the decision prefix is most
likely; see models/label_sequences.py) or from generated text: the first label word after the answer phrase.
Metrics: accuracy, macro-F1 and per-class F1 over the task's labels, the confusion matrix (rows gold).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from taskexpert.errors import ConfigError, DataError
from taskexpert.metrics import classification_metrics
from taskexpert.tasks.kinds.base import Kind, Row, register_kind

MAX_LABELS = 50


@lru_cache(maxsize=64)
def _label_pattern(labels: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so a label that starts another ("no", "no_answer") never wins by being shorter; the
    # lookarounds are word boundaries that also work for labels that start or end with punctuation ("(A)").
    words = sorted({label.lower() for label in labels}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(word) for word in words) + r")(?!\w)")


def parse_label(
    text: str, labels: Sequence[str], phrase: str | None, window: int, default: str | None
) -> tuple[str, bool]:
    """(label, parsed): the first whole label word within `window` characters after the first `phrase`
    (case-insensitive; no phrase: from the start). Without one: (`default` or "", False)."""
    lowered = text.lower()
    start = 0
    if phrase:
        found = lowered.find(phrase.lower())
        if found < 0:
            return default or "", False
        start = found + len(phrase)
    # Search past the window and keep the match only if the whole word lies inside it: cutting the text at
    # the window would turn a word running over its edge ("nothing", "yesterday") into a label word.
    match = _label_pattern(tuple(labels)).search(lowered[start:])
    if not match or match.end() > window:
        return default or "", False
    by_lower = {label.lower(): label for label in labels}
    return by_lower[match.group(1)], True


@register_kind
class Classification(Kind):
    name = "classification"
    placeholder = "label"
    eval_modes = ("label", "generate")

    def check(self, task) -> None:
        labels = task.labels
        if not 2 <= len(labels) <= MAX_LABELS:
            raise ConfigError(
                f"task.labels has {len(labels)} labels: a classification task needs 2 to {MAX_LABELS}"
            )
        if len({label.lower() for label in labels}) != len(labels):
            raise ConfigError(
                f"task.labels {list(labels)} repeats a label (labels are compared case-insensitively)"
            )
        default = task.generate.default_label
        if default is not None and default not in labels:
            raise ConfigError(f"task.generate.default_label={default!r} is not one of task.labels")

    def validate_target(self, task, record, where: str) -> None:
        if record.target not in task.labels:
            raise DataError(
                where,
                "target",
                f"has unknown label {record.target!r}",
                f"use one of {', '.join(task.labels)}",
            )

    def read_generated(self, task, text: str) -> tuple[str, bool]:
        settings = task.generate
        return parse_label(
            text, task.labels, settings.answer_phrase, settings.parse_window, settings.default_label
        )

    def metrics(self, task, rows: Sequence[Row], prefix: str) -> dict[str, object]:
        metrics = classification_metrics(
            [row["gold"] for row in rows], [row["pred"] for row in rows], task.labels, prefix
        )
        if rows and "generated" in rows[0]:
            metrics[f"{prefix}parse_failure_rate"] = sum(not row["parsed"] for row in rows) / len(rows)
        return metrics

    def table_columns(self, task) -> list[tuple[str, str]]:
        return [("acc", "accuracy"), ("macro_f1", "macro-F1"), *((f"f1_{c}", f"F1 {c}") for c in task.labels)]
