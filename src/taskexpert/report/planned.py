"""Jobs a grid sweep planned but never started, read from the `multirun.yaml` Hydra writes at the sweep's top.

Hydra's basic sweeper stops at the first failed job, so a half-finished grid has jobs with no directory at all.
Other sweepers (Optuna) decide their trials as they go, so only their planned count is known.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from taskexpert.report.collect import Job

SWEEP_FILE = "multirun.yaml"


@dataclass
class SweepPlan:
    """What one `multirun.yaml` says about its jobs."""

    sweep_dir: Path
    planned_jobs: int | None = None  # None when the sweeper does not fix it in advance
    not_started: list[list[str]] = field(default_factory=list)  # override lists of jobs with no directory
    note: str = ""  # why the plan could not be matched against the job directories


def _grid_overrides(sweep_file: Path) -> list[list[str]] | None:
    """The job override lists of a basic-sweeper grid, expanded the way Hydra's sweeper expands them."""
    config = OmegaConf.load(sweep_file)
    sweeper = OmegaConf.select(config, "hydra.sweeper", default=None)
    if sweeper is None or not str(sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = sweeper.get("params")
    arguments = [f"{key}={value}" for key, value in (params.items() if params is not None else [])]
    arguments += [str(item) for item in OmegaConf.select(config, "hydra.overrides.task", default=[])]
    overrides = OverridesParser.create().parse_overrides(arguments)
    return BasicSweeper.split_arguments(overrides, None)[0]


def _trial_count(sweep_file: Path) -> int | None:
    n_trials = OmegaConf.select(OmegaConf.load(sweep_file), "hydra.sweeper.n_trials", default=None)
    return int(n_trials) if isinstance(n_trials, int) else None


def read_plan(sweep_file: Path, jobs: list[Job]) -> SweepPlan:
    """Compare the planned jobs of one sweep with the job directories found under it."""
    sweep_dir = sweep_file.parent
    plan = SweepPlan(sweep_dir=sweep_dir)
    try:
        grid = _grid_overrides(sweep_file)
        if grid is None:
            plan.planned_jobs = _trial_count(sweep_file)
            return plan
    except Exception as error:  # an unusual sweep syntax must not stop the report
        plan.note = f"{sweep_file}: could not expand the planned grid ({type(error).__name__}: {error})"
        return plan
    plan.planned_jobs = len(grid)
    started = {frozenset(job.overrides) for job in jobs if _is_under(job.path, sweep_dir)}
    planned = {frozenset(overrides) for overrides in grid}
    if not started <= planned:
        plan.note = (
            f"{sweep_file}: some job directories do not match the planned overrides, "
            "so jobs that never started cannot be named"
        )
        return plan
    plan.not_started = [overrides for overrides in grid if frozenset(overrides) not in started]
    return plan


def _is_under(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def read_plans(sweep_dir: Path, jobs: list[Job]) -> list[SweepPlan]:
    """One plan per `multirun.yaml` at or below `sweep_dir` (a parent of several sweeps has several)."""
    plans = []
    for root, dirs, files in os.walk(sweep_dir):
        if SWEEP_FILE in files:
            plans.append(read_plan(Path(root) / SWEEP_FILE, jobs))
        # a job directory holds logs and checkpoints, never another sweep
        dirs[:] = [] if ".hydra" in dirs else sorted(name for name in dirs if not name.startswith("."))
    return plans
