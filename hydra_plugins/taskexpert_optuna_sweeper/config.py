"""The sweeper's structured config, registered as `hydra/sweeper: taskexpert_optuna`."""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class TaskExpertOptunaSweeperConf:
    _target_: str = "hydra_plugins.taskexpert_optuna_sweeper.sweeper.TaskExpertOptunaSweeper"
    # minimize | maximize the value the task function returns
    direction: str = "maximize"
    # total trials of the study, shared by every sweeper of it (resumes count what already ran); null = full grid
    n_trials: int | None = 20
    # trials asked, launched together and told per batch
    n_jobs: int = 1
    # {name: tpe|random|grid|cmaes, seed: ..., any keyword of the Optuna sampler}, or {_target_: ...};
    # a seed seeds each trial from (seed, trial number), so a resumed study continues rather than replays
    sampler: Any = field(default_factory=lambda: {"name": "tpe", "seed": None})
    # never run a parameter set the study already holds (finished, running or queued); false allows repeats
    distinct_params: bool = True
    # {name: median|hyperband|percentile|successive_halving|threshold|none, keywords of the Optuna pruner}
    pruner: Any = field(default_factory=lambda: {"name": "median"})
    # SQLAlchemy URL of the study, or journal (Optuna's journal file <sweep dir>/optuna.journal, safe on NFS) or
    # journal://PATH; null = sqlite:///<sweep dir>/optuna.db, or that journal file on a network filesystem
    storage: str | None = None
    # seconds a SQLite storage locked by another process is retried (with backoff) before a one-line error
    lock_timeout: float = 60.0
    # study name in the storage; null = <job name>_<sweep dir name>
    study_name: str | None = None
    # abort when more than this fraction of the finished trials failed (1.0 = never abort)
    max_failure_rate: float = 0.5
    # ... but only once at least this many trials have finished
    min_trials_for_failure_rate: int = 4
    # seconds between heartbeats of the trials in flight
    heartbeat_interval: float = 30.0
    # seconds without a heartbeat after which a RUNNING trial of another machine counts as interrupted
    stale_after: float = 600.0
    # search space: key -> choice(...)/range(...)/interval(...)/a,b,c; other values are fixed overrides
    params: Any = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/sweeper",
    name="taskexpert_optuna",
    node=TaskExpertOptunaSweeperConf,
    provider="taskexpert_optuna_sweeper",
)
