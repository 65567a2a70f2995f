"""Samplers and pruners from the sweeper config: `{name: tpe, seed: 0, ...}` -> an Optuna object.

A spec is a mapping with `name` (one of the short names below) or `_target_` (any importable class), and the
class's own keyword arguments beside it.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import Any

import optuna

from ._errors import SweepConfigError

SAMPLERS = {
    "tpe": "optuna.samplers.TPESampler",
    "random": "optuna.samplers.RandomSampler",
    "grid": "optuna.samplers.GridSampler",
    "cmaes": "optuna.samplers.CmaEsSampler",
}
PRUNERS = {
    "median": "optuna.pruners.MedianPruner",
    "hyperband": "optuna.pruners.HyperbandPruner",
    "percentile": "optuna.pruners.PercentilePruner",
    "successive_halving": "optuna.pruners.SuccessiveHalvingPruner",
    "threshold": "optuna.pruners.ThresholdPruner",
    "none": "optuna.pruners.NopPruner",
}


def sampler_name(spec: Any) -> str:
    return _short_name(spec, "sampler")


def pruner_name(spec: Any) -> str:
    return _short_name(spec, "pruner")


def _short_name(spec: Any, what: str) -> str:
    mapping = _as_mapping(spec, what)
    return str(mapping.get("name") or str(mapping.get("_target_", "?")).rsplit(".", 1)[-1])


def sampler_seed(spec: Any) -> int | None:
    """The spec's `seed`, when it is an integer."""
    seed = _as_mapping(spec, "sampler").get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def build_sampler(
    spec: Any, grid: Mapping[str, list[Any]] | None = None, seed: int | None = None
) -> optuna.samplers.BaseSampler:
    """`grid` (the value lists of every parameter) is required by, and only used for, the grid sampler.
    `seed`, when given, replaces the spec's own."""
    target, kwargs = _target_and_kwargs(spec, SAMPLERS, "sampler")
    if seed is not None:
        kwargs["seed"] = seed
    if target == SAMPLERS["cmaes"] and importlib.util.find_spec("cmaes") is None:
        raise SweepConfigError(
            "hydra.sweeper.sampler.name=cmaes needs the `cmaes` package: pip install cmaes"
        )
    if target == SAMPLERS["grid"]:
        kwargs = {"search_space": dict(grid or {}), **kwargs}
    return _construct(target, kwargs, "sampler")


def pruner_target(spec: Any) -> dict[str, Any]:
    """The pruner as a Hydra-instantiable mapping, which is how it travels to the jobs."""
    target, kwargs = _target_and_kwargs(spec, PRUNERS, "pruner")
    return {"_target_": target, **kwargs}


def build_pruner(spec: Any) -> optuna.pruners.BasePruner:
    target, kwargs = _target_and_kwargs(spec, PRUNERS, "pruner")
    return _construct(target, kwargs, "pruner")


def _as_mapping(spec: Any, what: str) -> Mapping[str, Any]:
    if spec is None:
        return {"name": "none"} if what == "pruner" else {"name": "tpe"}
    if isinstance(spec, str):  # `sampler: random` is short for `sampler: {name: random}`
        return {"name": spec}
    if not isinstance(spec, Mapping):
        raise SweepConfigError(
            f"hydra.sweeper.{what}: expected a mapping such as {{name: ...}}, got {spec!r}"
        )
    return spec


def _target_and_kwargs(spec: Any, names: Mapping[str, str], what: str) -> tuple[str, dict[str, Any]]:
    mapping = dict(_as_mapping(spec, what))
    name, target = mapping.pop("name", None), mapping.pop("_target_", None)
    if target is None:
        if name not in names:
            raise SweepConfigError(
                f"hydra.sweeper.{what}.name: unknown {what} {name!r}; choose one of {', '.join(names)} "
                f"or give hydra.sweeper.{what}._target_"
            )
        target = names[name]
    return target, mapping


def _construct(target: str, kwargs: dict[str, Any], what: str) -> Any:
    module_name, _, class_name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise SweepConfigError(f"hydra.sweeper.{what}._target_: cannot import {target!r}") from None
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        hint = ""
        if isinstance(error, TypeError):  # mostly a keyword left over from another sampler or pruner
            hint = (
                f"; drop a key with ~hydra.sweeper.{what}.KEY, add one with ++hydra.sweeper.{what}.KEY=VALUE"
            )
        raise SweepConfigError(
            f"hydra.sweeper.{what}: {class_name}({_kwargs_text(kwargs)}) failed: {error}{hint}"
        ) from None


def _kwargs_text(kwargs: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in kwargs.items() if key != "search_space")
