"""What the command-line entry points share: run a pipeline, turn user errors into one clear line."""

from __future__ import annotations

import logging
import sys

from omegaconf import DictConfig

from taskexpert.config_checks import check_job
from taskexpert.console import apply_console_settings
from taskexpert.errors import TaskExpertError
from taskexpert.training.config_logging import remember_config_secrets
from taskexpert.utils.secrets import redact_text

log = logging.getLogger("taskexpert")


def run_training(cfg: DictConfig) -> float | None:
    """Train and return `cfg.optimized_metric` for sweepers (None for a dry run)."""
    from taskexpert.study import run_study_job
    from taskexpert.training.pipeline import train

    apply_console_settings(bool(cfg.get("verbose")))  # again here: a sweep's job may run in another process
    remember_config_secrets(cfg)  # before anything is logged: redaction then knows this job's secrets
    try:
        check_job(cfg)  # the accelerator and input files, on the machine that runs the job
        metrics = run_study_job(cfg, train)  # a plain run: train(cfg); a study's job: its data arm first
    except TaskExpertError as error:
        log.error("%s", error, extra={"file_only": True})  # the console gets the line below
        if _in_multirun():  # fail this job only: the sweeper records it and the study goes on
            raise
        print(f"error: {redact_text(str(error))}", file=sys.stderr)
        raise SystemExit(2) from None
    if cfg.get("dry_run"):
        return None
    from taskexpert.training.results import sweep_metric_name

    value = metrics.get(sweep_metric_name(str(cfg.optimized_metric), metrics))
    if value is None:  # a sweeper would record only "returned None": say which metric and what there is
        split = str(cfg.optimized_metric).partition("/")[0]
        written = sorted(
            name
            for name, number in metrics.items()
            if name.startswith(f"{split}/") and isinstance(number, float)
        )
        log.warning(
            "optimized_metric=%s is not among this run's metrics (%s): set optimized_metric to one of them, "
            "or leave it to the task (task.optimized_metric)",
            cfg.optimized_metric,
            ", ".join(written) or "none of that split",
        )
    return float(value) if value is not None else None


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def prepare_command_line(argv: list[str], conf_dir: str) -> list[str]:
    """The command line as Hydra should see it, checked before Hydra writes any file: `group=null` becomes
    `~group`; an `*_env` override whose value is not a variable's name ends the run with one line (the value,
    likely a pasted secret, is not repeated); a password inside a URL and the value of a secret-named key
    (`+teacher.api_key=...`) move into the environment, so Hydra's overrides.yaml, hydra.yaml and config.yaml
    and W&B's copy of the command line hold `${oc.env:...}` references only."""
    import os

    from taskexpert.utils.secrets import (
        env_override_problem,
        move_secrets_to_environment,
        move_url_passwords_to_environment,
    )

    for argument in argv[1:]:
        problem = env_override_problem(argument)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            raise SystemExit(2)
    arguments = move_url_passwords_to_environment(
        null_group_overrides_to_deletions(argv, conf_dir), os.environ
    )
    return [arguments[0], *move_secrets_to_environment(arguments[1:], os.environ)]


def null_group_overrides_to_deletions(argv: list[str], conf_dir: str) -> list[str]:
    """Hydra 1.3 rejects `group=null` for a group that has a default; it means `~group` (drop it).

    So `logger=null` works as users expect from lightning-hydra-template-style projects.
    """
    from pathlib import Path

    groups = {path.name for path in Path(conf_dir).iterdir() if path.is_dir()}
    rewritten = []
    for argument in argv:
        key, _, value = argument.partition("=")
        rewritten.append(f"~{key}" if value == "null" and key in groups else argument)
    return rewritten
