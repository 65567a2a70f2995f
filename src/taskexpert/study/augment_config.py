"""The augment.py config of one method of an arm, composed with Hydra's compose API inside the running job.

The job's own command-line overrides that shape the data (task, data, paths, ...) carry over, so the teacher sees
the same seeds and evaluation items the job trains and is tested on; what only names the job (its seed, its arm,
the study, Hydra's own keys) does not. The student's keys (model, peft, trainer, ...) carry over only to a method
that trains a student (llm2llm): the other methods' data does not depend on them, so an arm swept against, say,
`peft.lora_alpha` is made once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from taskexpert.errors import ConfigError

# top-level keys of a job's overrides that say which job it is, not which data the teacher sees
JOB_ONLY_KEYS = {
    "seed", "data_arm", "sweep", "sweep_name", "hydra", "augment", "run_id", "ckpt_path", "tags", "dry_run",
    "verbose", "optimized_metric",
}  # fmt: skip
# the student's keys: they shape the data of a method that trains a student, and of no other
STUDENT_KEYS = {
    "model", "peft", "peft_hparam", "trainer", "optimizer", "eval", "checkpoint", "logger", "init_adapter",
}  # fmt: skip
STUDENT_METHODS = {"llm2llm"}


def override_top_key(override: str) -> str:
    """`+data.split.seed=1` -> `data`; `hydra/launcher=slurm` -> `hydra`; `~logger` -> `logger`."""
    key = override.split("=", 1)[0].lstrip("+~")
    return re.split(r"[./@]", key, maxsplit=1)[0]


def carried_overrides(job_overrides: Sequence[str], method: str) -> list[str]:
    """The job's overrides the method's data depends on, in their order."""
    dropped = JOB_ONLY_KEYS | (set() if method in STUDENT_METHODS else STUDENT_KEYS)
    return [override for override in job_overrides if override_top_key(override) not in dropped]


def quoted(value: str) -> str:
    """A path as a Hydra override value, whatever characters it holds."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def method_overrides(
    job_overrides: Sequence[str],
    method: str,
    augment_seed: int,
    user_overrides: Sequence[str],
    budget: dict[str, Any] | None = None,
    iterations: int | None = None,
) -> list[str]:
    """What `python augment.py` would be given to make this method's part of the arm (its run directory apart).
    `budget`: the caps left for this method; `iterations`: llm2llm's rounds to reach."""
    overrides = [*carried_overrides(job_overrides, method), f"seed={augment_seed}", f"method={method}"]
    overrides += [str(item) for item in user_overrides]
    overrides += [f"teacher.budget.{key}={value}" for key, value in (budget or {}).items()]
    if iterations is not None:
        overrides.append(f"method.iterations={iterations}")
    return overrides


def compose_augment_config(overrides: Sequence[str], run_dir: Path, arm: str) -> DictConfig:
    """The composed augment.py config, its run directory set; a composition error or a required key left unset
    (say, the teacher's model) is one line naming the arm and the fix."""
    from hydra import compose
    from hydra.core.global_hydra import GlobalHydra

    if not GlobalHydra.instance().is_initialized():
        raise ConfigError(
            f"data_arm={arm}: the arm's augment.py config is composed from the running Hydra app: "
            "run it through train.py"
        )
    arguments = [*overrides, f"paths.run_dir={quoted(str(run_dir))}"]
    try:
        cfg = compose(config_name="augment", overrides=arguments)
    except Exception as error:  # Hydra's own errors: an unknown group option, a bad override
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(
            f"data_arm={arm}: augment.py's config does not compose with {list(overrides)}: {first_line} "
            "(check augment.overrides)"
        ) from None
    missing = sorted(key for key in OmegaConf.missing_keys(cfg) if key.split(".")[0] in {"teacher", "method"})
    if missing:
        raise ConfigError(
            f"data_arm={arm}: {missing[0]} is required to make the arm's data: add it to augment.overrides, "
            f"e.g. augment.overrides=[{missing[0]}=...]"
        )
    return cfg
