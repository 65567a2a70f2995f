"""The resolved config as loggers see it: secrets removed (see taskexpert.utils.secrets for what counts)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from taskexpert.utils.secrets import REDACTED, redact, remember_run_secrets

__all__ = ["REDACTED", "loggable_config", "redact", "remember_config_secrets"]


def loggable_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved job config (Hydra's own node left out) as a plain dict with secrets removed."""
    job_config = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    return redact(OmegaConf.to_container(job_config, resolve=True, throw_on_missing=False))


def remember_config_secrets(cfg: DictConfig) -> None:
    """Make every secret this job's config can reach known to redaction, before anything is logged or written
    (see taskexpert.utils.secrets.remember_run_secrets)."""
    job_config = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    try:
        plain = OmegaConf.to_container(job_config, resolve=True, throw_on_missing=False)
    except Exception:  # a broken interpolation is reported by the config checks; the raw values still count
        plain = OmegaConf.to_container(job_config, resolve=False)
    remember_run_secrets(plain)
