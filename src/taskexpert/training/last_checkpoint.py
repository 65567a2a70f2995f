"""last.ckpt: the one checkpoint a restarted run continues from, always taken where a resume is exact."""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint
from pytorch_lightning.trainer.states import TrainerFn

from taskexpert.training.checkpoint_files import (
    remove_checkpoint,
    replace_checkpoint,
    save_checkpoint_atomically,
    save_fresh,
)


class LastCheckpoint(Checkpoint):
    """Writes `last.ckpt` after every validation of a fit and every `every_n_train_steps` optimizer steps.

    A step's checkpoint is first written beside last.ckpt and only becomes last.ckpt when the next step starts.
    If a validation runs in between, it is dropped and last.ckpt is written after the validation instead. So
    last.ckpt never sits just before a validation: Lightning does not repeat a validation when it resumes from
    such a point, and a run killed during one would resume without its score (for picking the best checkpoint)
    and its log rows. Being a Checkpoint callback, it runs after the best-checkpoint callback, whose updated
    state it saves.

    Checkpoints may be directories (FSDP's sharded ones): each is written under a fresh name and swapped in, and
    only a step checkpoint this process wrote is promoted (one a killed run left behind may be incomplete).
    """

    def __init__(self, directory: str | os.PathLike, every_n_train_steps: int | None = None) -> None:
        self.path = Path(directory) / "last.ckpt"
        self.pending = self.path.with_name("last.ckpt.next")
        self.every_n_train_steps = every_n_train_steps
        self._last_step_saved = -1
        self._pending_written = False

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        # With gradient accumulation several batches end at one step; only the one that stepped is saved.
        if not self.every_n_train_steps or step % self.every_n_train_steps or step == self._last_step_saved:
            return
        save_fresh(trainer, self.pending)
        self._last_step_saved = step
        self._pending_written = True

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module, batch, batch_idx) -> None:
        self._promote(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module) -> None:
        self._promote(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module) -> None:
        if trainer.state.fn != TrainerFn.FITTING or trainer.sanity_checking:
            return
        save_checkpoint_atomically(trainer, self.path)
        self._last_step_saved = trainer.global_step
        if trainer.is_global_zero:
            remove_checkpoint(self.pending)
        self._pending_written = False

    def _promote(self, trainer: pl.Trainer) -> None:
        if not self._pending_written:  # every process knows it alike, so all of them reach the barrier
            return
        if trainer.is_global_zero:
            replace_checkpoint(self.pending, self.path)
        self._pending_written = False
        trainer.strategy.barrier("last checkpoint promoted")
