"""From the `data` config to checked train/validation/test records of a task."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from taskexpert.data.checks import ExtraTrainCheck, check_unique_ids
from taskexpert.data.splits import Splits, limit_splits, split_dataset
from taskexpert.errors import ConfigError
from taskexpert.records import Record, read_jsonl, validate_record
from taskexpert.tasks.readers import READERS

LOG = logging.getLogger(__name__)
VAL_SIZE_REASONS = {
    "dataset": "the dataset's own validation split",
    "sample": "data.split.val_size=auto on a bundled sample: its sample_val_size",
    "auto": "data.split.val_size=auto: 10% of train within [50, 500], at most a fifth of train",
    "explicit": "data.split.val_size as set",
}
SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
# Top-level data keys a reader also receives as options (kept at the top level for older data configs).
READER_KEYS = ("format", "subset", "hub_split")


def resolve_data_path(path: str | None) -> str:
    """`sample:NAME` names a file or folder of the bundled samples; anything else is a path or a hub id."""
    if not path:
        raise ConfigError(
            "data.path is not set: point it at the dataset's file or folder (or a hub id with a hub reader)"
        )
    if path.startswith("sample:"):
        return str(SAMPLE_DIR / path.removeprefix("sample:"))
    return path


def reader_options(data_cfg: Any) -> dict[str, Any]:
    options = dict(data_cfg.get("options") or {})
    for key in READER_KEYS:
        if data_cfg.get(key) is not None:
            options.setdefault(key, data_cfg.get(key))
    return options


def _as_record(item: Record | dict[str, Any], source: str, where: str) -> Record:
    """A reader's raw example (id, inputs, target, reference, meta) as a record of `source`."""
    if isinstance(item, Record):
        return item
    return validate_record(Record(source=source, **item), where)


def read_main_data(data_cfg: Any, task: Any = None) -> tuple[dict[str, list[Record]], str]:
    """Split name -> records of `data.path` read by `data.reader`, each checked against the task."""
    path = resolve_data_path(data_cfg.path)
    reader = data_cfg.get("reader")
    if not reader:
        raise ConfigError("data.reader is not set: name the reader of the dataset's files (conf/data/*.yaml)")
    if reader not in READERS:
        raise ConfigError(f"data.reader={reader!r} is unknown: use one of {', '.join(sorted(READERS))}")
    raw = READERS[reader](Path(path), reader_options(data_cfg))
    source = task.name if task is not None else reader
    dataset = {}
    for split, items in raw.items():
        records = [_as_record(item, source, f"{path}, record {item_id(item)}") for item in items]
        if task is not None:
            for record in records:
                task.validate(record, f"{path}, record {record.id}")
        dataset[split] = records
    return dataset, path


def item_id(item: Record | dict[str, Any]) -> str:
    return item.id if isinstance(item, Record) else str(item.get("id"))


def read_extra(path: str, task: Any = None) -> list[Record]:
    """An augmented file (our JSONL record format, old or new), checked against the task."""
    records = read_jsonl(resolve_data_path(path))
    if task is not None:
        for record in records:
            task.validate(record, f"{path}, record {record.id}")
    return records


def seed_draw_text(data_cfg: Any) -> str:
    """How this run's seed set was drawn, for messages: "data.train_fraction=0.01", or "" for the whole split."""
    for key in ("train_fraction", "train_limit"):
        if data_cfg.get(key) is not None:
            return f"data.{key}={data_cfg.get(key)}"
    return ""


def load_splits(data_cfg: Any, task: Any = None) -> Splits:
    """Read the main data, split it, draw the low-data and test limits, and mix in `extra_train` files after
    checking them for leaks. `task` (a taskexpert.tasks.Task) checks every record's fields and target."""
    dataset, path = read_main_data(data_cfg, task)
    check_unique_ids([record for records in dataset.values() for record in records], path)
    stratify = task is not None and task.kind.name == "classification"
    splits = split_dataset(dataset, data_cfg, path)
    # the whole training split, before the low-data draw: what a seed set leaves out
    training_ids = {record.id for record in splits.train}
    splits = limit_splits(splits, data_cfg, stratify)
    sizing = splits.settings
    splits.settings = {
        **sizing,
        "reader": data_cfg.get("reader"),
        "path": path,
        "split": OmegaConf.to_container(data_cfg.split)
        if OmegaConf.is_config(data_cfg.split)
        else data_cfg.split,
        **{key: data_cfg.get(key) for key in ("train_limit", "train_fraction", "test_limit")},
        "seed_set_size": len(splits.train),  # before extra_train files are added
    }
    if "val_size_rule" in sizing:
        LOG.info(
            "validation: %d records (%s)", len(splits.validation), VAL_SIZE_REASONS[sizing["val_size_rule"]]
        )
    extra_paths = [resolve_data_path(str(extra_path)) for extra_path in data_cfg.get("extra_train") or []]
    leak_check = (
        ExtraTrainCheck(
            splits.validation + splits.test,
            data_cfg.get("leak_check"),
            task,
            seeds=splits.train,
            training_ids=training_ids,
            seed_draw=seed_draw_text(data_cfg),
        )
        if extra_paths
        else None
    )
    for extra_path in extra_paths:
        extra = read_extra(extra_path, task)
        check_unique_ids(extra, extra_path)
        leak_check.check(extra_path, extra)
        splits.train = splits.train + extra
    splits.settings["extra_train"] = extra_paths
    check_unique_ids(splits.train, "the training data (main file and data.extra_train)")
    return splits
