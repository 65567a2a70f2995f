"""A job killed mid-training (SIGKILL) and started again in the same run directory, as a SLURM requeue does,
continues exactly: the same losses step by step, the same CSV log, the same final adapter and metrics as a run
that was never interrupted."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import pytorch_lightning as pl
import torch
from conftest import ROOT, compose_config
from safetensors.torch import load_file

from taskexpert.training import pipeline
from taskexpert.training.pipeline import train

# 36 training records in batches of 4: 9 steps an epoch, so 24 steps cross two epoch ends (with validation)
ARGS = [
    "model=tiny_llama",
    "trainer=fast",
    "logger=csv",
    "trainer.max_steps=24",
    "trainer.max_epochs=100",
    "checkpoint.every_n_train_steps=4",
]
KILL_AFTER_STEP = 6  # the kill lands after the checkpoint of step 4, with steps logged past it


def csv_rows(run_dir):
    with (run_dir / "csv" / "metrics.csv").open(newline="") as stream:
        return [{key: value for key, value in row.items() if value != ""} for row in csv.DictReader(stream)]


def logged_train_steps(run_dir) -> list[int]:
    try:
        return [int(row["step"]) for row in csv_rows(run_dir) if "train/loss" in row]
    except (FileNotFoundError, KeyError):
        return []


def kill_mid_training(args, run_dir) -> None:
    """Start `train.py`, and SIGKILL it once it has logged step KILL_AFTER_STEP."""
    command = [sys.executable, "train.py", *args, f"hydra.run.dir={run_dir}"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while process.poll() is None and time.monotonic() < deadline:
        if max(logged_train_steps(run_dir), default=-1) >= KILL_AFTER_STEP:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize("order", ["shuffled", "group_by_length"])
def test_a_killed_run_resumes_exactly(order, tmp_path):
    args = [*ARGS, f"data.group_by_length={order == 'group_by_length'}"]
    run_dir = tmp_path / "killed"
    kill_mid_training(args, run_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    assert last.is_file(), "no checkpoint was written before the kill"
    checkpoint_step = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    steps_at_kill = logged_train_steps(run_dir)
    assert not (run_dir / "metrics.json").exists(), "the run finished before the kill; raise max_steps"
    assert (
        checkpoint_step < max(steps_at_kill) < 23
    )  # killed between checkpoints, rows logged past the last one

    resumed = train(compose_config(args, run_dir))
    uninterrupted = train(compose_config(args, tmp_path / "uninterrupted"))

    resumed_rows, reference_rows = csv_rows(run_dir), csv_rows(tmp_path / "uninterrupted")
    assert [row["step"] for row in resumed_rows] == [row["step"] for row in reference_rows]
    for ours, theirs in zip(resumed_rows, reference_rows, strict=True):
        assert ours.keys() == theirs.keys()
        assert {k: float(v) for k, v in ours.items()} == pytest.approx(
            {k: float(v) for k, v in theirs.items()}, rel=1e-6, abs=1e-7
        )
    adapter = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    reference = load_file(tmp_path / "uninterrupted" / "adapter" / "adapter_model.safetensors")
    assert adapter.keys() == reference.keys()
    for name in adapter:
        torch.testing.assert_close(adapter[name], reference[name], rtol=1e-6, atol=1e-7)
    assert resumed == uninterrupted
    assert json.loads((run_dir / "metrics.json").read_text())["global_step"] == 24
    assert sorted(path.name for path in (run_dir / "checkpoints").glob("last*")) == ["last.ckpt"]


class Interrupt(Exception):
    """Stands in for a kill at a point a SIGKILL cannot be timed to hit."""


class InterruptAt(pl.Callback):
    def __init__(self, step: int, during_validation: bool) -> None:
        self.step, self.during_validation = step, during_validation

    def on_train_batch_start(self, trainer, *args) -> None:
        if not self.during_validation and trainer.global_step == self.step:
            raise Interrupt

    def on_validation_batch_start(self, trainer, *args) -> None:
        if self.during_validation and trainer.state.fn == "fit" and trainer.global_step == self.step:
            raise Interrupt


@pytest.mark.parametrize(
    ("step", "during_validation"),
    [(9, True), (10, False)],
    ids=["during-the-epoch-end-validation", "right-after-the-epoch-end-validation"],
)
def test_interrupted_around_an_epoch_end_resumes_exactly(step, during_validation, tmp_path, monkeypatch):
    """The points a timed kill rarely hits: during the validation that ends epoch 0 (its score must not be lost:
    it picks the best checkpoint) and just after it (the next epoch must start with its own order)."""
    args = [*ARGS, "trainer.max_steps=12", "checkpoint.every_n_train_steps=3"]
    uninterrupted = train(compose_config(args, tmp_path / "uninterrupted"))
    build_callbacks = pipeline._callbacks
    monkeypatch.setattr(
        pipeline,
        "_callbacks",
        lambda cfg, run_dir: [*build_callbacks(cfg, run_dir), InterruptAt(step, during_validation)],
    )
    with pytest.raises(Interrupt):
        train(compose_config(args, tmp_path / "interrupted"))
    monkeypatch.setattr(pipeline, "_callbacks", build_callbacks)
    resumed = train(compose_config(args, tmp_path / "interrupted"))

    assert resumed == uninterrupted
    assert csv_rows(tmp_path / "interrupted") == csv_rows(tmp_path / "uninterrupted")
    adapter = load_file(tmp_path / "interrupted" / "adapter" / "adapter_model.safetensors")
    reference = load_file(tmp_path / "uninterrupted" / "adapter" / "adapter_model.safetensors")
    for name in reference:
        torch.testing.assert_close(adapter[name], reference[name], rtol=1e-6, atol=1e-7)
    kept = sorted(path.name for path in (tmp_path / "interrupted" / "checkpoints").iterdir())
    assert kept == sorted(path.name for path in (tmp_path / "uninterrupted" / "checkpoints").iterdir())
