"""A job killed mid-training and started again in the same run directory, as a SLURM requeue does, continues
exactly: the same losses step by step, the same CSV log, the same final adapter, best checkpoint and metrics as a
run that was never interrupted. One run is killed with SIGKILL; in-process interruptions reach the points a timed
kill rarely hits."""

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
import yaml
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
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def assert_same_run(resumed_dir, uninterrupted_dir) -> None:
    """Step by step and file by file, to the bit: the CSV log (every number as written), adapter, metrics,
    checkpoints."""
    assert csv_rows(resumed_dir) == csv_rows(uninterrupted_dir)
    adapter = load_file(resumed_dir / "adapter" / "adapter_model.safetensors")
    reference = load_file(uninterrupted_dir / "adapter" / "adapter_model.safetensors")
    assert adapter.keys() == reference.keys()
    for name in adapter:
        assert torch.equal(adapter[name], reference[name]), name
    metrics, reference_metrics = (
        json.loads((d / "metrics.json").read_text()) for d in (resumed_dir, uninterrupted_dir)
    )
    assert metrics == reference_metrics
    checkpoints = sorted(path.name for path in (resumed_dir / "checkpoints").iterdir())
    assert checkpoints == sorted(path.name for path in (uninterrupted_dir / "checkpoints").iterdir())
    assert [name for name in checkpoints if name.startswith("last")] == ["last.ckpt"]


def test_a_killed_run_resumes_exactly(tmp_path):
    # The kill must land between two checkpoints, with rows logged past the last one (the resumed run logs those
    # steps again). The poll can overshoot on a fast machine, so a kill that landed right on a checkpoint is
    # repeated in a fresh directory (a few seconds each) rather than letting the test check less.
    for attempt in range(4):
        run_dir = tmp_path / f"killed-{attempt}"
        kill_mid_training(ARGS, run_dir)
        last = run_dir / "checkpoints" / "last.ckpt"
        assert last.is_file(), "no checkpoint was written before the kill"
        checkpoint_step = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
        assert not (run_dir / "metrics.json").exists(), "the run finished before the kill; raise max_steps"
        if checkpoint_step < max(logged_train_steps(run_dir)) < 23:
            break
    else:
        pytest.fail("four kills in a row landed on a checkpoint; none left rows past it")

    resumed = train(compose_config(ARGS, run_dir))
    train(compose_config(ARGS, tmp_path / "uninterrupted"))
    assert resumed["global_step"] == 24
    assert_same_run(run_dir, tmp_path / "uninterrupted")


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
    ("order", "step", "during_validation"),
    [("group_by_length", 7, False), ("balanced", 6, False), ("shuffled", 9, True), ("shuffled", 10, False)],
    ids=[
        "length-grouped-mid-epoch",
        "balanced-mid-epoch",
        "during-the-epoch-end-validation",
        "right-after-the-epoch-end-validation",
    ],
)
def test_an_interrupted_run_resumes_exactly(order, step, during_validation, tmp_path, monkeypatch):
    """In process, at chosen points: mid-epoch with the length-grouped order and with the balanced order (and class
    weights); during the validation that ends epoch 0 (its score must not be lost: it picks the best checkpoint);
    just after it (the next epoch must start with its own order)."""
    args = [*ARGS, "trainer.max_steps=12", "checkpoint.every_n_train_steps=3"]
    args.append(f"data.group_by_length={order == 'group_by_length'}")
    if order == "balanced":  # with class weights too: both change what a step trains on
        args += ["data.sampler=balanced", "data.class_weights=balanced"]
    train(compose_config(args, tmp_path / "uninterrupted"))
    build_callbacks = pipeline._callbacks
    with monkeypatch.context() as patch:
        patch.setattr(
            pipeline,
            "_callbacks",
            lambda cfg, run_dir: [*build_callbacks(cfg, run_dir), InterruptAt(step, during_validation)],
        )
        with pytest.raises(Interrupt):
            train(compose_config(args, tmp_path / "interrupted"))
    train(compose_config(args, tmp_path / "interrupted"))
    assert_same_run(tmp_path / "interrupted", tmp_path / "uninterrupted")
    if order == "balanced":  # the run's recorded config says how it was trained
        logged = yaml.safe_load((tmp_path / "interrupted" / "csv" / "hparams.yaml").read_text())
        assert logged["data"]["sampler"] == "balanced" and logged["data"]["class_weights"] == "balanced"
