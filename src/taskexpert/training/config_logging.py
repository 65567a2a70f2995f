"""The resolved config as loggers see it: secrets removed."""

from __future__ import annotations

import re
from typing import Any

from omegaconf import DictConfig, OmegaConf

SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|credential)", re.IGNORECASE)
REDACTED = "<redacted>"


def redact(value: Any) -> Any:
    """Replace the value of any key that looks like a secret; key *names* of environment variables stay
    (a key ending in `_env` names a variable, it does not hold the secret)."""
    if isinstance(value, dict):
        return {
            key: REDACTED
            if SECRET_KEY.search(str(key)) and not str(key).endswith("_env") and val is not None
            else redact(val)
            for key, val in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def loggable_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved job config (Hydra's own node left out) as a plain dict with secrets removed."""
    job_config = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    return redact(OmegaConf.to_container(job_config, resolve=True, throw_on_missing=False))
