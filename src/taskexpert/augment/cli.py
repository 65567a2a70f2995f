"""The `augment.py` entry: run the pipeline, turn user errors into one clear line and exit status 2, and a run
that kept nothing because the teacher failed into one clear line and exit status 3."""

from __future__ import annotations

import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from taskexpert.console import apply_console_settings
from taskexpert.errors import TaskExpertError
from taskexpert.training.config_logging import remember_config_secrets
from taskexpert.utils.secrets import redact_text

log = logging.getLogger("taskexpert")

TEACHER_FAILED_EXIT = (
    3  # the run finished and wrote its stats, but kept nothing because teacher requests failed
)


def run_augmentation(cfg: DictConfig) -> float:
    """Augment and return the number of records kept (a sweeper's objective, if one wants it)."""
    from taskexpert.augment.pipeline import augment

    apply_console_settings(bool(cfg.get("verbose")))
    remember_config_secrets(cfg)  # before anything is logged: redaction then knows this run's secrets
    try:
        stats = augment(cfg)
    except TaskExpertError as error:
        log.error("%s", error, extra={"file_only": True})  # the console gets the line below
        print(f"error: {redact_text(str(error))}", file=sys.stderr)
        raise SystemExit(2) from None
    if stats.get("dry_run"):  # an estimate only: nothing was asked, nothing kept
        return 0.0
    reason = teacher_failure_reason(stats, Path(cfg.paths.run_dir) / cfg.output.stats)
    if reason:
        log.error("%s", reason)
        print(f"error: {reason}", file=sys.stderr)
        raise SystemExit(TEACHER_FAILED_EXIT)
    return float(stats["kept"])


def teacher_failure_reason(stats: dict[str, Any], stats_path: Path) -> str | None:
    """One line when the run added no record and teacher requests failed; None otherwise. LLM2LLM's `kept` counts
    its whole final dataset, so what it added is `added_total`."""
    added = stats.get("added_total", stats.get("kept", 0))
    failed = int(stats.get("failed") or 0)
    if added or not failed:
        return None
    kinds = Counter(
        str(item.get("reason", "")).removeprefix("teacher_failed:") for item in stats.get("failures") or []
    )
    kinds_text = f" ({', '.join(f'{kind} x{count}' for kind, count in kinds.most_common())})" if kinds else ""
    return (
        f"kept no record: {failed} of {stats.get('requested', failed)} teacher requests failed{kinds_text}; "
        f"check the teacher (teacher.base_url, teacher.model, the server's log) and run again (answers already "
        f"received are cached); counts and failures in {stats_path}"
    )
