"""A single `train.py` run started again as the same job finds its own run directory and resumes there: under
SLURM from the job id (kept across a requeue), or from an explicit `run_id`. Here the environment is set as
SLURM sets it for a job and for its requeue; tests/test_resume_slurm.py does the same on a real cluster."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from conftest import ROOT, compose_config
from test_requeue_resume import ARGS, assert_same_run

from taskexpert.run_naming import run_directory
from taskexpert.training.pipeline import train

SHORT = [*ARGS, "trainer.max_steps=12", "checkpoint.every_n_train_steps=3"]


def slurm_environment(outputs, job_id: str, restarts: int | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env |= {"TASKEXPERT_OUTPUTS": str(outputs), "SLURM_JOB_ID": job_id, "SLURM_JOB_NAME": "train"}
    if restarts is not None:  # SLURM sets it on a requeued job: how many times it was restarted
        env["SLURM_RESTART_COUNT"] = str(restarts)
    return env


def start_train(args, env) -> subprocess.Popen:
    command = [sys.executable, "train.py", *args]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def kill_once_checkpointed(process: subprocess.Popen, checkpoint) -> None:
    """SIGKILL the job (as a preemption ends it) once its first checkpoint is written."""
    deadline = time.monotonic() + 240
    while process.poll() is None and not checkpoint.is_file() and time.monotonic() < deadline:
        time.sleep(0.01)
    process.kill()
    process.wait()


def test_a_requeued_slurm_job_resumes_in_its_run_directory(tmp_path):
    """The job is killed after a checkpoint; its requeue (same job id, SLURM_RESTART_COUNT=1) writes into the same
    directory, resumes from that checkpoint, and ends as a run never interrupted."""
    outputs = tmp_path / "outputs"
    run_dir = outputs / "runs" / "slurm-4242_tiny_llama_lora"
    first = start_train(SHORT, slurm_environment(outputs, "4242", None))
    kill_once_checkpointed(first, run_dir / "checkpoints" / "last.ckpt")
    assert not (run_dir / "metrics.json").exists(), "the job finished before the kill"
    requeued = start_train(SHORT, slurm_environment(outputs, "4242", 1))
    assert requeued.wait(timeout=240) == 0, requeued.stderr.read()[-2000:]
    assert [path.name for path in (outputs / "runs").iterdir()] == [run_dir.name]
    assert (
        f"Resuming from {run_dir / 'checkpoints' / 'last.ckpt'} (step " in (run_dir / "train.log").read_text()
    )
    train(compose_config(SHORT, tmp_path / "uninterrupted"))
    assert_same_run(run_dir, tmp_path / "uninterrupted")


def test_a_second_run_in_the_same_job_that_is_no_restart_gets_its_own_directory(tmp_path):
    parent = tmp_path / "runs"
    job = {"SLURM_JOB_ID": "77"}
    first = run_directory(str(parent), None, "2026-01-01_00-00-00", "m_p", job)
    assert first == f"{parent}/slurm-77_m_p"
    os.makedirs(first)
    assert (
        run_directory(str(parent), None, "2026-01-01_00-00-09", "m_p", job)
        == f"{parent}/2026-01-01_00-00-09_m_p"
    )
    requeued = job | {"SLURM_RESTART_COUNT": "1"}
    assert run_directory(str(parent), None, "2026-01-01_00-00-09", "m_p", requeued) == first


def test_an_explicit_run_id_names_the_directory_and_a_rerun_resumes_there(tmp_path):
    args = [*SHORT, "run_id=pubmedqa-a"]
    cfg = compose_config(args)
    assert cfg.hydra.run.dir.endswith("/runs/pubmedqa-a")
    env = slurm_environment(tmp_path / "outputs", "1", None)
    del env["SLURM_JOB_ID"]
    run_dir = tmp_path / "outputs" / "runs" / "pubmedqa-a"
    first = start_train(args, env)
    kill_once_checkpointed(first, run_dir / "checkpoints" / "last.ckpt")
    again = start_train(args, env)
    assert again.wait(timeout=240) == 0, again.stderr.read()[-2000:]
    assert "Resuming from" in (run_dir / "train.log").read_text()
    assert (run_dir / "metrics.json").is_file()


@pytest.mark.parametrize("run_id", ["../elsewhere", "a/b"])
def test_a_run_id_that_is_a_path_is_refused(run_id, tmp_path):
    with pytest.raises(ValueError, match="use a plain name"):
        run_directory(str(tmp_path), run_id, "t", "m_p", {})
