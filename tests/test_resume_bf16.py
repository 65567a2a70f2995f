"""Under `bf16-base` (what `trainer.precision: auto` picks where the device has native bf16: a bf16 base, fp32
adapters whose matmuls compute in bf16), a `train.py` killed with SIGKILL and started again ends with the same
losses, adapter and metrics as a run never interrupted, to the bit. On CPU, where these tests run; on a CPU
without native bf16 the bf16 matmuls are emulated (slower, the same rule)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import compose_config
from safetensors.torch import load_file
from test_requeue_resume import ARGS, csv_rows, kill_mid_training, logged_train_steps

from taskexpert.training.pipeline import train

BF16_BASE = [*ARGS, "trainer.precision=bf16-base"]


def test_a_killed_bf16_base_run_resumes_to_the_bit(tmp_path):
    for attempt in range(4):  # as in test_requeue_resume: the kill must land between two checkpoints
        run_dir = tmp_path / f"killed-{attempt}"
        kill_mid_training(BF16_BASE, run_dir)
        last = run_dir / "checkpoints" / "last.ckpt"
        assert last.is_file(), "no checkpoint was written before the kill"
        checkpoint_step = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
        if checkpoint_step < max(logged_train_steps(run_dir)) < 23:
            break
    else:
        pytest.fail("four kills in a row landed on a checkpoint; none left rows past it")

    resumed = train(compose_config(BF16_BASE, run_dir))
    uninterrupted = train(compose_config(BF16_BASE, tmp_path / "uninterrupted"))
    assert resumed["precision"] == uninterrupted["precision"] == "bf16-base"
    assert resumed == uninterrupted
    assert csv_rows(run_dir) == csv_rows(tmp_path / "uninterrupted")  # every logged number, as written
    ours = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    theirs = load_file(tmp_path / "uninterrupted" / "adapter" / "adapter_model.safetensors")
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert ours[name].dtype == torch.float32, "the adapter trains and is saved in fp32"
        assert torch.equal(ours[name], theirs[name]), name
    assert json.loads((run_dir / "metrics.json").read_text()) == resumed
