"""Read the jobs of a sweep: one `Job` per directory holding `.hydra/config.yaml`."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from taskexpert.errors import TaskExpertError
from taskexpert.tasks import Task, build_task, load_task

# PEFT config class -> (method name used in reports, the hyperparameter the Dr. LLaMA sweeps vary)
PEFT_METHODS: dict[str, tuple[str, str | None]] = {
    "LoraConfig": ("lora", "lora_alpha"),
    "PrefixTuningConfig": ("prefix", "num_virtual_tokens"),
    "PromptTuningConfig": ("prompt", "num_virtual_tokens"),
    "PromptEncoderConfig": ("p_tuning", "num_virtual_tokens"),
}
FULL_FINE_TUNING = "full"
METHOD_HYPERPARAMETER_KEYS = {f"peft.{name}" for _, name in PEFT_METHODS.values() if name}
# Override keys that are columns of their own, never extra grouping columns.
RESERVED_KEYS = {"seed", "peft", "model", "task", *METHOD_HYPERPARAMETER_KEYS}
HEADLINE_MEASURES = 2  # the first columns of a task's own results table are the report's columns
# Bookkeeping a sweeper adds to each job (different in every job), not a setting: Hydra's own keys, and the
# Optuna trial handle (`++optuna_trial.trial_id=...`) that the taskexpert Optuna sweeper passes for pruning.
BOOKKEEPING_PREFIXES = ("hydra.", "hydra/", "optuna_trial.")

# Hydra's own grid sweeper: its params are the grid's axes. Any other sweeper (Optuna's) samples its params.
GRID_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
# A root key a PEFT hyperparameter takes its value from (`lora_alpha: ${oc.select:peft_hparam,32}`)
INTERPOLATED_KEY = re.compile(r"\$\{\s*(?:oc\.select\s*:\s*)?([A-Za-z_][\w.]*)")

DONE, PRUNED, MISSING, INVALID = "done", "pruned", "missing", "invalid"


class ReportError(TaskExpertError):
    """A sweep directory that cannot be reported on."""


@dataclass
class Job:
    """One job of a sweep, finished or not."""

    job: str  # the job directory relative to the sweep directory ("." when the sweep dir is the run)
    path: Path
    status: str  # done | pruned | missing | invalid
    reason: str = ""  # why a job has no results
    model: str = "unknown"
    method: str = "unknown"
    hyperparameter: str | None = None
    value: float | None = None
    seed: int | None = None
    overrides: list[str] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)  # override key -> the value the job ran with
    sampled: frozenset[str] = frozenset()  # setting keys a study's sampler chose (Optuna), not held fixed
    metrics: dict[str, float] = field(default_factory=dict)
    task: str = "unknown"
    measures: tuple[str, ...] = ()  # the task's headline measures, e.g. ("exact_match", "parse_failure_rate")
    titles: dict[str, str] = field(default_factory=dict)  # measure -> its title in the task's results table
    optimized_metric: str | None = None  # what the job returned to its sweeper: the task's metric by default
    task_problem: str = ""  # why the task could not be read (its numbers are then in runs.csv only)
    definition: Task | None = field(default=None, repr=False)  # the task object, to recompute its metrics


def find_run_dirs(sweep_dir: Path) -> list[Path]:
    """Every directory under `sweep_dir` (itself included) that holds `.hydra/config.yaml`, in natural order.

    A run directory's own sub-directories are not searched: they hold checkpoints and logs, not jobs.
    """
    found = []
    for root, dirs, _ in os.walk(sweep_dir):
        if (Path(root) / ".hydra" / "config.yaml").is_file():
            found.append(Path(root))
            dirs.clear()
            continue
        dirs[:] = [name for name in dirs if not name.startswith(".")]
    return sorted(found, key=lambda path: _natural_key(path.relative_to(sweep_dir).as_posix()))


def _natural_key(text: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def method_of(peft_node: Any) -> tuple[str, str | None]:
    """(method, hyperparameter name) from the job's `peft` node; None means full fine-tuning."""
    if peft_node is None:
        return FULL_FINE_TUNING, None
    target = str(peft_node.get("_target_", "")) if isinstance(peft_node, DictConfig) else ""
    class_name = target.rsplit(".", 1)[-1]
    if class_name in PEFT_METHODS:
        return PEFT_METHODS[class_name]
    return (class_name.removesuffix("Config").lower() or "unknown"), None


def override_key(override: str) -> str:
    """`+peft.r=8` -> `peft.r`; `~logger` -> `logger`."""
    key = override.split("=", 1)[0]
    return key.lstrip("+~")


def _select(config: DictConfig, key: str) -> Any:
    return OmegaConf.select(config, key, default=None, throw_on_resolution_failure=False)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as it was written on the command line, not Python's True
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _load_yaml(path: Path) -> Any:
    try:
        return OmegaConf.load(path)
    except Exception as error:  # a broken YAML file must not stop the report on the whole sweep
        raise ReportError(f"{path}: cannot be read as YAML ({error})") from None


def _hydra_config(run_dir: Path) -> DictConfig | None:
    """The job's `.hydra/hydra.yaml` (the sweeper and the group choices), None when absent or unreadable."""
    hydra_file = run_dir / ".hydra" / "hydra.yaml"
    if not hydra_file.is_file():
        return None
    try:
        loaded = _load_yaml(hydra_file)
    except ReportError:
        return None
    return loaded if isinstance(loaded, DictConfig) else None


def sampled_keys(hydra_config: DictConfig | None) -> frozenset[str]:
    """The keys a sampling sweeper (not Hydra's grid) chose per trial: one value per trial, not a setting
    the study holds fixed while it compares methods."""
    if hydra_config is None:
        return frozenset()
    sweeper = _select(hydra_config, "hydra.sweeper._target_")
    params = _select(hydra_config, "hydra.sweeper.params")
    if sweeper in (None, GRID_SWEEPER) or not OmegaConf.is_dict(params):
        return frozenset()
    return frozenset(str(key).lstrip("+~") for key in params)


def hyperparameter_sources(config: DictConfig, hyperparameter: str | None) -> set[str]:
    """The root keys the method's hyperparameter is interpolated from: a study's one axis for every method
    (`peft_hparam`) is that method's hyperparameter, so it is the grid, not a setting that splits groups."""
    if hyperparameter is None or not OmegaConf.is_dict(_select(config, "peft")):
        return set()
    written = OmegaConf.to_container(config.peft, resolve=False).get(hyperparameter)
    return set(INTERPOLATED_KEY.findall(written)) if isinstance(written, str) else set()


def _settings(
    config: DictConfig, overrides: list[str], hydra_config: DictConfig | None, axis: set[str]
) -> dict[str, str]:
    """The value each overridden key had in this job: a group's chosen option, or the composed config value.
    `axis`: keys that are the method's hyperparameter under another name, left out like it."""
    choices = dict(_select(hydra_config, "hydra.runtime.choices") or {}) if hydra_config is not None else {}
    settings = {}
    for override in overrides:
        key = override_key(override)
        if (
            key in RESERVED_KEYS
            or key in axis
            or key.startswith(BOOKKEEPING_PREFIXES)
            or key == "optuna_trial"
        ):
            continue
        if key in choices:
            settings[key] = _as_text(choices[key])
            continue
        written = "(deleted)" if override.startswith("~") else override.split("=", 1)[-1]
        value = _select(config, key)
        # a whole config node means a group choice whose name only the override knows
        settings[key] = written if value is None or OmegaConf.is_config(value) else _as_text(value)
    return settings


@lru_cache(maxsize=1)
def _default_task() -> Task:
    return load_task()


def _read_task(job: Job, config: DictConfig) -> None:
    """The job's task as its config defines it; a run from before tasks were configurable has no `task` node
    and ran the default task. The task's name becomes a setting, so jobs of different tasks never average."""
    node = _select(config, "task")
    try:
        task = _default_task() if node is None else build_task(node)
    except (
        Exception
    ) as error:  # a task file changed since the run must not stop the report on the whole sweep
        job.task = _as_text(_select(config, "task.name") or "unknown")
        job.task_problem = f"its task cannot be read ({error})"
    else:
        job.task, job.definition = task.name, task
        columns = task.kind.table_columns(task)
        job.measures = tuple(name for name, _ in columns[:HEADLINE_MEASURES])
        job.titles = dict(columns)
        job.optimized_metric = task.optimized_metric
    optimized = _select(config, "optimized_metric")  # the run's own choice wins over its task's
    if isinstance(optimized, str) and optimized:
        job.optimized_metric = optimized
    if node is not None:
        job.settings = {"task": job.task, **job.settings}


def _scalar_metrics(payload: dict[str, Any]) -> dict[str, float]:
    """The numbers of metrics.json (confusion matrices and flags left out); counts stay integers."""
    return {
        name: value
        for name, value in payload.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    }


def _read_metrics(job: Job) -> None:
    metrics_file = job.path / "metrics.json"
    if not metrics_file.is_file():
        job.status, job.reason = MISSING, "no metrics.json (still running, failed or stopped)"
        return
    try:
        payload = json.loads(metrics_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        job.status, job.reason = INVALID, f"metrics.json is not valid JSON ({error})"
        return
    if not isinstance(payload, dict):
        job.status, job.reason = INVALID, "metrics.json does not hold a JSON object"
        return
    job.metrics = _scalar_metrics(payload)
    if payload.get("pruned"):
        job.status, job.reason = PRUNED, "pruned by the sweeper (left out of the averages)"
    else:
        job.status = DONE


def read_job(run_dir: Path, sweep_dir: Path) -> Job:
    """Read one job directory. Problems with its files become its status, not an exception."""
    job = Job(job=run_dir.relative_to(sweep_dir).as_posix(), path=run_dir, status=MISSING)
    try:
        config = _load_yaml(run_dir / ".hydra" / "config.yaml")
        overrides_file = run_dir / ".hydra" / "overrides.yaml"
        overrides = _load_yaml(overrides_file) if overrides_file.is_file() else []
    except ReportError as error:
        job.status, job.reason = INVALID, str(error)
        return job
    if not isinstance(config, DictConfig):
        job.status, job.reason = INVALID, f"{run_dir / '.hydra' / 'config.yaml'} does not hold a mapping"
        return job
    job.overrides = [str(item) for item in overrides] if OmegaConf.is_list(overrides) else []
    job.model = _as_text(_select(config, "model.name") or "unknown")
    job.method, job.hyperparameter = method_of(_select(config, "peft"))
    if job.hyperparameter is not None:
        value = _select(config, f"peft.{job.hyperparameter}")
        job.value = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    seed = _select(config, "seed")
    job.seed = int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else None
    hydra_config = _hydra_config(run_dir)
    axis = hyperparameter_sources(config, job.hyperparameter)
    job.settings = _settings(config, job.overrides, hydra_config, axis)
    job.sampled = frozenset(key for key in sampled_keys(hydra_config) if key in job.settings)
    _read_task(job, config)
    _read_metrics(job)
    return job


def collect_jobs(sweep_dir: str | Path) -> list[Job]:
    """All jobs of the sweep in `sweep_dir`; a clear error when there is nothing to report on."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.exists():
        raise ReportError(
            f"{sweep_dir}: no such directory (give the sweep directory, e.g. outputs/multirun/<time>)"
        )
    if not sweep_dir.is_dir():
        raise ReportError(f"{sweep_dir}: is a file, not a sweep directory")
    run_dirs = find_run_dirs(sweep_dir)
    if not run_dirs:
        raise ReportError(
            f"{sweep_dir}: holds no runs (no sub-directory with .hydra/config.yaml); "
            "is this the directory a multirun wrote, e.g. outputs/multirun/<time>?"
        )
    return [read_job(run_dir, sweep_dir) for run_dir in run_dirs]


def split_settings(jobs: list[Job]) -> tuple[list[str], dict[str, str]]:
    """(keys whose value differs between jobs, {key: value} of keys that are the same in every job).

    Varying keys become grouping columns; fixed ones are reported once. A key missing from some jobs varies.
    """
    keys: list[str] = []
    for job in jobs:
        keys.extend(key for key in job.settings if key not in keys)
    varying, fixed = [], {}
    for key in keys:
        values = {job.settings.get(key) for job in jobs}
        if len(values) == 1 and None not in values:
            fixed[key] = values.pop()
        else:
            varying.append(key)
    return varying, fixed
