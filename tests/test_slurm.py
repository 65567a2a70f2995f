"""A real one-node SLURM cluster (slurm-wlm + munge) started on this machine, and a sweep submitted to it."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from conftest import ROOT
from sweep_helpers import TINY_JOB, job_metrics, run_train, sweep_dir

SCRIPT = ROOT / "scripts" / "slurm_cluster.sh"


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "TASKEXPERT_SLURM_DIR": str(state_dir)}
    if shutil.which("slurmctld") is None and os.geteuid() != 0:
        pytest.skip("slurm-wlm is not installed and installing it needs root")
    started = subprocess.run(
        ["bash", str(SCRIPT), "start"], capture_output=True, text=True, env=env, timeout=300
    )
    if started.returncode != 0:
        if shutil.which("slurmctld") is None:
            pytest.skip(f"slurm-wlm could not be installed here: {started.stderr.strip()[-500:]}")
        pytest.fail(f"the SLURM cluster did not start: {started.stderr[-2000:]}")
    yield {"SLURM_CONF": str(state_dir / "slurm.conf")}
    subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, env=env, timeout=60)


def test_slurm_launcher_runs_a_two_job_sweep(slurm_cluster, tmp_path):
    launcher = [
        "hydra/launcher=slurm",
        "hydra.launcher.mem_gb=2",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.timeout_min=10",
    ]
    run_train(["-m", *launcher, "peft.lora_alpha=32,64", *TINY_JOB], tmp_path, env=slurm_cluster)
    directory = sweep_dir(tmp_path)
    metrics = job_metrics(directory)
    assert sorted(metrics) == [0, 1]
    assert all(0.0 <= m["test/macro_f1"] <= 1.0 for m in metrics.values())
    logs = list((directory / ".submitit").glob("*/*_log.out"))
    assert len(logs) == 2, "each job ran as its own SLURM job"
