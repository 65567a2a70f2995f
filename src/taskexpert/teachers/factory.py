"""Build a Teacher from the config: the backend named by `teacher._target_`, the cache, the sampling.

`teacher.structured` and `teacher.length_bounds` are the Teacher's (how answers are constrained), not the
backend's: they are taken out before the backend class is instantiated with the other keys. The bounds
themselves are the task's (`task.field_lengths`).
"""

from __future__ import annotations

from typing import Any

from taskexpert.errors import ConfigError
from taskexpert.teachers.backends.base import Backend
from taskexpert.teachers.cache import open_cache
from taskexpert.teachers.ledger import Budget, price_for
from taskexpert.teachers.sampling import Sampling
from taskexpert.teachers.teacher import Teacher

TEACHER_KEYS = ("structured", "length_bounds", "pricing", "budget")  # read by the Teacher, not the backend


def build_backend(teacher_cfg: Any) -> Backend:
    """Instantiate the backend class named by `_target_` with the other keys of the teacher config."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    if teacher_cfg is None or "_target_" not in teacher_cfg:
        raise ConfigError("the teacher config needs a `_target_` backend class: pick one with teacher=...")
    backend_cfg = _without_teacher_keys(teacher_cfg)
    try:
        backend = instantiate(backend_cfg, _convert_="all")
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, ConfigError):
            raise cause from None
        raise ConfigError(f"cannot build teacher {teacher_cfg.get('_target_')}: {cause or error}") from None
    if not isinstance(backend, Backend):
        raise ConfigError(f"teacher._target_={teacher_cfg['_target_']} is not a teacher backend")
    return backend


def build_teacher(teacher_cfg: Any, sampling_cfg: Any, cache: Any) -> Teacher:
    """A ready Teacher; models load lazily on the first call the cache cannot answer. `cache` is the `cache:`
    block of augment.yaml (path, mode, shard_dir, lock_timeout) or a bare path."""
    settings = _plain(teacher_cfg)
    if "field_lengths" in settings:
        raise ConfigError(
            "teacher.field_lengths is no longer read: the bounds are the task's (task.field_lengths.<field>), "
            "and teacher.length_bounds=false keeps them out of the schemas sent"
        )
    backend = build_backend(teacher_cfg)
    return Teacher(
        backend,
        open_cache(cache),
        Sampling.from_config(sampling_cfg),
        structured=str(settings.get("structured", "auto")),
        length_bounds=bool(settings.get("length_bounds", True)),
        price=price_for(settings.get("pricing"), backend.model),
        budget=Budget.from_config(settings.get("budget")),
    )


def _without_teacher_keys(node: Any) -> dict[str, Any]:
    return {key: value for key, value in _plain(node).items() if key not in TEACHER_KEYS}


def _plain(node: Any) -> dict[str, Any]:
    """The teacher config as a plain dict, resolved; a required key left at ??? is a ConfigError."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    if not isinstance(node, DictConfig):
        return dict(node)
    try:
        return OmegaConf.to_container(node, resolve=True, throw_on_missing=True)  # type: ignore[return-value]
    except MissingMandatoryValue as error:
        key = error.full_key or "a key"
        raise ConfigError(f"{key} is required by this teacher: set it, e.g. {key}=...") from None
