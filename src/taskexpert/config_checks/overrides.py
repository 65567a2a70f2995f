"""Command-line overrides against the config: unknown groups, options and keys answered with the closest names."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from taskexpert.config_checks.command_line import shown
from taskexpert.config_checks.suggest import closest, listing, target_parameters
from taskexpert.errors import ConfigError

_ABSENT = object()


def override_values(override: Any) -> list[Any]:
    """The values an override sets: one, or each value of a sweep (`peft=lora,prefix`)."""
    if override.is_sweep_override():
        try:
            return list(override.sweep_string_iterator())
        except Exception:  # ranges and intervals: no list of names to check
            return []
    value = override.value()
    return list(value) if isinstance(value, list) else [value]


def value_text(override: Any) -> str:
    """The value as written, for a corrected override; masked when the key is secret-named."""
    return shown(override.input_line or "=").split("=", 1)[1] if "=" in (override.input_line or "") else ""


def check_group_choices(overrides: list[Any], groups: set[str], options_of) -> None:
    """`model=llama7b` -> did you mean model=llama_7b (each option of a group override must exist)."""
    for override in overrides:
        group = override.key_or_group
        if group not in groups or override.is_delete():
            continue
        options = options_of(group)
        for value in override_values(override):
            if value is None or not isinstance(value, str) or value in options:
                continue
            match = closest(value, options)
            fix = f"did you mean {group}={match[0]}?" if match else f"use one of: {listing(options)}"
            raise ConfigError(f"{group}={value}: the group {group} has no option {value!r}: {fix}")


def select(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=False)


def _deepest_node(cfg: DictConfig, parts: list[str]) -> tuple[DictConfig, list[str]]:
    """The deepest existing mapping along `parts` (excluding the last part), and its path."""
    node, path = cfg, []
    for part in parts[:-1]:
        child = node._get_node(part) if part in node else None
        if not isinstance(child, DictConfig) or child._is_none():
            break
        node, path = child, [*path, part]
    return node, path


def unknown_key_message(cfg: DictConfig, override: Any, groups: set[str]) -> str | None:
    """Why a `key=value` / `~key` override cannot apply to `cfg` and what to write instead; None if it can."""
    key = override.key_or_group
    if key in groups or override.is_force_add():
        return None
    exists = select(cfg, key) is not _ABSENT
    value = value_text(override)
    if override.is_add():
        return f"{key} is already in the config: drop the +, write {key}={value}" if exists else None
    if exists:
        return None
    parts = key.split(".")
    node, path = _deepest_node(cfg, parts)
    missing = parts[len(path)]
    candidates = [str(name) for name in node]
    if not path:  # a group left unset (`sweep: null`, `logger=null`) is no key, but is a valid name here
        choices = OmegaConf.select(cfg, "hydra.runtime.choices", default={}) or {}
        candidates += [str(group) for group in choices if not str(group).startswith("hydra")]
        candidates = [name for name in candidates if name != "hydra"]
    match = closest(missing, candidates)
    if match:
        fixed = ".".join([*path, match[0], *parts[len(path) + 1 :]])
        action = f"~{fixed}" if override.is_delete() else f"{fixed}={value}"
        return f"{key} is not a key of the config: did you mean {action}?"
    if override.is_delete():
        return f"~{key}: there is no {key} in the config to delete"
    target = node.get("_target_") if len(path) == len(parts) - 1 else None
    if target:
        parameters = target_parameters(str(target))
        if parameters is None or missing in parameters:
            return (
                f"{key} is not in the config file, but {target} takes {missing}: add it with +{key}={value}"
            )
        match = closest(missing, parameters)
        if match:
            return f"{target} has no argument {missing}: did you mean +{'.'.join([*path, match[0]])}={value}?"
    where = ".".join(path) or "the top level"
    return (
        f"{key} is not a key of the config ({where} has: {listing(candidates)}): "
        f"check the spelling, or add a new key with +{key}={value}"
    )


def check_added_keys_against_targets(overrides: list[Any], cfg: DictConfig) -> None:
    """`+peft.lora_alfa=64` -> peft.LoraConfig has no argument lora_alfa: did you mean peft.lora_alpha=64.

    A key added under a node that Hydra instantiates (`_target_`) must be an argument of that class; checked
    here, before any import of the model stack, instead of failing inside the class with a TypeError.
    """
    for override in overrides:
        if not (override.is_add() or override.is_force_add()) or override.is_hydra_override():
            continue
        parts = override.key_or_group.split(".")
        for depth in range(len(parts) - 1, 0, -1):
            node = select(cfg, ".".join(parts[:depth]))
            if not isinstance(node, DictConfig) or "_target_" not in node:
                continue
            argument, target = parts[depth], str(node._target_)
            parameters = target_parameters(target)
            if parameters is None or argument in parameters:
                break
            value = value_text(override)
            match = closest(argument, parameters)
            prefix = ".".join(parts[:depth])
            if not match:
                raise ConfigError(
                    f"{shown(override.input_line)}: {target} has no argument {argument!r} "
                    f"(it takes: {listing(parameters)})"
                )
            plus = "" if match[0] in node else "+"
            raise ConfigError(
                f"{shown(override.input_line)}: {target} has no argument {argument!r}: "
                f"did you mean {plus}{prefix}.{match[0]}={value}?"
            )
