"""On a real one-node SLURM cluster: a `train.py` job submitted with `sbatch --requeue` and requeued mid-training
with `scontrol requeue` (SLURM stops it and starts it again with the same job id) resumes in its own run
directory and ends as a run never interrupted."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from conftest import ROOT, compose_config
from test_requeue_resume import ARGS, assert_same_run
from test_slurm import slurm_cluster  # noqa: F401  (the module-scoped cluster fixture)

from taskexpert.training.pipeline import train

ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")  # states a job ends in


def slurm(command: list[str], env: dict[str, str]) -> str:
    return subprocess.run(
        command, env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def job_output(directory, job_id: str) -> str:
    path = directory / f"job-{job_id}.out"
    return path.read_text()[-2000:] if path.is_file() else "(no output file)"


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_job_requeued_by_slurm_resumes_in_its_run_directory(slurm_cluster, tmp_path):  # noqa: F811
    outputs = tmp_path / "outputs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env |= slurm_cluster | {"TASKEXPERT_OUTPUTS": str(outputs)}
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/bash\ncd {ROOT}\nexec {sys.executable} train.py {' '.join(ARGS)}\n")
    job_id = slurm(
        [
            "sbatch",
            "--parsable",
            "--requeue",
            "--cpus-per-task=1",
            f"--output={tmp_path}/job-%j.out",
            str(script),
        ],
        env,
    ).split(";")[0]
    run_dir = outputs / "runs" / f"slurm-{job_id}_tiny_llama_lora"

    def state() -> str:
        return slurm(["scontrol", "show", "job", job_id, "-o"], env)

    def checkpointed() -> bool:
        ended = any(f"JobState={end} " in state() for end in ENDED)
        assert not ended, f"the job ended before its first checkpoint: {job_output(tmp_path, job_id)}"
        started = [path.name for path in (outputs / "runs").iterdir()] if (outputs / "runs").is_dir() else []
        assert set(started) <= {run_dir.name}, f"the job wrote into {started}, not {run_dir.name}"
        return (run_dir / "checkpoints" / "last.ckpt").is_file()

    wait_for(checkpointed, 240, "the job's first checkpoint")
    slurm(["scontrol", "requeue", job_id], env)
    assert not (run_dir / "metrics.json").exists(), "the job finished before it was requeued"
    wait_for(lambda: "JobState=PENDING" in state(), 60, "the job to be pending again")
    slurm(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], env)  # skip the requeue's hold-off

    # a state the job ends in: COMPLETING (the job's processes gone, SLURM still cleaning up) is not one yet
    wait_for(lambda: any(f"JobState={end} " in state() for end in ENDED), 300, "the job's end")
    assert "JobState=COMPLETED" in state(), job_output(tmp_path, job_id)
    assert "Restarts=1" in state()
    assert [path.name for path in (outputs / "runs").iterdir()] == [run_dir.name]
    assert "Resuming from" in (run_dir / "train.log").read_text()
    train(compose_config(ARGS, tmp_path / "uninterrupted"))
    assert_same_run(run_dir, tmp_path / "uninterrupted")
