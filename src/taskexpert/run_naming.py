"""The directory a single `train.py` run writes to, chosen so that a job started again resumes in it.

- `run_id` set: `<parent>/<run_id>`; running it again continues there (from its last.ckpt).
- Under SLURM (`SLURM_JOB_ID` set): `<parent>/slurm-<job id>_<model>_<peft>`. SLURM keeps the job id when it
  requeues a job (`sbatch --requeue`, preemption, `scontrol requeue`) and counts the restarts in
  `SLURM_RESTART_COUNT`, so the requeued job finds its own directory and resumes. A second `train.py` of the same
  job that is not a restart (the directory exists, the count is 0) gets a timestamped directory instead of
  continuing the first one's run.
- Otherwise: `<parent>/<time>_<model>_<peft>`, a new directory each time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def run_directory(
    parent: str, run_id: object, timestamp: str, label: str, environ: Mapping[str, str] | None = None
) -> str:
    """`parent`/<the run's name>: from `run_id`, else from the SLURM job, else from `timestamp`_`label`."""
    environ = os.environ if environ is None else environ
    if run_id not in (None, ""):
        name = str(run_id)
        if "/" in name or "\\" in name or name in (".", ".."):
            raise ValueError(f"run_id={name!r} names a directory inside {parent}: use a plain name, no '/'")
        return f"{parent}/{name}"
    job_id = environ.get("SLURM_JOB_ID")
    if job_id:
        job_dir = f"{parent}/slurm-{job_id}_{label}"
        restarted = int(environ.get("SLURM_RESTART_COUNT") or 0) > 0
        if restarted or not Path(job_dir).exists():
            return job_dir
    return f"{parent}/{timestamp}_{label}"
