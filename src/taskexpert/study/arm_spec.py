"""What a data arm asks for, read from the job's `data_arm` config and checked before any teacher is called."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from taskexpert.errors import ConfigError

BUDGET_KEYS = ("max_calls", "max_tokens", "max_cost")
ROUNDS_METHOD = "llm2llm"  # the one method whose data grows in rounds


@dataclass(frozen=True)
class ArmSpec:
    name: str  # the arm's name in reports and in its data directory
    methods: tuple[str, ...]  # augment.py methods, run in order
    rounds: int | None = None  # llm2llm: records added in rounds 1..rounds
    budget: dict[str, Any] = field(default_factory=dict)  # shared caps on paid calls; only the set ones

    @property
    def makes_data(self) -> bool:
        return bool(self.methods)

    @property
    def in_rounds(self) -> bool:
        return self.methods == (ROUNDS_METHOD,)

    def data_dir(self, augment_dir: str | Path, augment_seed: int) -> Path:
        return Path(augment_dir).absolute() / f"{self.name}_a{augment_seed}"


def arm_from_config(node: Any) -> ArmSpec:
    """The arm of `cfg.data_arm`; no node (configs composed before arms existed) = the `none` arm."""
    if node is None:
        return ArmSpec(name="none", methods=())
    arm = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node)
    name = str(arm.get("name") or "")
    if not name or "/" in name:
        raise ConfigError(f"data_arm.name={name!r} must be a non-empty name without '/'")
    methods = tuple(str(method) for method in arm.get("methods") or ())
    if len(set(methods)) != len(methods):
        raise ConfigError(f"data_arm.methods={list(methods)} names a method twice: each runs once per arm")
    rounds = arm.get("rounds")
    if ROUNDS_METHOD in methods:
        if methods != (ROUNDS_METHOD,):
            raise ConfigError(
                f"data_arm.methods={list(methods)}: llm2llm makes an arm by itself, not in a mix"
            )
        if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
            raise ConfigError(
                f"data_arm.rounds={rounds!r}: an llm2llm arm needs rounds >= 1 (data_arm.rounds=3)"
            )
    elif rounds is not None:
        raise ConfigError(f"data_arm.rounds={rounds!r} applies to llm2llm arms only: set it to null")
    budget = {key: value for key, value in dict(arm.get("budget") or {}).items() if value is not None}
    unknown = sorted(set(budget) - set(BUDGET_KEYS))
    if unknown:
        raise ConfigError(f"data_arm.budget.{unknown[0]} is unknown: use {', '.join(BUDGET_KEYS)}")
    for key, value in budget.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"data_arm.budget.{key}={value!r} must be a number >= 0 (or null for no cap)")
    return ArmSpec(name=name, methods=methods, rounds=rounds if methods else None, budget=budget)
