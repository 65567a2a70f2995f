"""From the `data` config to checked train/validation/test records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from taskexpert.data.checks import ExtraTrainCheck, check_unique_ids
from taskexpert.data.readers import read_ground_truth, read_records
from taskexpert.data.splits import Splits, drllama_split, official_split
from taskexpert.errors import ConfigError

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"


def resolve_data_path(path: str | None) -> str:
    """`sample:NAME` names a file of the bundled sample; anything else is a path or a hub id."""
    if not path:
        raise ConfigError(
            "data.path is not set: point it at ori_pqal.json, a JSONL/Parquet file, or a hub id"
        )
    if path.startswith("sample:"):
        return str(SAMPLE_DIR / path.removeprefix("sample:"))
    return path


def _split(records, data_cfg: Any, path: str) -> Splits:
    split_cfg = data_cfg.split
    if split_cfg.name == "drllama":
        return drllama_split(records, split_cfg.train_size, split_cfg.val_size, split_cfg.test_size)
    if split_cfg.name == "official":
        ground_truth_path = (
            resolve_data_path(data_cfg.ground_truth)
            if data_cfg.get("ground_truth")
            else str(Path(path).with_name("test_ground_truth.json"))
        )
        ground_truth = read_ground_truth(ground_truth_path)
        return official_split(
            records, ground_truth, ground_truth_path, split_cfg.val_size, split_cfg.train_size, split_cfg.seed
        )
    raise ConfigError(f"data.split.name={split_cfg.name!r} is unknown: use drllama or official")


def load_splits(data_cfg: Any) -> Splits:
    """Read the main data, split it, and mix in `extra_train` files after checking them for leaks."""
    path = resolve_data_path(data_cfg.path)
    hub_options = {"subset": data_cfg.get("subset"), "split": data_cfg.get("hub_split", "train")}
    records = read_records(
        path, data_cfg.get("format", "auto"), **(hub_options if data_cfg.get("format") == "hub" else {})
    )
    check_unique_ids(records, path)
    splits = _split(records, data_cfg, path)
    limit = data_cfg.get("train_limit")
    if limit is not None:  # a low-data study limits the seed set; augmented files still come on top
        splits.train = splits.train[:limit]
    extra_paths = [resolve_data_path(str(path)) for path in data_cfg.get("extra_train") or []]
    leak_check = (
        ExtraTrainCheck(splits.validation + splits.test, data_cfg.get("leak_check")) if extra_paths else None
    )
    for extra_path in extra_paths:
        extra = read_records(extra_path)
        check_unique_ids(extra, extra_path)
        leak_check.check(extra_path, extra)
        splits.train = splits.train + extra
    check_unique_ids(splits.train, "the training data (main file and data.extra_train)")
    return splits
