"""What an augmentation method is: what it needs, the checks it makes before any model loads, and the teacher
jobs it asks for. The runner (augment/runner.py) does everything else once, for every method.

A single-shot method (Dr. LLaMA, ReBase) returns its jobs from `jobs(context)`; the runner asks the teacher,
filters, counts and writes. A multi-round method (LLM2LLM) sets `multi_round` and runs its rounds in
`rounds(context, session)`, asking the runner's teacher through `session.generate` (the runner's filters and
ledger); the runner still builds and closes the teacher and writes the outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from omegaconf import DictConfig

from taskexpert.augment.generation import GenerationJob, GenerationResult
from taskexpert.data.splits import Splits
from taskexpert.records import Record
from taskexpert.tasks.task import Task
from taskexpert.teachers.teacher import Teacher

NEEDS = ("seeds", "retrieval", "student")  # what a method may need of the run


@dataclass
class RunContext:
    """What the runner builds once and every method reads: the config, the task, its splits and the seeds."""

    cfg: DictConfig
    run_dir: Path
    task: Task
    splits: Splits
    seeds: list[Record]

    @property
    def prompts_dir(self) -> str | None:
        return self.cfg.paths.get("prompts_dir")


@dataclass(frozen=True)
class JobPlan:
    """The teacher jobs a run will send, for the dry run: exactly these, or at most these (`exact=False`,
    e.g. LLM2LLM, whose jobs depend on the student's errors), with what the bound means."""

    jobs: list[GenerationJob]
    exact: bool = True
    note: str = ""
    cache_lookup: bool = True  # False: the real prompts are not known yet, so the cache cannot be asked


@dataclass
class RoundsOutcome:
    """What a multi-round method hands back: the final records, every rejected answer (as the rejected-records
    file holds them), its own stats keys and one entry per round (W&B steps)."""

    records: list[Record]
    rejected: list[dict[str, Any]]
    stats: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)


class TeacherSession(Protocol):
    """The runner's teacher, for a multi-round method: generation goes through the runner's filters."""

    teacher: Teacher

    def generate(
        self, jobs: Sequence[GenerationJob], dedup_references: Sequence[Record] = ()
    ) -> GenerationResult: ...


class AugmentationMethod:
    """One augmentation method, selected by `method.name`. Subclass it, set `name` (or register it under
    several names), implement `jobs`, and decorate it with `register_method` (augment/registry.py)."""

    name: ClassVar[str] = ""
    needs: ClassVar[frozenset[str]] = frozenset({"seeds"})  # of NEEDS
    multi_round: ClassVar[bool] = False  # True: `rounds` runs the method, not `jobs`
    measures_diversity: ClassVar[bool] = True  # diversity of seeds and records in the stats
    wandb_job_type: ClassVar[str] = "augment"

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg

    @property
    def settings(self) -> Any:
        """This method's config block (`cfg.method`)."""
        return self.cfg.method

    def max_seeds(self) -> int | None:
        """How many training records are seeds: `method.max_seeds` (None = all)."""
        return self.settings.get("max_seeds")

    def check(self, context: RunContext) -> None:
        """Settings and prompts, checked before any model loads; raise ConfigError naming the key."""

    def jobs(self, context: RunContext) -> list[GenerationJob]:
        """A single-shot method's teacher jobs."""
        raise NotImplementedError(
            f"method {self.name!r} has no jobs(): a multi-round method sets multi_round"
        )

    def plan(self, context: RunContext) -> JobPlan:
        """The jobs a dry run counts; a single-shot method's exact jobs unless it says otherwise."""
        return JobPlan(self.jobs(context))

    def sampling_overrides(self) -> dict[str, Any]:
        """Sampling keys this method sets for all its jobs (reported in the stats' `sampling`)."""
        return {}

    def extra_stats(self, context: RunContext) -> dict[str, Any]:
        """The method's own stats keys, placed after `seeds` in augment_stats.json."""
        return {}

    def follow(self, context: RunContext) -> dict[str, Any] | None:
        """A process that only follows another one (a follower rank of a multi-process student) returns its
        result here, before any teacher is built; None = this process runs the method."""
        return None

    def rounds(self, context: RunContext, session: TeacherSession) -> RoundsOutcome:
        """A multi-round method's loop, asking `session` for teacher answers."""
        raise NotImplementedError(f"method {self.name!r} is single-shot: it returns jobs()")
