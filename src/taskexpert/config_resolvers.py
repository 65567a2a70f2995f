"""OmegaConf resolvers used by the configs; registered when the package is imported."""

from __future__ import annotations

from omegaconf import OmegaConf


def gpus_for(accelerator: str, devices: int) -> int | None:
    """GPUs to request from a scheduler: the trainer's devices on GPU trainers, none on CPU."""
    return int(devices) if str(accelerator) in ("gpu", "cuda", "auto") else None


def suffix(value: object) -> str:
    """`_value` for naming directories, or nothing when the value is unset."""
    return f"_{value}" if value not in (None, "") else ""


def if_else(condition: object, if_true: object, if_false: object) -> object:
    """`if_true` when `condition` is true (a bool, or "true"), else `if_false`: e.g. dry runs' own directory."""
    return if_true if str(condition).lower() == "true" else if_false


def first_set(*values: object) -> object:
    """The first value that is neither null nor empty (e.g. a run's name, else its timestamped name)."""
    return next((value for value in values if value not in (None, "")), None)


def host_memory_gb(*, _root_) -> int:
    """The SLURM launcher's memory request: the dry run's host memory per node (training/dry_run.py)."""
    from taskexpert.training.dry_run import host_memory_request

    return host_memory_request(_root_)


def run_dir(parent: str, run_id: object, timestamp: str, label: str) -> str:
    """A single run's directory: from `run_id`, the SLURM job (stable across requeues) or the time."""
    from taskexpert.run_naming import run_directory

    return run_directory(parent, run_id, timestamp, label)


def help_text(config_name: str) -> str:
    """`python <entry>.py --help`: built from the config files' own comments (taskexpert.cli_help)."""
    from taskexpert.cli_help import help_text as build

    return build(str(config_name))


def register() -> None:
    OmegaConf.register_new_resolver("taskexpert_gpus", gpus_for, replace=True)
    OmegaConf.register_new_resolver("taskexpert_suffix", suffix, replace=True)
    OmegaConf.register_new_resolver("taskexpert_if", if_else, replace=True)
    OmegaConf.register_new_resolver("taskexpert_first_set", first_set, replace=True)
    OmegaConf.register_new_resolver("taskexpert_run_dir", run_dir, replace=True)
    OmegaConf.register_new_resolver("taskexpert_help", help_text, replace=True)
    OmegaConf.register_new_resolver("taskexpert_host_mem_gb", host_memory_gb, replace=True)
