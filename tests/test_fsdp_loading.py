"""`trainer=fsdp` loads the weights in the first process alone: the others build the model on the meta device
(no host memory for weights) and FSDP's `sync_module_states` sends them the first one's, so every shard holds the
loaded weights. Two CPU processes (gloo); tests/fsdp_cpu.py stands in for the GPUs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from conftest import ROOT
from safetensors.torch import load_file

from taskexpert.models.tiny import tiny_model_dir


@pytest.mark.timeout(300)
def test_only_the_first_fsdp_process_loads_the_weights_and_every_shard_gets_them(tmp_path):
    run_dir, storage = tmp_path / "run", tmp_path / "storage"
    command = [
        sys.executable,
        "train.py",
        "model=tiny_llama",
        "peft=none",
        "logger=csv",
        "checkpoint.enabled=false",
        "trainer=fsdp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.precision=32-true",
        "trainer.max_steps=0",  # nothing trains: the export is what the shards received
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "trainer.enable_progress_bar=false",
        "trainer.strategy._target_=tests.fsdp_cpu.InterruptedCPUFSDPStrategy",
        f"+trainer.strategy.storage_file={storage}",
        f"hydra.run.dir={run_dir}",
    ]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert (tmp_path / "storage.0").read_text() == "loaded"
    assert (tmp_path / "storage.1").read_text() == "meta"

    loaded = load_file(tiny_model_dir("llama") / "model.safetensors")
    exported = load_file(run_dir / "model" / "model.safetensors")  # gathered from both processes' shards
    assert exported.keys() == loaded.keys()
    for name, tensor in loaded.items():
        torch.testing.assert_close(exported[name], tensor, rtol=0, atol=0)
