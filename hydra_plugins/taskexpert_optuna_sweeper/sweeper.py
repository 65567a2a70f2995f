"""The Hydra sweeper plugin: `hydra/sweeper=taskexpert_optuna` runs an Optuna study whose trials are Hydra jobs."""

from dataclasses import dataclass
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


@dataclass
class SweepSettings:
    """The sweeper config as plain Python values (see config.py for each key's meaning)."""

    direction: str
    n_trials: int | None
    n_jobs: int
    sampler: Any
    distinct_params: bool
    pruner: Any
    storage: str | None
    study_name: str | None
    max_failure_rate: float
    min_trials_for_failure_rate: int
    heartbeat_interval: float
    stale_after: float
    lock_timeout: float
    params: dict[str, Any]


class TaskExpertOptunaSweeper(Sweeper):
    def __init__(self, **settings: Any) -> None:
        plain = {key: _plain(value) for key, value in settings.items()}
        plain["params"] = plain.get("params") or {}
        self.settings = SweepSettings(**plain)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        from ._loop import run_study  # Optuna is imported only when a sweep runs, not at plugin discovery

        assert self.config is not None and self.hydra_context is not None and self.launcher is not None
        run_study(
            self.settings,
            arguments,
            self.config,
            self.hydra_context,
            self.launcher,
            self.validate_batch_is_legal,
        )


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
