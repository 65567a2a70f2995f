"""The resolved config as loggers see it: secrets removed (see taskexpert.utils.secrets for what counts)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from taskexpert.utils.secrets import REDACTED, redact

__all__ = ["REDACTED", "loggable_config", "redact"]


def loggable_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved job config (Hydra's own node left out) as a plain dict with secrets removed."""
    job_config = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    return redact(OmegaConf.to_container(job_config, resolve=True, throw_on_missing=False))
