"""One train job of a study: its arm's data, then training on it, then a record of both in `data_arm.json`.

A study job is one whose arm makes data, or that runs under a study (`sweep_name` set); any other run trains
exactly as before and writes no `data_arm.json`. In a study's stable directory a job run again with the same
config returns the metrics it stored (`data_arm.json` says `finished` and `metrics.json` is there); an interrupted
one trains again and resumes from its `last.ckpt` (`ckpt_path: last`). A job directory holding a run of another
config is an error, never overwritten.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from taskexpert.errors import ConfigError, DataError
from taskexpert.study.arm_data import prepare_arm
from taskexpert.study.arm_runs import ArmData, ArmRequest
from taskexpert.study.arm_spec import ArmSpec, arm_from_config
from taskexpert.study.teacher_numbers import ZERO
from taskexpert.utils.atomic import atomic_write_json
from taskexpert.utils.secrets import scrub

log = logging.getLogger(__name__)
JOB_FILE = "data_arm.json"
UNDIGESTED_KEYS = ("verbose", "hydra")  # how a job talks, and Hydra's own node (absent in a running job)


def is_study_job(cfg: DictConfig, spec: ArmSpec) -> bool:
    return spec.makes_data or bool(cfg.get("sweep_name"))


def config_digest(cfg: DictConfig) -> str:
    """SHA-256 of the job's resolved config: the same command finds the same digest."""
    job_config = OmegaConf.masked_copy(cfg, [key for key in cfg if key not in UNDIGESTED_KEYS])
    plain = OmegaConf.to_container(job_config, resolve=True)
    return hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def job_overrides() -> list[str]:
    """The running job's command-line overrides (the study's swept values included)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return [str(item) for item in HydraConfig.get().overrides.task]


def read_job_file(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / JOB_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(str(path), "-", f"is not valid JSON ({error})", f"delete {run_dir}") from None


def finished_metrics(run_dir: Path, digest: str) -> dict[str, Any] | None:
    """The stored metrics of this job when it finished with this very config; None when it must (re)train."""
    stored = read_job_file(run_dir)
    if stored is None:
        return None
    if stored.get("config_sha256") != digest:
        raise ConfigError(
            f"{run_dir} holds a job of another config ({run_dir / JOB_FILE}): run the changed study in its own "
            "directory (hydra.sweep.dir=...), or delete the old one"
        )
    metrics_path = run_dir / "metrics.json"
    if not stored.get("finished") or not metrics_path.is_file():
        return None
    return json.loads(metrics_path.read_text(encoding="utf-8"))


def arm_request(cfg: DictConfig, spec: ArmSpec, overrides: Sequence[str]) -> ArmRequest:
    augment = cfg.get("augment") or {}
    user = augment.get("overrides") or []
    if isinstance(user, str) or not all(isinstance(item, str) for item in user):
        raise ConfigError(
            f"augment.overrides={user!r} must be a list of augment.py overrides, e.g. [teacher=openai]"
        )
    return ArmRequest(
        spec=spec,
        augment_seed=int(augment.get("seed", 42)),
        augment_dir=Path(str(augment.get("dir") or Path(cfg.paths.output_root) / "arms")),
        job_overrides=tuple(overrides),
        user_overrides=tuple(str(item) for item in user),
    )


def training_config(cfg: DictConfig, data: ArmData | None) -> DictConfig:
    """The job's config with the arm's records after the seeds (and after any extra files of the user's)."""
    if data is None:
        return cfg
    job_cfg = copy.deepcopy(cfg)
    with open_dict(job_cfg):
        job_cfg.data.extra_train = [*(cfg.data.get("extra_train") or []), *data.records_files]
    return job_cfg


def job_record(
    spec: ArmSpec, request: ArmRequest, data: ArmData | None, digest: str, finished: bool
) -> dict[str, Any]:
    """What `data_arm.json` says (the study's contract with the report)."""
    record = {
        "arm": spec.name,
        "methods": list(spec.methods),
        "rounds": spec.rounds,
        "augment_seed": request.augment_seed,
        "arm_dir": str(data.directory) if data else None,
        "records_files": list(data.records_files) if data else [],
        "records": data.records if data else 0,
        "reused": data.reused if data else False,
        "teacher": dict(data.teacher) if data else dict(ZERO),
        "seconds": {"augment": data.seconds if data else 0.0},
        "budget": dict(spec.budget),
        "methods_detail": list(data.methods_detail) if data else [],
        "config_sha256": digest,
        "finished": finished,
    }
    if data is not None and data.rounds_detail is not None:
        record["rounds_detail"] = data.rounds_detail
    return record


def write_job_file(run_dir: Path, record: dict[str, Any]) -> None:
    from pytorch_lightning.utilities.rank_zero import rank_zero_only

    if rank_zero_only.rank == 0:  # every process of a multi-process job runs this; the first writes
        atomic_write_json(run_dir / JOB_FILE, scrub(record))


def run_study_job(cfg: DictConfig, train: Callable[[DictConfig], dict[str, Any]]) -> dict[str, Any]:
    """`train(cfg)`, within a study: the arm's data first, the job's record around it (see the module)."""
    spec = arm_from_config(cfg.get("data_arm"))
    if cfg.get("dry_run") or not is_study_job(cfg, spec):
        return train(cfg)
    run_dir = Path(cfg.paths.run_dir)
    digest = config_digest(cfg)
    stored = finished_metrics(run_dir, digest)
    if stored is not None:
        log.info("%s: finished before with this config; its metrics.json stands", run_dir)
        return stored
    request = arm_request(cfg, spec, job_overrides())
    data = prepare_arm(request) if spec.makes_data else None
    write_job_file(run_dir, job_record(spec, request, data, digest, finished=False))
    metrics = train(training_config(cfg, data))
    write_job_file(run_dir, job_record(spec, request, data, digest, finished=True))
    return metrics
