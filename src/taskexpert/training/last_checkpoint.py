"""last.ckpt: the one checkpoint a restarted run continues from, always taken where a resume is exact."""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint
from pytorch_lightning.trainer.states import TrainerFn


class LastCheckpoint(Checkpoint):
    """Writes `last.ckpt` after every validation of a fit and every `every_n_train_steps` optimizer steps.

    A step's checkpoint is first written beside last.ckpt and only becomes last.ckpt when the next step starts.
    If a validation runs in between, it is dropped and last.ckpt is written after the validation instead. So
    last.ckpt never sits just before a validation: Lightning does not repeat a validation when it resumes from
    such a point, and a run killed during one would resume without its score (for picking the best checkpoint)
    and its log rows. Being a Checkpoint callback, it runs after the best-checkpoint callback, whose updated
    state it saves.
    """

    def __init__(self, directory: str | os.PathLike, every_n_train_steps: int | None = None) -> None:
        self.path = Path(directory) / "last.ckpt"
        self.pending = self.path.with_name("last.ckpt.next")
        self.every_n_train_steps = every_n_train_steps
        self._last_step_saved = -1

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        # With gradient accumulation several batches end at one step; only the one that stepped is saved.
        if not self.every_n_train_steps or step % self.every_n_train_steps or step == self._last_step_saved:
            return
        trainer.save_checkpoint(self.pending)
        self._last_step_saved = step

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module, batch, batch_idx) -> None:
        self._promote(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module) -> None:
        self._promote(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module) -> None:
        if trainer.state.fn != TrainerFn.FITTING or trainer.sanity_checking:
            return
        trainer.save_checkpoint(self.path)
        self._last_step_saved = trainer.global_step
        if trainer.is_global_zero:
            self.pending.unlink(missing_ok=True)

    def _promote(self, trainer: pl.Trainer) -> None:
        if trainer.is_global_zero and self.pending.is_file():
            os.replace(self.pending, self.path)
