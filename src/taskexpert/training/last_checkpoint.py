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
    """Writes `last.ckpt` after every validation of a fit, every `every_n_train_steps` optimizer steps and at the
    step that ends the fit.

    Only at optimizer-step boundaries: the gradients of a half-accumulated step are not in a checkpoint, so one
    taken between the batches of a step would resume without them. A validation that lands mid-accumulation
    leaves last.ckpt as it was (a resume then redoes that validation too).

    A step's checkpoint is first written beside last.ckpt and only becomes last.ckpt when the next step starts
    (or training ends). If a validation runs in between, it is dropped and last.ckpt is written after the
    validation instead. So last.ckpt never sits just before a validation: Lightning does not repeat a validation
    when it resumes from such a point, and a run killed during one would resume without its score (for picking
    the best checkpoint) and its log rows. The final step is saved from inside the loop, not after `fit`: by then
    Lightning has counted the stopped epoch as done, and a longer run resumed from there would skip the rest of
    that epoch's order. Being a Checkpoint callback, it runs after the best-checkpoint callback, whose updated
    state it saves.

    Checkpoints may be directories (FSDP's sharded ones): each is written under a fresh name and swapped in, and
    only a step checkpoint this process wrote is promoted (one a killed run left behind may be incomplete).
    """

    def __init__(self, directory: str | os.PathLike, every_n_train_steps: int | None = None) -> None:
        self.path = Path(directory) / "last.ckpt"
        self.pending = self.path.with_name("last.ckpt.next")
        self.every_n_train_steps = every_n_train_steps
        self._step_at_batch_start = 0
        self._at_step_boundary = True  # a fit starts, and resumes, between two optimizer steps
        self._pending_written = (
            False  # known alike on every process, so all of them reach the promotion barrier
        )

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module, batch, batch_idx) -> None:
        self._promote(trainer)
        self._step_at_batch_start = trainer.global_step

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        # With gradient accumulation most batches only add to the gradients; the one that steps ends a step.
        self._at_step_boundary = trainer.global_step != self._step_at_batch_start
        if not self._at_step_boundary:
            return
        periodic = bool(self.every_n_train_steps) and trainer.global_step % self.every_n_train_steps == 0
        if periodic or _fit_ends_after_this_batch(trainer):
            save_fresh(trainer, self.pending)
            self._pending_written = True

    def on_train_end(self, trainer: pl.Trainer, pl_module) -> None:
        self._promote(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module) -> None:
        if trainer.state.fn != TrainerFn.FITTING or trainer.sanity_checking or not self._at_step_boundary:
            return
        save_checkpoint_atomically(trainer, self.path)
        if trainer.is_global_zero:
            remove_checkpoint(self.pending)
        self._pending_written = False

    def _promote(self, trainer: pl.Trainer) -> None:
        if not self._pending_written:
            return
        if trainer.is_global_zero:
            replace_checkpoint(self.pending, self.path)
        self._pending_written = False
        trainer.strategy.barrier("last checkpoint promoted")


def _fit_ends_after_this_batch(trainer: pl.Trainer) -> bool:
    """This batch's step is the fit's last: `max_steps` reached, or the last batch of the last epoch."""
    if 0 <= trainer.max_steps <= trainer.global_step:
        return True
    epoch_loop = trainer.fit_loop.epoch_loop
    last_batch = epoch_loop.batch_progress.is_last_batch or (
        epoch_loop.batch_progress.current.ready >= trainer.num_training_batches
    )
    max_epochs = trainer.max_epochs
    return last_batch and max_epochs is not None and 0 <= max_epochs <= trainer.current_epoch + 1
