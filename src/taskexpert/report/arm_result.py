"""One arm of an augmentation study as the report shows it: its jobs, its metric over seeds, what its data took
from the teacher, and its paired difference to the baseline arm `none`."""

from __future__ import annotations

from dataclasses import dataclass, field

from taskexpert.report.arms import BASELINE_ARM, ArmFile
from taskexpert.report.bootstrap import PairedDifference
from taskexpert.report.collect import DONE, Job


def signed(value: float) -> str:
    return f"{value:+.3f}"


def count(value: float | None) -> str:
    """1,234 for counts; a fractional value (a mean over jobs that disagree) keeps one decimal."""
    if value is None:
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


@dataclass
class ArmResult:
    """One arm of the study within one context (model, task, PEFT and other settings held fixed)."""

    context: dict[str, str]
    arm: ArmFile
    metric: str
    jobs: list[Job] = field(default_factory=list)
    seeds: list[int | None] = field(default_factory=list)  # seeds of the finished jobs
    mean: float | None = None
    std: float | None = None
    difference: PairedDifference | None = None
    pairing: str = ""  # why there is no interval, or which seeds had no baseline job

    @property
    def name(self) -> str:
        return self.arm.name

    @property
    def label(self) -> str:
        return self.name if self.arm.rounds is None else f"{self.name} (rounds={self.arm.rounds})"

    @property
    def is_baseline(self) -> bool:
        return self.name == BASELINE_ARM

    @property
    def n_missing(self) -> int:
        return sum(job.status != DONE for job in self.jobs)

    def teacher(self, name: str) -> float | None:
        return self.arm.teacher.get(name)

    @property
    def gain_per_1k_answers(self) -> float | None:
        answers = self.teacher("answers")
        if self.difference is None or not answers:
            return None
        return 1000 * self.difference.difference / answers

    @property
    def gain_per_usd(self) -> float | None:
        cost = self.teacher("cost_usd")
        if self.difference is None or not cost:
            return None
        return self.difference.difference / cost
