"""Class weights for the training loss (`data.class_weights`): each training example's answer tokens count with
the weight of its gold label, so a rare label's examples pull as hard as a common one's.

- `none`: every example weighs 1 (the plain mean over answer tokens).
- `balanced`: weight(label) = n / (k * n_label) over the training split (k = labels present), as scikit-learn's
  `class_weight="balanced"`: every label contributes the same total weight.
- `{label: weight}`: given weights; labels left out weigh 1.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from taskexpert.errors import ConfigError

log = logging.getLogger(__name__)


def resolve_class_weights(
    setting: Any, train_labels: Sequence[str], labels: Sequence[str]
) -> dict[str, float] | None:
    """The weight of each label (None for `none`), from the setting and the training split's gold labels."""
    if setting is None or setting == "none":
        return None
    if setting == "balanced":
        counts = Counter(train_labels)
        present = [label for label in labels if counts.get(label)]
        total = sum(counts[label] for label in present)
        return {
            label: (total / (len(present) * counts[label]) if counts.get(label) else 1.0) for label in labels
        }
    if isinstance(setting, Mapping):
        if any(isinstance(key, bool) for key in setting):
            raise ConfigError(
                "data.class_weights has a key true/false: YAML reads bare yes, no, on, off as booleans: "
                "quote such labels in YAML ('on': 1.0, 'off': 2.0)"
            )
        unknown = [str(key) for key in setting if str(key) not in labels]
        if unknown:
            raise ConfigError(
                f"data.class_weights names the label {unknown[0]!r}, which this task does not have: "
                f"use {', '.join(labels)}"
            )
        weights = dict.fromkeys(labels, 1.0)
        for key, value in setting.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConfigError(f"data.class_weights.{key}={value!r}: a weight must be a positive number")
            weights[str(key)] = float(value)
        return weights
    raise ConfigError(
        f"data.class_weights={setting!r}: use none, balanced, or a mapping such as {{{labels[0]}: 1.0, ...}}"
    )


def weights_by_example(
    example_ids: Sequence[str], example_labels: Sequence[str], class_weights: Mapping[str, float]
) -> dict[str, float]:
    """Example id -> the weight of its gold label (ids are unique within a split)."""
    return {
        example_id: class_weights[label]
        for example_id, label in zip(example_ids, example_labels, strict=True)
    }


def training_balance(data_cfg: Any, train_labels: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """The DataModule's `class_weights` and `sampler` from `data.class_weights` and `data.sampler`, logged."""
    setting = data_cfg.get("class_weights", "none")
    if setting is not None and not isinstance(setting, str | int | float):  # a config node: a plain mapping
        from omegaconf import OmegaConf

        setting = OmegaConf.to_container(setting, resolve=True)
    sampler = str(data_cfg.get("sampler", "shuffle"))
    if not labels and (setting not in (None, "none") or sampler != "shuffle"):
        raise ConfigError(
            "data.class_weights and data.sampler=balanced weigh labels, and this task has none: "
            "use them with a classification task, or set data.class_weights=none data.sampler=shuffle"
        )
    weights = resolve_class_weights(setting, train_labels, labels)
    if weights is not None:
        log.info("class weights: %s", ", ".join(f"{label} {weights[label]:.3f}" for label in labels))
    if weights is not None and sampler == "balanced":
        log.warning("data.class_weights with data.sampler=balanced corrects the label imbalance twice")
    return {"class_weights": weights, "sampler": sampler}
