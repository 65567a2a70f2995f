"""The filter protocol: records in, kept records and dropped ones (with a reason) out, order preserved."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from taskexpert.records import Record


@dataclass(frozen=True)
class Dropped:
    record: Record
    reason: str  # short code counted in augment_stats.json: duplicate_exact, contamination, ...
    detail: str = ""  # what it collided with, for augment_rejected.jsonl


class RecordFilter(Protocol):
    name: str

    def apply(self, records: list[Record]) -> tuple[list[Record], list[Dropped]]: ...


def apply_filters(
    filters: Sequence[RecordFilter], records: list[Record]
) -> tuple[list[Record], list[Dropped]]:
    """Run the filters in order; each sees only what the previous ones kept."""
    dropped: list[Dropped] = []
    for record_filter in filters:
        records, newly_dropped = record_filter.apply(records)
        dropped.extend(newly_dropped)
    return records, dropped


def count_reasons(dropped: Sequence[Dropped]) -> Counter:
    return Counter(item.reason for item in dropped)
