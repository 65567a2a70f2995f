"""Whole-dataset checks that single-record validation cannot see: duplicates and test leakage."""

from __future__ import annotations

from collections.abc import Iterable

from taskexpert.errors import DataError
from taskexpert.records import Record


def check_unique_ids(records: Iterable[Record], source: str) -> None:
    seen: set[str] = set()
    for record in records:
        if record.id in seen:
            raise DataError(f"{source}, record {record.id}", "id", "is a duplicate id", "ids must be unique")
        seen.add(record.id)


def check_no_test_leak(train: Iterable[Record], test_ids: set[str], source: str) -> None:
    """A training record may not be an evaluation (validation or test) item, nor be generated from one."""
    for record in train:
        if record.id in test_ids:
            raise DataError(
                f"{source}, record {record.id}",
                "id",
                "is an evaluation (validation/test) item inside the training data",
                "remove it from the training files or choose another split",
            )
        if record.parent_id in test_ids:
            raise DataError(
                f"{source}, record {record.id}",
                "parent_id",
                f"derives from evaluation (validation/test) item {record.parent_id}",
                "augmented data must come from training items only",
            )
