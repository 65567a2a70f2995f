"""Medians, spreads and paired ratios over the rounds of a benchmark."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def with_spread(values: Sequence[float], digits: int = 0, unit: str = "") -> str:
    """`median (min–max)`; a single value stands alone."""
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:,.{digits}f}{unit}"
    return f"{median(values):,.{digits}f}{unit} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def paired_ratios(values: Sequence[float], baselines: Sequence[float]) -> list[float]:
    """Round-by-round ratios: each run against the baseline run of the same round (same contention)."""
    return [value / base for value, base in zip(values, baselines, strict=False) if base]


def ratio_text(ratios: Sequence[float]) -> str:
    return with_spread(ratios, digits=2, unit="x")
