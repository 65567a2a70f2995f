"""`optimization_results.yaml` in the sweep dir: the best trial so far and how many trials ended how."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.trial import TrialState

from taskexpert.utils.atomic import atomic_write_text

from ._study import count_trials, redacted

RESULTS_FILE = "optimization_results.yaml"


def study_summary(
    study: optuna.Study, storage_url: str, n_trials: int, sampler: str, pruner: str
) -> dict[str, Any]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    summary: dict[str, Any] = {
        "name": "optuna",
        "study_name": study.study_name,
        "storage": redacted(storage_url),
        "direction": study.direction.name.lower(),
        "sampler": sampler,
        "pruner": pruner,
        "n_trials": n_trials,
        "trials": count_trials(study).as_dict(),
        "best_trial": None,
        "best_value": None,
        "best_params": None,
        "best_overrides": None,
        "best_job_dir": None,
    }
    if complete:
        best = study.best_trial
        summary.update(
            best_trial=best.number,
            best_value=best.value,
            best_params=dict(best.params),
            best_overrides=list(best.user_attrs.get("overrides", [])),
            best_job_dir=best.user_attrs.get("job_dir"),
        )
    return summary


def write_results(sweep_dir: Path, summary: dict[str, Any]) -> Path:
    return atomic_write_text(Path(sweep_dir) / RESULTS_FILE, OmegaConf.to_yaml(OmegaConf.create(summary)))
