"""Checks at the start of each job, on the machine that runs it (a sweep's job may run on a SLURM node)."""

from __future__ import annotations

from omegaconf import DictConfig

from taskexpert.config_checks.inputs import check_data_files, check_model_path
from taskexpert.config_checks.machine import check_accelerator, how_asked


def check_job(cfg: DictConfig) -> None:
    """Cheap checks before the job loads anything; a dry run sizes other machines' jobs and skips them."""
    from hydra.core.hydra_config import HydraConfig

    if cfg.get("dry_run"):
        return
    check_data_files(cfg.data)
    check_model_path(cfg.get("model"))
    if cfg.get("trainer") is not None:
        choice, overrides = None, []
        if HydraConfig.initialized():
            choice = HydraConfig.get().runtime.choices.get("trainer")
            overrides = list(HydraConfig.get().overrides.task)
        check_accelerator(cfg.trainer, *how_asked(choice, overrides))
