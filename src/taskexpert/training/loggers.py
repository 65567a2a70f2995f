"""Experiment loggers: the configured ones (W&B, TensorBoard) plus a CSV log that is always on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger


def build_loggers(logger_cfg: Any, run_dir: Path) -> list[Logger]:
    loggers: list[Logger] = [CSVLogger(save_dir=str(run_dir), name="csv", version="")]
    for node in (logger_cfg or {}).values():
        if node is not None and "_target_" in node:
            loggers.append(instantiate(node, _convert_="all"))
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
