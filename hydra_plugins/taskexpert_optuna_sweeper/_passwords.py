"""Passwords inside URLs reach the jobs through the environment, never through their configs.

Hydra writes each job's config, overrides and Hydra config into its directory, and logs each job's overrides. So a
password inside the storage URL (or inside any URL of the overrides) moves into this process's environment, which
jobs inherit, and the URL names the variable instead: `${oc.env:...}`, resolved only where the URL is used.
"""

from __future__ import annotations

import os

from omegaconf import DictConfig, OmegaConf, read_write

from taskexpert.utils.secrets import move_url_passwords_to_environment

from ._search_space import SearchSpace, format_value

STORAGE_PASSWORD_ENV = "TASKEXPERT_OPTUNA_STORAGE_PASSWORD"  # prefix of the variable holding the storage's


def keep_passwords_out_of_jobs(config: DictConfig, space: SearchSpace, storage_url: str) -> str:
    """Rewrites the fixed overrides and the Hydra overrides every job is composed from; returns the storage URL
    to hand to the jobs."""
    (job_url,) = move_url_passwords_to_environment([storage_url], os.environ, prefix=STORAGE_PASSWORD_ENV)
    space.fixed_overrides = move_url_passwords_to_environment(
        space.fixed_overrides, os.environ, prefix="TASKEXPERT_SWEEP_URL_PASSWORD"
    )
    hydra_overrides = move_url_passwords_to_environment(
        # unresolved: an override that already names a variable, `${oc.env:...}`, stays as written
        list(OmegaConf.to_container(config.hydra.overrides.hydra, resolve=False)),
        os.environ,
        prefix="TASKEXPERT_HYDRA_URL_PASSWORD",
    )
    if job_url != storage_url:  # also when the storage came from a config file: each job recomposes it
        hydra_overrides.append(f"hydra.sweeper.storage={format_value(job_url)}")
    with read_write(config.hydra.overrides):
        config.hydra.overrides.hydra = hydra_overrides
    return job_url
