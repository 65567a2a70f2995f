"""OmegaConf resolvers used by the configs; registered when the package is imported."""

from __future__ import annotations

from omegaconf import OmegaConf


def gpus_for(accelerator: str, devices: int) -> int | None:
    """GPUs to request from a scheduler: the trainer's devices on GPU trainers, none on CPU."""
    return int(devices) if str(accelerator) in ("gpu", "cuda", "auto") else None


def suffix(value: object) -> str:
    """`_value` for naming directories, or nothing when the value is unset."""
    return f"_{value}" if value not in (None, "") else ""


def register() -> None:
    OmegaConf.register_new_resolver("taskexpert_gpus", gpus_for, replace=True)
    OmegaConf.register_new_resolver("taskexpert_suffix", suffix, replace=True)
