"""Build a Teacher from the config: the backend named by `teacher._target_`, the cache, the sampling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from taskexpert.errors import ConfigError
from taskexpert.teachers.backends.base import Backend
from taskexpert.teachers.cache import ResponseCache
from taskexpert.teachers.sampling import Sampling
from taskexpert.teachers.teacher import Teacher


def build_backend(teacher_cfg: Any) -> Backend:
    """Instantiate the backend class named by `_target_` with the other keys of the teacher config."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    if teacher_cfg is None or "_target_" not in teacher_cfg:
        raise ConfigError("the teacher config needs a `_target_` backend class: pick one with teacher=...")
    try:
        backend = instantiate(teacher_cfg, _convert_="all")
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, ConfigError):
            raise cause from None
        raise ConfigError(f"cannot build teacher {teacher_cfg.get('_target_')}: {cause or error}") from None
    if not isinstance(backend, Backend):
        raise ConfigError(f"teacher._target_={teacher_cfg._target_} is not a teacher backend")
    return backend


def build_teacher(teacher_cfg: Any, sampling_cfg: Any, cache_path: str | Path) -> Teacher:
    """A ready Teacher; models load lazily on the first call the cache cannot answer."""
    return Teacher(build_backend(teacher_cfg), ResponseCache(cache_path), Sampling.from_config(sampling_cfg))
