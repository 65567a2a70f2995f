"""A job killed mid-training and started again in the same run directory (what a SLURM requeue does)
continues from its last checkpoint instead of starting over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import torch
from conftest import ROOT

ARGS = [
    "model=tiny_llama",
    "trainer=fast",
    "logger=csv",
    "trainer.max_steps=60",
    "trainer.max_epochs=100",
    "trainer.val_check_interval=1.0",
    "checkpoint.every_n_train_steps=5",
]


def test_killed_job_resumes_from_last_checkpoint_in_the_same_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "train.py", *ARGS, f"hydra.run.dir={run_dir}"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    while not last.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert last.exists(), "no checkpoint was written before the kill"
    step_at_kill = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    assert 0 < step_at_kill < 60, "the kill should land mid-training; raise max_steps if this machine is fast"
    assert not (run_dir / "metrics.json").exists()

    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    import json

    assert json.loads((run_dir / "metrics.json").read_text())["global_step"] == 60
    assert f"Restoring states from the checkpoint path at {last}" in rerun.stdout + rerun.stderr
