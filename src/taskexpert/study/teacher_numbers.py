"""What making an arm's data took from the teacher, read from each method's `augment_stats.json`.

`teacher_totals` there counts one augment.py process: its paid calls, its cache hits, the tokens of the paid
calls and the tokens the cache hits had cost when they were paid. An arm's answers are calls + cache hits, its
tokens those of every answer, paid now or earlier, and its cost those tokens priced (`teacher.pricing`), so a
study resumed after a kill reports what the data took, not what the last process happened to pay.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from taskexpert.errors import DataError
from taskexpert.teachers.ledger import Price

ZERO = {
    "answers": 0, "calls": 0, "cache_hits": 0, "failed": 0, "prompt_tokens": 0, "completion_tokens": 0,
    "unreported_tokens": 0, "paid_tokens": 0, "cost_usd": 0.0, "paid_cost_usd": 0.0, "budget_stop": None,
}  # fmt: skip
COUNTS = (
    "answers",
    "calls",
    "cache_hits",
    "failed",
    "prompt_tokens",
    "completion_tokens",
    "unreported_tokens",
)


def read_stats(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(
            str(path), "-", "does not exist", "the method did not finish: run the study again"
        ) from None
    except json.JSONDecodeError as error:
        raise DataError(
            str(path), "-", f"is not valid JSON ({error})", "delete the arm's directory"
        ) from None


def method_numbers(stats: dict[str, Any], price: Price | None) -> dict[str, Any]:
    """One augment.py run's teacher numbers (see the module's docstring); cost None = unpriced."""
    totals = stats.get("teacher_totals") or {}
    prompt = int(totals.get("prompt_tokens") or 0) + int(totals.get("cached_prompt_tokens") or 0)
    completion = int(totals.get("completion_tokens") or 0) + int(totals.get("cached_completion_tokens") or 0)
    calls, hits = int(totals.get("calls") or 0), int(totals.get("cache_hits") or 0)
    paid = int(totals.get("prompt_tokens") or 0) + int(totals.get("completion_tokens") or 0)
    return {
        "answers": calls + hits,
        "calls": calls,
        "cache_hits": hits,
        "failed": int(totals.get("failed") or 0),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "unreported_tokens": int(totals.get("unreported_tokens") or 0),
        "paid_tokens": paid,
        "cost_usd": None if price is None else round(price.cost(prompt, completion), 6),
        "paid_cost_usd": totals.get("cost_usd"),
        "budget_stop": totals.get("budget_stop") or stats.get("budget_stop"),
    }


def summed(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The numbers of several runs together; a cost is None as soon as one part is unpriced; the first budget
    stop is kept."""
    total = dict(ZERO)
    for part in parts:
        for key in (*COUNTS, "paid_tokens"):
            total[key] += int(part.get(key) or 0)
        for key in ("cost_usd", "paid_cost_usd"):
            total[key] = (
                None if total[key] is None or part.get(key) is None else round(total[key] + part[key], 6)
            )
        total["budget_stop"] = total["budget_stop"] or part.get("budget_stop")
    return total


def spent(numbers: dict[str, Any]) -> dict[str, float]:
    """What the paid calls of `numbers` took from a budget, by budget key."""
    return {
        "max_calls": numbers["calls"],
        "max_tokens": numbers["paid_tokens"],
        "max_cost": numbers["paid_cost_usd"] or 0.0,
    }


def budget_left(budget: dict[str, Any], used: dict[str, Any]) -> dict[str, Any]:
    """The caps left of a shared budget once `used` (summed numbers) was paid; never below 0."""
    taken = spent(used)
    left: dict[str, Any] = {}
    for key, cap in budget.items():
        remaining = max(0, cap - taken[key])
        left[key] = int(remaining) if key != "max_cost" else round(float(remaining), 6)
    return left


def exhausted(budget: dict[str, Any], left: dict[str, Any]) -> str | None:
    """The first shared cap with nothing left, named as a budget stop names it (`max_calls=48`)."""
    for key, value in left.items():
        if value <= 0:
            return f"{key}={budget[key]:g}" if key == "max_cost" else f"{key}={budget[key]}"
    return None
