"""Train/validation/test splits: a dataset's own splits, Dr. LLaMA's file-order split, and seeded draws.

A split is chosen by `data.split.name` from a registry: `own` and `drllama` here; a reader may register the
split its dataset defines (e.g. `official`, a test set given by a ground-truth file).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from taskexpert.errors import ConfigError, DataError
from taskexpert.records import Record

SplitFunction = Callable[[dict[str, list[Record]], Any, str], "Splits"]
SPLITS: dict[str, SplitFunction] = {}


@dataclass
class Splits:
    train: list[Record]
    validation: list[Record]
    test: list[Record]
    settings: dict[str, Any] = field(default_factory=dict)  # how they were drawn, for splits.json

    def ids(self) -> dict[str, list[str]]:
        return {
            name: [record.id for record in getattr(self, name)] for name in ("train", "validation", "test")
        }


def register_split(name: str) -> Callable[[SplitFunction], SplitFunction]:
    """Register `split(dataset, data_cfg, path) -> Splits` as `data.split.name: <name>`."""

    def add(function: SplitFunction) -> SplitFunction:
        SPLITS[name] = function
        return function

    return add


def _in_file_order(records: Sequence[Record], chosen: Sequence[Record]) -> list[Record]:
    keep = {id(record) for record in chosen}
    return [record for record in records if id(record) in keep]


def _stratify_labels(records: Sequence[Record], stratify: bool) -> list[str] | None:
    """The targets to stratify a draw by, when asked and when every class has at least two records."""
    if not stratify:
        return None
    labels = [record.target for record in records]
    return labels if min(Counter(labels).values()) >= 2 else None


def draw(
    records: Sequence[Record], size: int, seed: int, stratify: bool
) -> tuple[list[Record], list[Record]]:
    """(chosen, rest): `size` records drawn with `seed`, stratified by target when asked (classification);
    both parts keep file order."""
    from sklearn.model_selection import train_test_split

    if size <= 0 or size >= len(records):
        return (list(records), []) if size >= len(records) else ([], list(records))
    labels = _stratify_labels(records, stratify)
    if labels is not None and size < len(set(labels)):
        labels = None  # fewer records than classes: a stratified draw is impossible
    try:
        chosen, rest = train_test_split(list(records), train_size=size, random_state=seed, stratify=labels)
    except ValueError:  # a class too small for the requested share: draw without stratification
        chosen, rest = train_test_split(list(records), train_size=size, random_state=seed)
    return _in_file_order(records, chosen), _in_file_order(records, rest)


def drllama_split(
    records: list[Record], train_size: int = 450, val_size: int = 50, test_size: int = 500
) -> Splits:
    """File order: the first `train_size` train, the next `val_size` validation, the next `test_size` test."""
    needed = train_size + val_size + test_size
    if len(records) < needed:
        raise ConfigError(
            f"the drllama split needs {needed} records ({train_size}+{val_size}+{test_size}) but the data has "
            f"{len(records)}: set data.split.train_size/val_size/test_size to fit"
        )
    return Splits(
        train=records[:train_size],
        validation=records[train_size : train_size + val_size],
        test=records[train_size + val_size : needed],
    )


@register_split("drllama")
def _drllama(dataset: dict[str, list[Record]], data_cfg: Any, path: str) -> Splits:
    if set(dataset) != {"train"}:
        raise ConfigError(
            f"data.split.name=drllama cuts one file in order, but this dataset has the splits "
            f"{', '.join(dataset)}: use data.split.name=own"
        )
    split_cfg = data_cfg.split
    sizes = [split_cfg.get(key) for key in ("train_size", "val_size", "test_size")]
    if any(size is None for size in sizes):
        raise ConfigError("data.split.name=drllama needs data.split.train_size, val_size and test_size")
    if str(sizes[1]).strip().lower() == "auto":
        raise ConfigError(
            "data.split.name=drllama cuts fixed sizes in file order: set data.split.val_size to an integer"
        )
    splits = drllama_split(dataset["train"], *(int(size) for size in sizes))
    splits.settings = {"val_size": len(splits.validation), "val_size_rule": "explicit"}
    return splits


@register_split("own")
def own_split(dataset: dict[str, list[Record]], data_cfg: Any, path: str) -> Splits:
    """The dataset's own train and test; its validation split if it ships one, else `split.val_size` records
    drawn from train (seeded with `split.seed`, stratified by label when `split.stratify`; whole groups of
    records sharing the input `split.keep_together`, when set)."""
    if "train" not in dataset or "test" not in dataset:
        raise ConfigError(
            f"{path} gives the splits {', '.join(dataset) or 'none'}, but data.split.name=own needs train and "
            "test: use data.split.name=drllama for one file, or name the files (reader option split_files)"
        )
    split_cfg = data_cfg.split
    if dataset.get("validation"):
        train, validation = list(dataset["train"]), list(dataset["validation"])
        sizing = {"val_size": len(validation), "val_size_rule": "dataset"}
    else:
        val_size, rule = validation_size(split_cfg, len(dataset["train"]), path_is_sample(data_cfg))
        sizing = {"val_size": val_size, "val_size_rule": rule}
        if val_size >= len(dataset["train"]):
            raise ConfigError(
                f"data.split.val_size={val_size} takes all {len(dataset['train'])} training records: lower it"
            )
        seed, together = int(split_cfg.get("seed") or 0), split_cfg.get("keep_together")
        if together:
            validation, train = draw_groups(dataset["train"], val_size, seed, str(together))
        else:
            validation, train = draw(dataset["train"], val_size, seed, bool(split_cfg.get("stratify", True)))
    return Splits(train=train, validation=validation, test=list(dataset["test"]), settings=sizing)


# `val_size: auto` on real files without a shipped dev set: this share of train, within these bounds (README
# "Data" gives the reasons: 50 items put a 95% interval of about +-11 points on an accuracy near 80%, 500 about
# +-3.5, and validation runs every epoch, so more than 500 costs time for little precision).
AUTO_VAL_SHARE, AUTO_VAL_MIN, AUTO_VAL_MAX = 0.1, 50, 500
# ... and never more than this share of a small file's train: the rest must still train.
AUTO_VAL_MAX_SHARE = 0.2


def path_is_sample(data_cfg: Any) -> bool:
    """Whether `data.path` names a bundled sample (`sample:NAME`)."""
    return str(data_cfg.get("path") or "").startswith("sample:")


def auto_validation_size(train_records: int) -> int:
    """Validation records drawn from `train_records` by `val_size: auto` on real files: 10% within [50, 500],
    at most a fifth of train (at least one record when train has two or more)."""
    size = min(max(round(AUTO_VAL_SHARE * train_records), AUTO_VAL_MIN), AUTO_VAL_MAX)
    size = min(size, int(AUTO_VAL_MAX_SHARE * train_records))
    return max(size, 1) if train_records >= 2 else 0


def validation_size(split_cfg: Any, train_records: int, sample: bool) -> tuple[int, str]:
    """(size, rule) of the validation draw: an integer `val_size` as given (explicit); `auto` on a bundled
    sample is the sample config's `sample_val_size` (sample), on real files `auto_validation_size` (auto)."""
    value = split_cfg.get("val_size")
    if value is None:
        value = "auto"
    if str(value).strip().lower() != "auto":
        try:
            return int(value), "explicit"
        except (TypeError, ValueError):
            raise ConfigError(
                f"data.split.val_size={value!r} is neither an integer nor auto: use e.g. 200, or auto"
            ) from None
    if sample and split_cfg.get("sample_val_size") is not None:
        return int(split_cfg.sample_val_size), "sample"
    return auto_validation_size(train_records), "auto"


def draw_groups(
    records: Sequence[Record], size: int, seed: int, field_name: str
) -> tuple[list[Record], list[Record]]:
    """(chosen, rest): whole groups of records sharing the input `field_name` (SQuAD's questions on one
    paragraph), drawn with `seed` until at least `size` records are chosen; both parts keep file order. A
    validation question whose paragraph also trains would be scored on text the student learned from."""
    groups: dict[str, list[Record]] = {}
    for record in records:
        if field_name not in record.inputs:
            raise ConfigError(
                f"data.split.keep_together={field_name!r} is not an input of record {record.id}: "
                f"use one of {', '.join(record.inputs)}, or null"
            )
        groups.setdefault(record.inputs[field_name], []).append(record)
    order = list(groups)
    random.Random(seed).shuffle(order)
    chosen: list[Record] = []
    for key in order:
        if len(chosen) >= size:
            break
        chosen += groups[key]
    if len(chosen) >= len(records):
        raise ConfigError(
            f"data.split.val_size={size} with keep_together={field_name} takes every one of the "
            f"{len(groups)} groups of the training records: lower val_size"
        )
    picked = {id(record) for record in chosen}
    return _in_file_order(records, chosen), [record for record in records if id(record) not in picked]


def split_dataset(dataset: dict[str, list[Record]], data_cfg: Any, path: str) -> Splits:
    name = data_cfg.split.name
    if name not in SPLITS:
        raise ConfigError(f"data.split.name={name!r} is unknown: use one of {', '.join(sorted(SPLITS))}")
    return SPLITS[name](dataset, data_cfg, path)


def limit_splits(splits: Splits, data_cfg: Any, stratify: bool) -> Splits:
    """`train_limit` (N) or `train_fraction` (F) draws the low-data seed set from train (seeded with
    `split.seed`, stratified by label for classification); `test_limit` keeps the first N test items."""
    limit, fraction = data_cfg.get("train_limit"), data_cfg.get("train_fraction")
    if limit is not None and fraction is not None:
        raise ConfigError("set data.train_limit or data.train_fraction, not both")
    if fraction is not None:
        if not 0 < float(fraction) <= 1:
            raise ConfigError(f"data.train_fraction={fraction} must be in (0, 1]")
        limit = max(1, round(float(fraction) * len(splits.train)))
    if limit is not None:
        if int(limit) < 1:
            raise ConfigError(f"data.train_limit={limit} must be at least 1")
        seed = int(data_cfg.split.get("seed") or 0)
        drawn_from = len(splits.train)
        splits.train, _ = draw(splits.train, int(limit), seed, stratify)
        splits.settings["seed_set_draw"] = {
            "from": drawn_from,  # training records after validation was drawn
            "drawn": len(splits.train),
            "stratified": stratify,
            "seed": seed,
        }
    test_limit = data_cfg.get("test_limit")
    if test_limit is not None:
        if int(test_limit) < 1:
            raise ConfigError(f"data.test_limit={test_limit} must be at least 1")
        splits.test = splits.test[: int(test_limit)]
    return splits


def official_split(
    records: list[Record],
    ground_truth: dict[str, str],
    ground_truth_path: str,
    val_size: int = 50,
    train_size: int | None = 450,
    seed: int = 0,
) -> Splits:
    """Test = exactly the ground-truth ids; validation and train drawn label-stratified from the rest."""
    from sklearn.model_selection import train_test_split

    by_id = {record.id: record for record in records}
    missing = [record_id for record_id in ground_truth if record_id not in by_id]
    if missing:
        raise DataError(
            ground_truth_path,
            missing[0],
            "is a test id not found in the data file",
            f"{len(missing)} missing",
        )
    for record_id, label in ground_truth.items():
        if by_id[record_id].target != label:
            raise DataError(
                ground_truth_path,
                record_id,
                f"says {label!r} but the data file says {by_id[record_id].target!r}",
            )
    test = [by_id[record_id] for record_id in ground_truth]
    rest = [record for record in records if record.id not in ground_truth]
    if train_size is not None and train_size + val_size > len(rest):
        raise ConfigError(
            f"official split: {train_size}+{val_size} requested but {len(rest)} non-test records"
        )
    train, validation = train_test_split(
        rest, test_size=val_size, random_state=seed, stratify=_stratify_labels(rest, True)
    )
    if train_size is not None and train_size < len(train):
        train, _ = train_test_split(
            train, train_size=train_size, random_state=seed, stratify=_stratify_labels(train, True)
        )
    return Splits(
        train=_in_file_order(records, train), validation=_in_file_order(records, validation), test=test
    )
