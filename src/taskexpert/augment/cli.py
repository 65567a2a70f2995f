"""The `augment.py` entry: run the pipeline, turn user errors into one clear line and exit status 2."""

from __future__ import annotations

import logging
import sys

from omegaconf import DictConfig

from taskexpert.console import apply_console_settings
from taskexpert.errors import TaskExpertError

log = logging.getLogger("taskexpert")


def run_augmentation(cfg: DictConfig) -> float:
    """Augment and return the number of records kept (a sweeper's objective, if one wants it)."""
    from taskexpert.augment.pipeline import augment

    apply_console_settings(bool(cfg.get("verbose")))
    try:
        stats = augment(cfg)
    except TaskExpertError as error:
        log.error("%s", error, extra={"file_only": True})  # the console gets the line below
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    return float(stats["kept"])
