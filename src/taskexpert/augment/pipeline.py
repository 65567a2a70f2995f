"""augment.py's pipeline: plain config in, augmented records and stats out, callable without a command line.

`method.name` picks a registered method (augment/registry.py); the runner (augment/runner.py) runs it: one
lifecycle for every method. Importing this module registers the built-in methods.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from taskexpert.augment.drllama import build_jobs
from taskexpert.augment.registry import METHODS, load_builtin_methods
from taskexpert.augment.runner import run_method

load_builtin_methods()
__all__ = ["METHODS", "augment", "build_jobs"]


def augment(cfg: DictConfig) -> dict[str, Any]:
    """Run the method named by `cfg.method.name`; write augmented.jsonl, augment_stats.json, augment_rejected.jsonl
    (and with `dry_run=true` only augment_dry_run.json, the estimate of calls, tokens and cost)."""
    return run_method(cfg)
