"""scripts/gpu_check.sh on a machine without a GPU: it parses, runs its environment step, marks every GPU step
SKIP in one table and exits 0 (on a GPU node the same script runs them; see the README's "Training on GPUs")."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT

SCRIPT = ROOT / "scripts" / "gpu_check.sh"
GPU_STEPS = {
    "tiny_bf16_mixed", "tiny_bf16_base", "smollm2_bf16_mixed", "smollm2_bf16_base", "smollm2_ddp",
    "smollm2_fsdp", "fsdp_kill_resume", "vllm_teacher", "llm2llm_gpu", "llm2llm_ddp", "llm2llm_vllm",
}  # fmt: skip


def test_the_script_parses():
    checked = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_without_a_gpu_every_gpu_step_is_skipped(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    results = tmp_path / "results"
    finished = subprocess.run(
        ["bash", str(SCRIPT), str(results)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    lines = finished.stdout.splitlines()
    assert lines[0].split() == ["step", "status", "seconds", "note"]
    table = {
        line.split()[0]: line.split()[1]
        for line in lines[1:]
        if line.split()[0] in GPU_STEPS | {"environment"}
    }
    assert table == {"environment": "PASS", **dict.fromkeys(GPU_STEPS, "SKIP")}
    assert "no GPU" in finished.stdout
    assert (results / "summary.tsv").read_text().count("\tSKIP\t") == len(GPU_STEPS)
    assert (results / "environment.log").is_file()
