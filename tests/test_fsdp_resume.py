"""`trainer=fsdp` for real on two CPU processes (gloo): sharded checkpoints, a job killed and started again in
its run directory, and the export.

Real: `train.py`, our FSDP strategy on Lightning's, torch's FSDP with one unit per decoder layer,
torch.distributed.checkpoint. tests/fsdp_cpu.py stands in for the GPU (FSDP is given the CPU as its device) and
for the preemption (every process dies at once at a chosen step, without clean-up, as under SIGKILL).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from conftest import ROOT
from safetensors.torch import load_file
from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

from taskexpert.training.resume import checkpoint_log_step

FSDP_ON_CPU = [
    "model=tiny_llama",
    "logger=csv",
    "trainer=fsdp",
    "trainer.accelerator=cpu",
    "trainer.devices=2",
    "trainer.precision=32-true",
    "trainer.max_epochs=100",
    "trainer.enable_progress_bar=false",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "checkpoint.every_n_train_steps=2",
    "trainer.strategy._target_=tests.fsdp_cpu.InterruptedCPUFSDPStrategy",
]


def run(run_dir, *overrides: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "train.py", *FSDP_ON_CPU, *overrides, f"hydra.run.dir={run_dir}"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)


def kill_at_step_3(run_dir, *overrides: str) -> None:
    """Steps 1-3 of 4 run; the checkpoint of step 2 is promoted to last.ckpt when step 3 starts, then all die."""
    killed = run(run_dir, *overrides, "trainer.max_steps=4", "+trainer.strategy.exit_at_step=3")
    assert killed.returncode == 137, killed.stderr[-3000:]
    assert not (run_dir / "metrics.json").exists()


def consolidated_weights(checkpoint_dir, tmp_path) -> dict[str, torch.Tensor]:
    """A sharded checkpoint's model weights in one dict, by torch's own converter (keys `model.<name>`)."""
    target = tmp_path / "consolidated.pt"
    dcp_to_torch_save(checkpoint_dir, target)
    model = torch.load(target, weights_only=True)["model"]
    return {key.removeprefix("model."): value for key, value in model.items()}


def assert_adapter_equals(adapter_dir, weights) -> None:
    exported = load_file(adapter_dir / "adapter_model.safetensors")
    assert len(exported) == len(weights) > 0  # the checkpoint holds the adapter's weights alone
    for name, tensor in exported.items():
        torch.testing.assert_close(
            tensor, weights[name.replace(".weight", ".default.weight")], rtol=0, atol=0
        )


@pytest.mark.timeout(300)
def test_a_killed_fsdp_run_resumes_from_its_sharded_checkpoint_and_exports_the_full_model(tmp_path):
    run_dir = tmp_path / "run"
    kill_at_step_3(run_dir, "peft=none")  # full fine-tuning: every weight in the checkpoint
    last = run_dir / "checkpoints" / "last.ckpt"
    assert (last / "meta.pt").is_file(), "the step checkpoint (a directory) was not promoted to last.ckpt"
    assert torch.load(last / "meta.pt", weights_only=True)["global_step"] == 2
    assert checkpoint_log_step(last) == 1  # CSV rows of logging steps 0 and 1 (optimizer steps 1, 2) are kept
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]

    first_step = tmp_path / "first_step"
    resumed = run(
        run_dir, "peft=none", "trainer.max_steps=4", f"+trainer.strategy.first_step_file={first_step}"
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert first_step.read_text() == "2", "the requeued job started over instead of resuming"
    assert json.loads((run_dir / "metrics.json").read_text())["global_step"] == 4

    # The export holds the whole, unsharded weights: those of the final checkpoint.
    checkpoint = consolidated_weights(last, tmp_path)
    exported = load_file(run_dir / "model" / "model.safetensors")
    assert exported.keys() <= checkpoint.keys()
    assert "model.embed_tokens.weight" in exported
    for name, tensor in exported.items():
        assert tensor.shape == checkpoint[name].shape, name
        torch.testing.assert_close(tensor, checkpoint[name], rtol=0, atol=0)


@pytest.mark.timeout(300)
def test_an_fsdp_adapter_checkpoint_restores_the_adapter_it_holds(tmp_path):
    """Adapter checkpoints hold the trainable weights only; the resume loads them and leaves the base as loaded."""
    run_dir = tmp_path / "run"
    kill_at_step_3(run_dir)  # peft=lora, the default
    at_step_2 = consolidated_weights(run_dir / "checkpoints" / "last.ckpt", tmp_path)
    assert all("lora_" in name for name in at_step_2)

    # Started again with the steps already done: nothing trains, so the export is what the checkpoint restored.
    restored = run(run_dir, "trainer.max_steps=2")
    assert restored.returncode == 0, restored.stderr[-3000:]
    assert json.loads((run_dir / "metrics.json").read_text())["global_step"] == 2
    assert_adapter_equals(run_dir / "adapter", at_step_2)
