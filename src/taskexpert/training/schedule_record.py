"""The learning rate of every step a run has trained, kept in its checkpoints, so a resumed run that would have
given those steps other rates (a longer `max_steps` reshapes the warmup and the decay) stops instead of silently
becoming neither the short run nor the long one."""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
from torch.optim.lr_scheduler import LambdaLR

from taskexpert.errors import ConfigError


class LearningRateRecord(pl.Callback):
    """Records each optimizer step's learning rate; on resume, checks that this run's schedule gives the steps
    already trained the same rates. Then continuing is the same as having run this config from the start."""

    def __init__(self, resumed_from: str | None = None) -> None:
        self.resumed_from = resumed_from
        self.learning_rates: list[float] = []  # step s trained with learning_rates[s] (first parameter group)
        self.horizon: int | None = (
            None  # the optimizer steps the schedule spans (Trainer.estimated_stepping_batches)
        )

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module, optimizer) -> None:
        del self.learning_rates[trainer.global_step :]  # a step redone after a resume replaces its entry
        self.learning_rates.append(float(optimizer.param_groups[0]["lr"]))

    def on_train_start(self, trainer: pl.Trainer, pl_module) -> None:
        horizon = int(trainer.estimated_stepping_batches)
        trained = self.learning_rates[: trainer.global_step]
        if trained:
            planned = _planned_rates(trainer, len(trained))
            same = (
                all(
                    math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
                    for a, b in zip(trained, planned, strict=True)
                )
                if planned is not None
                else self.horizon == horizon
            )
            if not same:
                raise ConfigError(
                    _changed_schedule_message(self.resumed_from, len(trained), self.horizon, horizon)
                )
        self.horizon = horizon

    def state_dict(self) -> dict[str, Any]:
        return {"learning_rates": list(self.learning_rates), "horizon": self.horizon}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.learning_rates = [float(rate) for rate in state_dict.get("learning_rates", [])]
        self.horizon = state_dict.get("horizon")


def _planned_rates(trainer: pl.Trainer, steps: int) -> list[float] | None:
    """The rates this run's schedule gives steps 0..steps-1, or None if its scheduler cannot be asked."""
    optimizer = trainer.optimizers[0]
    if not trainer.lr_scheduler_configs:  # a constant rate
        return [float(optimizer.param_groups[0]["lr"])] * steps
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    if not isinstance(scheduler, LambdaLR) or trainer.lr_scheduler_configs[0].interval != "step":
        return None
    base, factor = scheduler.base_lrs[0], scheduler.lr_lambdas[0]
    return [base * factor(step) for step in range(steps)]


def _changed_schedule_message(resumed_from: str | None, steps: int, old: int | None, new: int) -> str:
    where = resumed_from or "the checkpoint"
    spans = f"a schedule over {old} steps" if old else "another learning-rate schedule"
    return (
        f"{where} trained its {steps} steps with {spans}; this run's schedule over {new} steps gives them other "
        "learning rates, so continuing would match neither run. Keep trainer.max_steps, trainer.max_epochs and "
        "optimizer.* as the checkpoint's run had them, or start a new run directory (init_adapter=<run>/adapter "
        "starts from its adapter with a fresh schedule); optimizer.scheduler=constant with "
        "optimizer.warmup_ratio=0 lets a run be extended exactly"
    )
