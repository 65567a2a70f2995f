"""Experiment loggers: the configured ones (W&B, TensorBoard) plus a CSV log that is always on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from pytorch_lightning.loggers import Logger, WandbLogger

from taskexpert.training.resume import RunCSVLogger
from taskexpert.utils.secrets import redact_text

W_AND_B_TAG_LIMIT = 64  # characters W&B accepts in one tag


def job_overrides() -> tuple[int | None, list[str]]:
    """(job number, this job's overrides) inside a Hydra multirun; (None, []) otherwise."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None, []
    hydra_cfg = HydraConfig.get()
    internal = ("+sweep=", "sweep=", "++optuna_trial.", "+optuna_trial.", "optuna_trial.")  # not swept values
    return hydra_cfg.job.num, [o for o in hydra_cfg.overrides.task if not o.startswith(internal)]


def build_loggers(logger_cfg: Any, run_dir: Path, resumed_log_step: int | None = None) -> list[Logger]:
    """The configured loggers plus CSV. In a sweep, W&B runs are tagged with their swept values and
    named after their job number, so the W&B table compares a study's jobs side by side. A resumed run
    (`resumed_log_step`: the logging step of its checkpoint) appends to the CSV log it finds."""
    loggers: list[Logger] = [RunCSVLogger(run_dir, keep_through_step=resumed_log_step)]
    job_number, overrides = job_overrides()
    for node in (logger_cfg or {}).values():
        if node is None or "_target_" not in node:
            continue
        extra: dict[str, Any] = {}
        if node._target_.endswith("WandbLogger") and job_number is not None:
            extra["tags"] = list(node.get("tags") or []) + [
                redact_text(o)[:W_AND_B_TAG_LIMIT] for o in overrides
            ]
            extra["name"] = f"{node.get('name') or 'job'}_{job_number}"
        logger = instantiate(node, _convert_="all", **extra)
        if isinstance(logger, WandbLogger) and logger._wandb_init.get("anonymous") is None:
            # Lightning always passes anonymous=None, which current wandb prints a deprecation warning about
            # on every run although it means "not set"; leaving it out changes nothing else.
            logger._wandb_init.pop("anonymous", None)
        loggers.append(logger)
    return loggers


def close_loggers(loggers: list[Logger], status: str = "success") -> None:
    """Finish every logger so the next job of a multirun starts a fresh W&B run."""
    for logger in loggers:
        try:
            logger.finalize(status)
        finally:
            if isinstance(logger, WandbLogger):
                import wandb

                wandb.finish()
