"""What one part of a run cost the teacher: the ledger's calls, tokens and cost between two readings.

Cached answers are free: their tokens (what they had cost when they were paid) are counted apart, as the
teacher's ledger does (teachers/ledger.py).
"""

from __future__ import annotations

from typing import Any

from taskexpert.teachers.teacher import TeacherStats

SPEND_KEYS = (
    "calls",
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "unreported_tokens",
    "cached_prompt_tokens",
    "cached_completion_tokens",
)


def reading(stats: TeacherStats) -> dict[str, int]:
    """The ledger's counters now."""
    return {key: int(getattr(stats, key)) for key in SPEND_KEYS}


def spend_since(before: dict[str, int], stats: TeacherStats) -> dict[str, Any]:
    """What was spent since `before` (a `reading`): the counters' differences and the paid tokens' cost (None
    when the model is unpriced)."""
    now = reading(stats)
    spent: dict[str, Any] = {key: now[key] - before[key] for key in SPEND_KEYS}
    price = stats.price
    cost = None if price is None else price.cost(spent["prompt_tokens"], spent["completion_tokens"])
    spent["cost_usd"] = None if cost is None else round(cost, 6)
    return spent
