"""Contamination guard: drop a generated record whose text overlaps a validation or test item.

The measure is the training-time leak check's (`data.leak_check`, taskexpert.text.overlap), field by field and in
both directions: a record field that holds most of an evaluation item's field (a copied question, even with a
fresh context), or whose own n-grams mostly occur in evaluation text, or that equals a short evaluation field.
By default a record's inputs, reference, rationale and target are compared (a rationale quoting a test item's
text is a leak as much as a copied question).
So a file this guard let through passes `train.py`'s check of `data.extra_train` on the same split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from taskexpert.augment.filters import Dropped
from taskexpert.data.split_meta import write_split_meta
from taskexpert.data.splits import Splits
from taskexpert.records import Record
from taskexpert.text import DEFAULT_FIELDS, EvaluationIndex, Leak, OverlapSettings, overlap_settings


class ContaminationGuard:
    name = "contamination"

    def __init__(
        self,
        evaluation: Sequence[Record],
        settings: OverlapSettings | None = None,
        fields: Sequence[str] | None = DEFAULT_FIELDS,
    ) -> None:
        self.index = EvaluationIndex(evaluation, fields, settings)

    def find(self, record: Record) -> Leak | None:
        """The first field of `record` that overlaps an evaluation item, or None."""
        return self.index.find(record)

    def apply(self, records: list[Record]) -> tuple[list[Record], list[Dropped]]:
        kept, dropped = [], []
        for record in records:
            leak = self.index.find(record)
            if leak is None:
                kept.append(record)
            else:
                dropped.append(Dropped(record, "contamination", leak.describe()))
        return kept, dropped


def guard_settings(leak_cfg: Any) -> tuple[list[str] | None, OverlapSettings]:
    """(fields, settings) of `data.leak_check`, with the defaults where the block or a key is absent; fields
    None = each record's input fields and reference."""
    leak_cfg = leak_cfg or {}
    fields = leak_cfg.get("fields") or DEFAULT_FIELDS
    return (list(fields) if fields else None), overlap_settings(leak_cfg, "data.leak_check")


def guard_from_config(leak_cfg: Any, evaluation: Sequence[Record]) -> ContaminationGuard:
    """The guard measured as `data.leak_check` says."""
    fields, settings = guard_settings(leak_cfg)
    return ContaminationGuard(evaluation, settings, fields)


def write_guard_meta(cfg: Any, splits: Splits, records_path: str | Path, records: int) -> Path:
    """Record beside an augmented file which split it was guarded against, how, and which training seed set
    its records grew from (see data/split_meta.py)."""
    guard = None
    if cfg.filters.contamination.enabled:
        fields, settings = guard_settings(cfg.data.get("leak_check"))
        guard = {"fields": fields, **asdict(settings)}
    evaluation = splits.validation + splits.test
    seed_count = splits.settings.get("seed_set_size", len(splits.train))  # extra_train files come after
    seeds = splits.train[:seed_count]
    draw = {key: splits.settings.get(key) for key in ("train_limit", "train_fraction")}
    split = splits.settings.get("split")
    draw["split_seed"] = split.get("seed") if isinstance(split, dict) else None
    return write_split_meta(records_path, evaluation, guard, str(cfg.method.name), records, seeds, draw)
