"""With gradient accumulation a checkpoint holds no gradients, so last.ckpt is only ever taken between two
optimizer steps; runs interrupted at several points resume to exactly the uninterrupted run."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_config
from test_requeue_resume import ARGS, Interrupt, InterruptAt, assert_same_run

from taskexpert.training import pipeline
from taskexpert.training.pipeline import train

# 9 batches an epoch, 2 a step: 5 steps an epoch (the last one has a single batch), 8 steps cross an epoch end
ACCUMULATED = [
    *ARGS,
    "trainer.max_steps=8",
    "trainer.accumulate_grad_batches=2",
    "checkpoint.every_n_train_steps=2",
]


def at_step_boundary(checkpoint_path, accumulate: int, batches_per_epoch: int) -> bool:
    loops = torch.load(checkpoint_path, map_location="cpu", weights_only=True)["loops"]["fit_loop"]
    batches = loops["epoch_loop.batch_progress"]["current"]["processed"]
    return batches % accumulate == 0 or batches == batches_per_epoch


def run_interrupted_at(step: int, run_dir, monkeypatch) -> None:
    build_callbacks = pipeline._callbacks
    with monkeypatch.context() as patch:
        patch.setattr(
            pipeline,
            "_callbacks",
            lambda cfg, directory: [
                *build_callbacks(cfg, directory),
                InterruptAt(step, during_validation=False),
            ],
        )
        with pytest.raises(Interrupt):
            train(compose_config(ACCUMULATED, run_dir))


def test_runs_interrupted_twice_under_accumulation_resume_exactly(tmp_path, monkeypatch):
    """Interrupted at step 3, resumed from the checkpoint of step 2, interrupted again at step 4 (its checkpoint
    of step 4 not yet promoted): the last.ckpt then left must still be the one of step 2, not one taken between
    the two batches of step 3 (their first batch's gradients would be lost)."""
    interrupted = tmp_path / "interrupted"
    for step in (3, 4):
        run_interrupted_at(step, interrupted, monkeypatch)
        last = interrupted / "checkpoints" / "last.ckpt"
        assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 2
        assert at_step_boundary(last, accumulate=2, batches_per_epoch=9)
    resumed = train(compose_config(ACCUMULATED, interrupted))
    train(compose_config(ACCUMULATED, tmp_path / "uninterrupted"))
    assert resumed["global_step"] == 8
    assert_same_run(interrupted, tmp_path / "uninterrupted")


def test_no_checkpoint_is_taken_before_the_first_step_completes(tmp_path, monkeypatch):
    """Interrupted while step 1's batches are still accumulating: nothing to resume from, so the rerun starts
    from scratch and equals the uninterrupted run."""
    interrupted = tmp_path / "interrupted"
    run_interrupted_at(1, interrupted, monkeypatch)
    assert not (interrupted / "checkpoints" / "last.ckpt").exists()
    train(compose_config(ACCUMULATED, interrupted))
    train(compose_config(ACCUMULATED, tmp_path / "uninterrupted"))
    assert_same_run(interrupted, tmp_path / "uninterrupted")
