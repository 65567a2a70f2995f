"""Train/validation/test splits: Dr. LLaMA's file-order split and the official test set."""

from __future__ import annotations

from dataclasses import dataclass

from taskexpert.errors import ConfigError, DataError
from taskexpert.records import QARecord


@dataclass
class Splits:
    train: list[QARecord]
    validation: list[QARecord]
    test: list[QARecord]

    def ids(self) -> dict[str, list[str]]:
        return {
            name: [record.id for record in getattr(self, name)] for name in ("train", "validation", "test")
        }


def drllama_split(
    records: list[QARecord], train_size: int = 450, val_size: int = 50, test_size: int = 500
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


def official_split(
    records: list[QARecord],
    ground_truth: dict[str, str],
    ground_truth_path: str,
    val_size: int = 50,
    train_size: int | None = 450,
    seed: int = 0,
) -> Splits:
    """Test = exactly the ground-truth PMIDs; validation and train drawn label-stratified from the rest."""
    from sklearn.model_selection import train_test_split

    by_id = {record.id: record for record in records}
    missing = [pmid for pmid in ground_truth if pmid not in by_id]
    if missing:
        raise DataError(
            ground_truth_path,
            missing[0],
            "is a test PMID not found in the data file",
            f"{len(missing)} missing",
        )
    for pmid, label in ground_truth.items():
        if by_id[pmid].label != label:
            raise DataError(
                ground_truth_path, pmid, f"says {label!r} but the data file says {by_id[pmid].label!r}"
            )
    test = [by_id[pmid] for pmid in ground_truth]
    rest = [record for record in records if record.id not in ground_truth]
    if train_size is not None and train_size + val_size > len(rest):
        raise ConfigError(
            f"official split: {train_size}+{val_size} requested but {len(rest)} non-test records"
        )
    labels = [record.label for record in rest]
    stratify = labels if min(labels.count(label) for label in set(labels)) >= 2 else None
    train, validation = train_test_split(rest, test_size=val_size, random_state=seed, stratify=stratify)
    if train_size is not None and train_size < len(train):
        train_labels = [record.label for record in train]
        keep_stratified = min(train_labels.count(label) for label in set(train_labels)) >= 2
        train, _ = train_test_split(
            train,
            train_size=train_size,
            random_state=seed,
            stratify=train_labels if keep_stratified else None,
        )
    order = {record.id: index for index, record in enumerate(records)}  # keep file order inside each split
    return Splits(
        train=sorted(train, key=lambda r: order[r.id]),
        validation=sorted(validation, key=lambda r: order[r.id]),
        test=test,
    )
