"""Required keys (`???`) really required, even when a file they inherit from gives a value.

OmegaConf's merge keeps an existing value when the file merged later says `???`, so a data option that inherits
the sample's path and marks `path: ???` would quietly read the sample. We replay the defaults list
in Hydra's merge order and track, per key, whether the last word on it was `???`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from taskexpert.config_docs import example_assignment, key_comments
from taskexpert.errors import ConfigError

MISSING = "???"


def _leaves(node: Any, prefix: str) -> list[tuple[str, Any]]:
    if isinstance(node, dict) and node:
        leaves = []
        for key, value in node.items():
            leaves += _leaves(value, f"{prefix}.{key}" if prefix else str(key))
        return leaves
    return [(prefix, node)]


def _forget(required: dict[str, tuple[Path, str]], key: str) -> None:
    """`key` received a value: it, and every required key below it, is settled."""
    for name in [name for name in required if name == key or name.startswith(f"{key}.")]:
        del required[name]


def unset_required_keys(
    defaults: list[Any], conf_dir: Path, set_keys: list[str]
) -> dict[str, tuple[Path, str]]:
    """Keys whose last assignment along `defaults` (Hydra's ResultDefault list, in merge order) is `???` and
    that none of `set_keys` (command-line overrides, swept keys) sets: key -> (the file requiring it, its package)."""
    required: dict[str, tuple[Path, str]] = {}
    for default in defaults:
        if default.config_path is None:
            continue
        path = conf_dir / f"{default.config_path}.yaml"
        if not path.is_file():  # Hydra's own configs, shipped in its package
            continue
        raw = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        if not isinstance(raw, dict):
            continue
        raw.pop("defaults", None)
        package = default.package or ""
        for key, value in _leaves(raw, package):
            if not key:
                continue
            _forget(required, key)
            if value == MISSING:
                required[key] = (path, package)
    for key in set_keys:
        _forget(required, key)
    return required


def missing_values(node: Any, prefix: str = "") -> list[str]:
    """Keys whose composed value is `???`, found without resolving interpolations (Hydra's are unset here)."""
    found = []
    if isinstance(node, DictConfig) and not node._is_none() and not node._is_missing():
        for key in node:
            if not prefix and key == "hydra":
                continue
            child = node._get_node(key)
            name = f"{prefix}.{key}" if prefix else str(key)
            found += [name] if child._is_missing() else missing_values(child, name)
    return found


def check_required_keys(defaults: list[Any], conf_dir: Path, set_keys: list[str], cfg: DictConfig) -> None:
    """One line per the first unset required key, with the example value its comment gives."""
    unset: dict[str, tuple[Path, str] | None] = dict(unset_required_keys(defaults, conf_dir, set_keys))
    for key in missing_values(cfg):  # `???` left by anything else (e.g. a structured config)
        unset.setdefault(key, None)
    for key, origin in unset.items():
        fix, where = None, ""
        if origin is not None:
            path, package = origin
            relative = key[len(package) + 1 :] if package else key
            fix = example_assignment(key_comments(path).get(relative, ""), key)
            where = f" by {path.relative_to(conf_dir.parent)}"
        raise ConfigError(f"{key} is required{where} and not set: set {fix or key + '=<value>'}")
