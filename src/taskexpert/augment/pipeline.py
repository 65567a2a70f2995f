"""augment.py's pipeline: plain config in, augmented records and stats out, callable without a command line.

Each method is one module with a `run_*(cfg)` function, registered below by `method.name`; the parts they share
(seeds, filters) live in `augment/shared.py`, below them, so no method imports this dispatcher.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from taskexpert.augment.drllama import build_jobs, run_drllama
from taskexpert.augment.llm2llm import run_llm2llm
from taskexpert.augment.rebase import run_rebase
from taskexpert.errors import ConfigError

METHODS: dict[str, Callable[[DictConfig], dict[str, Any]]] = {
    "rewrite": run_drllama,
    "new": run_drllama,
    "combined": run_drllama,
    "llm2llm": run_llm2llm,
    "rebase": run_rebase,
}
__all__ = ["METHODS", "augment", "build_jobs"]


def augment(cfg: DictConfig) -> dict[str, Any]:
    """Run the method named by `cfg.method.name`; write augmented.jsonl, augment_stats.json, augment_rejected.jsonl."""
    name = str(cfg.method.get("name"))
    if name not in METHODS:
        raise ConfigError(f"method.name={name!r} is unknown: use one of {', '.join(METHODS)}")
    return METHODS[name](cfg)
