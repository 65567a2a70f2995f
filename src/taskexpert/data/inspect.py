"""Know the data before training: sizes, labels, token lengths, duplicates, empty fields, and the length `auto`
would choose, in one table and one JSON file (`python -m taskexpert.data`)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from taskexpert.augment.contamination import guard_from_config
from taskexpert.data.encoding import RecordLength
from taskexpert.data.lengths import (
    SPLIT_NAMES,
    cache_file,
    context_window,
    length_setting,
    measure_splits,
    measuring_encoder,
    plan_lengths,
)
from taskexpert.data.splits import Splits
from taskexpert.records import Record
from taskexpert.tasks.task import Task

QUANTILES = (0.5, 0.9, 0.99, 1.0)  # p50, p90, p99, max


def quantiles(values: list[int]) -> dict[str, int]:
    """Nearest-rank quantiles: each is a length some record really has."""
    if not values:
        return {}
    ordered = sorted(values)
    names = {0.5: "p50", 0.9: "p90", 0.99: "p99", 1.0: "max"}
    return {names[q]: ordered[max(0, math.ceil(q * len(ordered)) - 1)] for q in QUANTILES}


def _inputs_key(record: Record) -> tuple[str, ...]:
    return tuple(" ".join(str(value).split()).lower() for value in record.inputs.values())


def duplicates(splits: Splits, leak_cfg: Any) -> dict[str, Any]:
    """Exact duplicates (same inputs, whitespace and case aside) within each split and between splits, and
    training records that overlap an evaluation item by the leak check's rule (`data.leak_check`)."""
    within = {}
    seen: dict[tuple[str, ...], str] = {}
    for name in SPLIT_NAMES:
        counts = Counter(_inputs_key(record) for record in getattr(splits, name))
        within[name] = sum(count - 1 for count in counts.values())
    between: dict[str, list[list[str]]] = {"train-validation": [], "train-test": [], "validation-test": []}
    for name in SPLIT_NAMES:
        for record in getattr(splits, name):
            key = _inputs_key(record)
            if key in seen and seen[key].split(":", 1)[0] != name:
                pair = f"{seen[key].split(':', 1)[0]}-{name}"
                between[pair].append([seen[key].split(":", 1)[1], record.id])
            seen.setdefault(key, f"{name}:{record.id}")
    near = []
    evaluation = splits.validation + splits.test
    if evaluation and splits.train:
        guard = guard_from_config(leak_cfg, evaluation)
        for record in splits.train:
            leak = guard.find(record)
            if leak is not None:
                near.append({"train": record.id, "evaluation": leak.overlap.item_id, "why": leak.describe()})
    return {
        "exact_within": within,
        "exact_between": {pair: {"count": len(rows), "ids": rows[:20]} for pair, rows in between.items()},
        "train_overlapping_evaluation": {"count": len(near), "first": near[:20]},
    }


def empty_fields(splits: Splits, task: Task) -> dict[str, dict[str, list[str]]]:
    """Split -> field -> ids of records whose input field, target or reference (when the task has one) is blank.
    Readers refuse a blank required field already; this shows the optional ones a record may lack."""
    found: dict[str, dict[str, list[str]]] = {}
    for name in SPLIT_NAMES:
        fields: dict[str, list[str]] = {}
        for record in getattr(splits, name):
            texts = {field: record.inputs.get(field, "") for field in task.input_fields}
            texts["target"] = record.target
            if task.reference_field:
                texts["reference"] = record.reference
            for field, text in texts.items():
                if not str(text or "").strip():
                    fields.setdefault(field, []).append(record.id)
        found[name] = fields
    return found


def inspect_data(
    cfg: Any, splits: Splits, task: Task, tokenizer: Any, model_config: Any = None, on_progress=None
) -> dict[str, Any]:
    """Everything the table shows, as plain data (the JSON written)."""
    encoder = measuring_encoder(cfg, tokenizer, task)
    files = [str(splits.settings.get("path") or ""), *splits.settings.get("extra_train", [])]
    lengths, _ = measure_splits(encoder, splits, cache_file(cfg, tokenizer, files), on_progress)
    setting = length_setting(cfg.data)
    cap = cfg.data.get("max_length_cap")
    plan = plan_lengths(
        # "skip" only counts the records over the length here: inspection reports them, it does not refuse
        lengths,
        encoder.eval_budget,
        "auto",
        "skip",
        context_window(model_config, tokenizer),
        int(cap) if cap else None,
    )
    report: dict[str, Any] = {"task": task.name, "path": splits.settings.get("path"), "splits": {}}
    for name in SPLIT_NAMES:
        records: list[Record] = getattr(splits, name)
        measured: list[RecordLength] = lengths[name]
        entry: dict[str, Any] = {
            "items": len(records),
            "tokens": {
                "input": quantiles([m.fixed + m.field for m in measured]),
                "target": quantiles([m.target for m in measured]),
                "sequence": quantiles([m.fixed + m.field + m.target for m in measured]),
            },
        }
        if task.labels:
            entry["labels"] = dict(Counter(record.target for record in records))
        report["splits"][name] = entry
    report["duplicates"] = duplicates(splits, cfg.data.get("leak_check"))
    report["empty_fields"] = empty_fields(splits, task)
    report["max_length"] = {
        "auto": plan.max_length,
        "fits_all": plan.fits_all,
        "configured": setting,
        "context_window": plan.context_window,
        "over_auto": {name: len(rows) for name, rows in plan.over.items()},
    }
    return report
