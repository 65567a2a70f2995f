"""What an exact resume needs beyond Lightning's own checkpoint: the random state training steps draw from,
and a CSV log that continues instead of starting over."""

from __future__ import annotations

import csv
import io
import os
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

from taskexpert.training.checkpoint_files import metadata_file
from taskexpert.utils.atomic import atomic_write_text


def capture_random_state() -> dict[str, Any]:
    """The states of python's, numpy's and torch's generators (CPU and every CUDA device), checkpoint-safe:
    tensors and plain values only, so `torch.load(weights_only=True)` reads them back."""
    numpy_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "name": numpy_state[0],
            "keys": torch.from_numpy(numpy_state[1].astype(np.int64)),
            "position": int(numpy_state[2]),
            "has_gauss": int(numpy_state[3]),
            "cached_gaussian": float(numpy_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["name"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class TrainingRandomState(pl.Callback):
    """Training steps draw random numbers (dropout) from a stream that only training steps advance.

    After each step the generators' states are kept; before the next step they are put back, so whatever ran
    in between (validation, data loader start-up, a checkpoint restore) changes nothing. The kept states travel
    in every checkpoint, so a resumed run's next step draws exactly what the uninterrupted run's did.
    """

    def __init__(self) -> None:
        self.after_last_step: dict[str, Any] | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.after_last_step is not None:
            restore_random_state(self.after_last_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.after_last_step = capture_random_state()

    def state_dict(self) -> dict[str, Any]:
        return {"after_last_step": self.after_last_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.after_last_step = state_dict.get("after_last_step")


def checkpoint_log_step(checkpoint_path: str | os.PathLike) -> int:
    """The logging step a checkpoint was saved at: CSV rows up to it belong to the run being resumed.
    (Memory-mapped: the weights are not read; of a sharded checkpoint directory, only its `meta.pt`.)
    A checkpoint without loop state keeps every row."""
    checkpoint = torch.load(
        metadata_file(Path(checkpoint_path)), map_location="cpu", weights_only=True, mmap=True
    )
    loop_state = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_loop.state_dict", {})
    return int(loop_state.get("_batches_that_stepped", sys.maxsize))


class _ContinuedExperimentWriter(ExperimentWriter):
    """Keeps the rows a resumed run already logged up to its checkpoint; later rows (logged after the
    checkpoint, before the interruption) are dropped, because the resumed run logs those steps again."""

    def __init__(self, log_dir: str, keep_through_step: int) -> None:
        self._keep_through_step = keep_through_step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:  # Lightning's version deletes the old metrics file
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with path.open(newline="") as stream:
            reader = csv.DictReader(stream)
            header = list(reader.fieldnames or [])
            kept = [row for row in reader if row.get("step") and int(row["step"]) <= self._keep_through_step]
        if not header:
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=header)  # the dialect Lightning writes with
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(path, buffer.getvalue())
        self.metrics_keys = header


class RunCSVLogger(CSVLogger):
    """The always-on CSV log (`csv/metrics.csv`), written through after every logged step so an interrupted
    run keeps what it logged; given `keep_through_step` (a resume) it appends to the existing file."""

    def __init__(self, save_dir: str | os.PathLike, keep_through_step: int | None = None) -> None:
        super().__init__(save_dir=str(save_dir), name="csv", version="", flush_logs_every_n_steps=1)
        self._keep_through_step = keep_through_step

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            if self._keep_through_step is None:
                self._experiment = ExperimentWriter(log_dir=self.log_dir)
            else:
                self._experiment = _ContinuedExperimentWriter(self.log_dir, self._keep_through_step)
        return self._experiment
