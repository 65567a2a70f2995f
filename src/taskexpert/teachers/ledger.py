"""What the teacher cost: tokens of paid calls priced per model, and the budget that stops a run.

`teacher.pricing` maps a model name to USD per million input and output tokens; a model not in it is unpriced
(its tokens are counted, its cost is None). `teacher.budget` caps paid calls, their tokens and their cost;
answers from the cache are free and never count. The call cap is exact; a token or cost cap is checked between
groups of as many calls as the backend runs at once (its `max_concurrency`, `batch_size` or `chunk_size`; `BUDGET_GROUP` when it
says none), so a run overshoots it by at most one group's spend and a cap never slows the calls down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskexpert.errors import ConfigError

BUDGET_GROUP = (
    8  # calls sent between two checks of a token or cost cap, for a backend that runs no set number at once
)
BUDGET_ERROR = "budget"  # TeacherResponse.error of a request left unasked because the budget was spent


@dataclass(frozen=True)
class Price:
    input: float  # USD per million prompt tokens
    output: float  # USD per million completion tokens

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


def price_for(pricing: Any, model: str) -> Price | None:
    """The model's price from a `teacher.pricing` table, or None when it is not listed (unpriced)."""
    entry = (pricing or {}).get(model)
    if entry is None:
        return None
    try:
        return Price(float(entry["input"]), float(entry["output"]))
    except (KeyError, TypeError, ValueError):
        raise ConfigError(
            f"teacher.pricing.{model} must be {{input: USD per 1M tokens, output: USD per 1M tokens}}, "
            f"got {entry!r}"
        ) from None


@dataclass(frozen=True)
class Budget:
    """Caps on paid calls; None = no cap."""

    max_calls: int | None = None
    max_tokens: int | None = None
    max_cost: float | None = None

    @classmethod
    def from_config(cls, block: Any) -> Budget:
        block = dict(block or {})
        unknown = set(block) - {"max_calls", "max_tokens", "max_cost"}
        if unknown:
            raise ConfigError(
                f"teacher.budget.{sorted(unknown)[0]} is unknown: use max_calls, max_tokens, max_cost"
            )
        values = {name: block.get(name) for name in ("max_calls", "max_tokens", "max_cost")}
        for name, value in values.items():
            if value is not None and float(value) < 0:
                raise ConfigError(f"teacher.budget.{name}={value} must be >= 0 (or null for no cap)")
        return cls(
            None if values["max_calls"] is None else int(values["max_calls"]),
            None if values["max_tokens"] is None else int(values["max_tokens"]),
            None if values["max_cost"] is None else float(values["max_cost"]),
        )

    def room(
        self, wanted: int, calls: int, tokens: int, cost: float | None, group: int = BUDGET_GROUP
    ) -> tuple[int, str | None]:
        """How many of `wanted` calls may be sent now, given what was spent, a token or cost cap checked again
        after each `group` calls; with the cap that stops the rest, when one does."""
        if self.max_tokens is not None and tokens >= self.max_tokens:
            return 0, f"max_tokens={self.max_tokens}"
        if self.max_cost is not None and cost is not None and cost >= self.max_cost:
            return 0, f"max_cost={self.max_cost:g}"
        room = wanted
        if self.max_tokens is not None or (self.max_cost is not None and cost is not None):
            room = min(room, max(1, group))
        if self.max_calls is not None:
            left = self.max_calls - calls
            if left <= 0:
                return 0, f"max_calls={self.max_calls}"
            room = min(room, left)
        return room, None
