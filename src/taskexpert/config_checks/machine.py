"""The accelerator the trainer asks for, checked against this machine before anything loads."""

from __future__ import annotations

from typing import Any

from taskexpert.errors import ConfigError

GPU_ACCELERATORS = ("gpu", "cuda", "mps")


def visible_gpus(accelerator: str) -> int:
    """GPUs torch can use for `accelerator` (Lightning's "gpu" is CUDA, or Apple's MPS)."""
    import torch

    if accelerator in ("gpu", "cuda"):
        count = torch.cuda.device_count()
        if count or accelerator == "cuda":
            return count
    return 1 if torch.backends.mps.is_available() else 0


def check_accelerator(trainer_cfg: Any, asked_as: str, fix: str) -> None:
    """`trainer=gpu` on a machine without one: say so, and name `fix` (e.g. trainer=cpu).

    `asked_as` is how the user chose it (`trainer=gpu`, `trainer.accelerator=cuda`).
    """
    accelerator = str(trainer_cfg.get("accelerator") or "auto").lower()
    if accelerator not in GPU_ACCELERATORS:
        return
    available = visible_gpus(accelerator)
    if available == 0:
        raise ConfigError(f"{asked_as} needs a GPU and torch sees none on this machine: use {fix}")
    devices = trainer_cfg.get("devices")
    if isinstance(devices, int) and devices > available:
        raise ConfigError(
            f"trainer.devices={devices} but this machine has {available} GPU{'s' if available > 1 else ''}: "
            f"set trainer.devices={available}, or launch where there are {devices} (hydra/launcher=slurm)"
        )


def how_asked(trainer_choice: str | None, task_overrides: list[str]) -> tuple[str, str]:
    """(how the user asked for the accelerator, the override that undoes it) for the message."""
    for override in task_overrides:
        if override.lstrip("+").startswith("trainer.accelerator="):
            return override.lstrip("+"), "trainer.accelerator=cpu"
    return f"trainer={trainer_choice or 'gpu'}", "trainer=cpu"
