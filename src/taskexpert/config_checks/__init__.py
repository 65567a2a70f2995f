"""Checks that run before anything heavy (model loading, W&B, run directories): each mistake a user can make
on the command line gets one line that names the fix.

`preflight(sys.argv, ...)` runs in the entry points before Hydra starts; `check_job(cfg)` runs at the start of
every job (it may run on another machine, e.g. a SLURM node).
"""

from taskexpert.config_checks.job import check_job
from taskexpert.config_checks.preflight import preflight

__all__ = ["check_job", "preflight"]
