"""Optuna pruning inside a training job: report the optimized metric after each validation, stop when pruned.

The sweeper (`hydra/sweeper=taskexpert_optuna`) appends `++optuna_trial.storage=... ++optuna_trial.study_name=...
++optuna_trial.trial_id=... ++optuna_trial.number=... ++optuna_trial.pruner={_target_: ...}` to each job; from
those the job reopens its own trial in the study's storage. A pruned job raises `optuna.TrialPruned`, which the
sweeper records as state PRUNED.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import optuna
import pytorch_lightning as pl
from hydra.utils import instantiate
from optuna import TrialPruned
from pytorch_lightning.trainer.states import TrainerFn

from taskexpert.errors import ConfigError
from taskexpert.utils.optuna_storage import DEFAULT_LOCK_TIMEOUT_S, open_optuna_storage

__all__ = ["OptunaPruningCallback", "TrialPruned", "pruned_run_metrics"]

log = logging.getLogger(__name__)

REQUIRED_KEYS = ("storage", "study_name", "trial_id")


class OptunaPruningCallback(pl.Callback):
    """Reports `monitor` at step = global_step after every validation of `fit`, and prunes when the study's
    pruner says so: training stops and `optuna.TrialPruned` propagates out of `trainer.fit`."""

    def __init__(self, trial: optuna.trial.Trial, monitor: str) -> None:
        self.trial = trial
        self.monitor = monitor
        self.last_reported_step: int | None = None
        self.pruned = False
        self._reporting = True  # off once the trial is finished elsewhere or the metric is missing

    @classmethod
    def from_config(cls, trial_cfg: Mapping[str, Any], monitor: str) -> OptunaPruningCallback:
        """Reopen the trial named by a job's `optuna_trial` config in its study's storage."""
        missing = [key for key in REQUIRED_KEYS if trial_cfg.get(key) is None]
        if missing:
            raise ConfigError(
                f"optuna_trial.{missing[0]} is missing: the sweeper sets storage, study_name and trial_id"
            )
        url = str(trial_cfg["storage"])
        lock_timeout = float(trial_cfg.get("lock_timeout") or DEFAULT_LOCK_TIMEOUT_S)
        pruner_cfg = trial_cfg.get("pruner")
        pruner = instantiate(pruner_cfg) if pruner_cfg else optuna.pruners.NopPruner()
        study = optuna.load_study(
            study_name=str(trial_cfg["study_name"]),
            storage=open_optuna_storage(url, lock_timeout),  # SQLite retried while locked, or a journal file
            sampler=optuna.samplers.RandomSampler(),  # the job samples nothing; this one has no side effects
            pruner=pruner,
        )
        return cls(optuna.trial.Trial(study, int(trial_cfg["trial_id"])), monitor)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # only validations inside fit: not the sanity check, not trainer.validate() after training
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        step = trainer.global_step
        should_prune = False
        if trainer.is_global_zero and self._reporting:  # rank 0 decides; all ranks reach the broadcast
            should_prune = self._report(trainer.callback_metrics.get(self.monitor), step)
        should_prune = trainer.strategy.broadcast(should_prune, src=0)  # every rank stops together
        if should_prune:
            self.pruned = True
            trainer.should_stop = True
            value = trainer.callback_metrics.get(self.monitor)
            raise TrialPruned(
                f"trial {self.trial.number} pruned at step {step} ({self.monitor}={_float(value)})"
            )

    def _report(self, value: Any, step: int) -> bool:
        if value is None:
            log.warning("pruning is off: %r is not among the validation metrics", self.monitor)
            self._reporting = False
            return False
        try:
            self.trial.report(_float(value), step)
        except optuna.exceptions.UpdateFinishedTrialError:
            log.warning("trial %d is already finished in the study; no more reports", self.trial.number)
            self._reporting = False
            return False
        self.last_reported_step = step
        return self.trial.should_prune()


def _float(value: Any) -> float:
    return float(value.item() if hasattr(value, "item") else value)


def pruned_run_metrics(
    trainer: pl.Trainer, results: Mapping[str, Mapping[str, Any]], **measured: Any
) -> dict[str, Any]:
    """metrics.json of a pruned run: what was measured until it stopped, `pruned: true` and its last reported step."""
    metrics: dict[str, Any] = dict(measured)
    for split_metrics in results.values():
        metrics.update(split_metrics)
    callback = next((c for c in trainer.callbacks if isinstance(c, OptunaPruningCallback)), None)
    metrics.update(
        global_step=trainer.global_step,
        pruned=True,
        last_reported_step=callback.last_reported_step if callback else None,
    )
    return metrics
