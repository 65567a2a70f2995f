"""Studies (`sweep=NAME`, `key=a,b`) need `-m`; a study's swept keys must exist; every job's inputs must exist."""

from __future__ import annotations

import copy
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from taskexpert.config_checks.command_line import shown, suggested_command
from taskexpert.config_checks.inputs import check_data_files
from taskexpert.config_checks.overrides import check_group_choices, unknown_key_message
from taskexpert.errors import ConfigError

STUDY_GROUP = "sweep"
MAX_JOBS_CHECKED = 2000  # a grid larger than this is checked on its first jobs only


def refuse_sweeps_without_multirun(overrides: list[Any], program: str, arguments: list[str]) -> None:
    """A study or a list of values on a single run: say to add -m (Hydra would run one job, or fail)."""
    command = suggested_command(program, arguments, add_multirun=True)
    for override in overrides:
        if override.key_or_group == STUDY_GROUP and not override.is_delete() and override.value() is not None:
            raise ConfigError(f"{shown(override.input_line)} is a study of several jobs: add -m ({command})")
        if override.is_sweep_override():
            raise ConfigError(
                f"{shown(override.input_line)} gives several values: add -m to run one job per value ({command}), "
                f"or write {override.key_or_group}=[...] for one list value"
            )


def swept_parameters(cfg: DictConfig) -> dict[str, str]:
    """The study file's `hydra.sweeper.params` (key -> sweep text)."""
    params = OmegaConf.select(cfg, "hydra.sweeper.params", default=None)
    if params is None:
        return {}
    return {str(key): str(value) for key, value in params.items()}


def check_swept_keys(cfg: DictConfig, groups: set[str], options_of) -> None:
    """Each key a study sweeps must be a group with those options or a key of the config."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    study = cfg.hydra.runtime.choices.get(STUDY_GROUP)
    where = f"sweeps/{study}.yaml" if study else "hydra.sweeper.params"
    for key, value in swept_parameters(cfg).items():
        try:
            override = parser.parse_override(f"{key}={value}")
        except Exception:  # the sweeper's own syntax; it reports its errors itself
            continue
        try:
            check_group_choices([override], groups, options_of)
        except ConfigError as error:
            raise ConfigError(f"{where} sweeps {error}") from None
        problem = unknown_key_message(cfg, override, groups)
        if problem:
            raise ConfigError(f"{where} sweeps {problem}")


def job_overrides(cfg: DictConfig, command_overrides: list[Any]) -> list[list[str]]:
    """The override list of every job of a grid study, as Hydra's basic sweeper expands it."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not str(OmegaConf.select(cfg, "hydra.sweeper._target_", default="")).endswith("BasicSweeper"):
        return []
    arguments = [f"{key}={value}" for key, value in swept_parameters(cfg).items()]
    arguments += [o.input_line for o in command_overrides if not o.is_hydra_override()]
    parsed = OverridesParser.create().parse_overrides(arguments)
    return BasicSweeper.split_arguments(parsed, None)[0][:MAX_JOBS_CHECKED]


def check_jobs_inputs(cfg: DictConfig, command_overrides: list[Any], groups: set[str]) -> None:
    """Every job's input files exist (e.g. the augmented sets of sweeps/drllama_table.yaml), before any job runs."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    jobs = job_overrides(cfg, command_overrides)
    shared = set.intersection(*(set(overrides) for overrides in jobs)) if jobs else set()
    for overrides in jobs:
        job_cfg = copy.deepcopy(cfg)
        with open_dict(job_cfg):
            for line in overrides:
                override = parser.parse_override(line)
                if override.key_or_group in groups or override.is_delete():
                    continue
                OmegaConf.update(job_cfg, override.key_or_group, override.value(), merge=True, force_add=True)
        try:
            check_data_files(job_cfg.data)
        except ConfigError as error:
            swept = " ".join(shown(line) for line in overrides if line not in shared)
            raise ConfigError(f"the job with {swept}: {error}" if swept else str(error)) from None
