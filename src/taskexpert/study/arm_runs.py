"""An arm's request (everything that decides its data), what a job gets from it, and one augment.py run of it:
the parts the arm's makers share (arm_data.py for single-shot methods, llm2llm_rounds.py for rounds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskexpert.errors import TaskExpertError
from taskexpert.records import read_jsonl
from taskexpert.study.arm_spec import ArmSpec
from taskexpert.study.augment_config import compose_augment_config, method_overrides
from taskexpert.study.teacher_numbers import read_stats


class ArmDataError(TaskExpertError):
    """An arm whose data could not be made: its method failed, or it kept no record."""


@dataclass
class ArmData:
    """What a job trains on from its arm, and what making it took."""

    directory: Path
    records_files: list[str]  # what goes into data.extra_train
    records: int  # teacher records in those files
    teacher: dict[str, Any]  # summed numbers (teacher_numbers.py)
    reused: bool  # made by an earlier job: this job paid nothing
    seconds: float  # wall time this job spent making it
    methods_detail: list[dict[str, Any]] = field(default_factory=list)
    rounds_detail: list[dict[str, Any]] | None = None  # llm2llm: cumulative numbers up to each round


@dataclass(frozen=True)
class ArmRequest:
    """Everything that decides an arm's data."""

    spec: ArmSpec
    augment_seed: int
    augment_dir: Path
    job_overrides: tuple[str, ...]  # the job's command-line overrides (some carry over)
    user_overrides: tuple[str, ...]  # augment.overrides: for every method of every arm

    @property
    def directory(self) -> Path:
        return self.spec.data_dir(self.augment_dir, self.augment_seed)

    def overrides(self, method: str, budget: dict[str, Any] | None = None, iterations: int | None = None):
        return method_overrides(
            self.job_overrides, method, self.augment_seed, self.user_overrides, budget, iterations
        )

    def identity(self) -> dict[str, Any]:
        """What arm.json must match for its data to be reused (a round count apart)."""
        return {
            "arm": self.spec.name,
            "methods": list(self.spec.methods),
            "augment_seed": self.augment_seed,
            "budget": dict(self.spec.budget),
            "overrides": {method: sorted(self.overrides(method)) for method in self.spec.methods},
        }


def count_records(path: Path) -> int:
    return len(read_jsonl(path)) if path.is_file() else 0


def run_method(
    request: ArmRequest, method: str, run_dir: Path, **settings: Any
) -> tuple[Any, dict[str, Any]]:
    """One augment.py run of the arm; (its config, its augment_stats.json)."""
    from taskexpert.augment.pipeline import augment
    from taskexpert.training.config_logging import remember_config_secrets

    cfg = compose_augment_config(request.overrides(method, **settings), run_dir, request.spec.name)
    remember_config_secrets(cfg)  # the teacher's settings join what redaction masks
    try:
        augment(cfg)
    except TaskExpertError as error:
        raise ArmDataError(
            f"data_arm={request.spec.name}: augment.py method={method} failed: {error}"
        ) from None
    return cfg, read_stats(run_dir / str(cfg.output.stats))


def teacher_price(cfg: Any):
    from taskexpert.teachers.ledger import price_for

    return price_for(cfg.teacher.get("pricing"), str(cfg.teacher.get("model")))
