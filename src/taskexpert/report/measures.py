"""Which numbers a report shows, as the jobs' tasks define them: the columns (each task's headline measures
on validation and test), the metric of the figure and verdict (the one the jobs optimised), and their titles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from taskexpert.report.collect import DONE, Job

SPLITS = ("val", "test")  # the splits of the table's columns, in this order
SPLIT_NAMES = {"val": "validation", "test": "test"}
UNCALIBRATED = "uncalibrated/"  # the plain argmax beside a calibrated decision (eval.calibration)
FALLBACK_METRIC = "val/acc"  # only when no job says what it optimised


def split_and_measure(metric: str) -> tuple[str, str]:
    """`val/exact_match` -> ("val", "exact_match"); a name without a split (`global_step`) -> ("", name)."""
    split, _, measure = metric.partition("/")
    return (split, measure) if measure else ("", metric)


def _finished_first(jobs: list[Job]) -> list[Job]:
    return sorted(jobs, key=lambda job: job.status != DONE)


def optimized_metrics(jobs: list[Job]) -> list[str]:
    """The metrics the jobs optimised (their tasks', unless a run chose another), finished jobs first, each once."""
    return list(dict.fromkeys(job.optimized_metric for job in _finished_first(jobs) if job.optimized_metric))


def measure_titles(jobs: list[Job]) -> dict[str, str]:
    """measure -> title, as the jobs' tasks name their results table's columns (`exact_match` -> `exact match`)."""
    return {measure: title for job in jobs for measure, title in job.titles.items()}


def metric_label(metric: str, titles: Mapping[str, str] | None = None) -> str:
    """`test/macro_f1` -> `test macro-F1`, with the titles of the tasks' results tables (`measure_titles`)."""
    split, measure = split_and_measure(metric)
    if not split:
        return metric
    if measure.startswith(UNCALIBRATED):
        return f"{metric_label(f'{split}/' + measure.removeprefix(UNCALIBRATED), titles)} (uncalibrated)"
    return f"{SPLIT_NAMES.get(split, split)} {(titles or {}).get(measure, measure)}"


def summary_metrics(jobs: list[Job]) -> list[str]:
    """The table's columns: the headline measures of the jobs' tasks and the measure they optimise, on
    validation then test (a classification task: accuracy and macro-F1; an answer task: exact match and
    the parse-failure rate)."""
    measures: dict[str, None] = {}  # ordered, each once
    for job in jobs:
        optimized_split, optimized = split_and_measure(job.optimized_metric or "")
        measures |= dict.fromkeys([*job.measures, *([optimized] if optimized_split in SPLITS else [])])
    return [f"{split}/{measure}" for split in SPLITS for measure in measures]


def calibrated_jobs(jobs: list[Job]) -> list[Job]:
    """Finished jobs whose val/test metrics are those of a calibrated decision (calibration/applied = 1)."""
    return [job for job in jobs if job.status == DONE and job.metrics.get("calibration/applied") == 1]


def calibration_columns(jobs: list[Job], metrics: list[str]) -> list[str]:
    """The plain argmax beside the calibrated decision, when a job calibrated, and only what it has: the
    optimised metric on validation (which the offsets were fitted to), every test column."""
    calibrated = calibrated_jobs(jobs)
    validation = [metric for metric in optimized_metrics(calibrated) if metric.startswith("val/")]
    wanted = [f"val/{UNCALIBRATED}{split_and_measure(metric)[1]}" for metric in validation]
    wanted += [f"test/{UNCALIBRATED}{m.removeprefix('test/')}" for m in metrics if m.startswith("test/")]
    return [metric for metric in dict.fromkeys(wanted) if any(metric in job.metrics for job in calibrated)]


@dataclass
class MetricChoice:
    """The metric of the figure and verdict: one for the whole report, or one per task when the jobs ran tasks
    that optimise different metrics (each task is then judged on its own)."""

    metric: str
    per_task: dict[str, str] = field(default_factory=dict)  # task -> its metric; empty = `metric` for all
    notes: list[str] = field(default_factory=list)

    @property
    def metrics(self) -> list[str]:
        return list(dict.fromkeys([self.metric, *self.per_task.values()]))

    def of(self, task: str | None) -> str:
        return self.per_task.get(task or "", self.metric)


def _judged_metric(optimized: str, available: set[str]) -> str:
    """The test value of a validation metric (`val/exact_match` -> `test/exact_match`) where jobs have it."""
    split, measure = split_and_measure(optimized)
    test_metric = f"test/{measure}"
    return test_metric if split == "val" and (test_metric in available or not available) else optimized


def choose_metric(jobs: list[Job], requested: str | None) -> MetricChoice:
    """The requested metric, or per task the test value of the metric its jobs optimised, else that metric."""
    available = {name for job in jobs if job.status == DONE for name in job.metrics}
    if requested is not None:
        if available and requested not in available:
            raise ValueError(
                f"--metric {requested}: no finished job has it; available: {', '.join(sorted(available))}"
            )
        return MetricChoice(requested)
    titles = measure_titles(jobs)
    optimized_by_task: dict[str, str] = {}
    for job in _finished_first(jobs):
        if job.optimized_metric:
            optimized_by_task.setdefault(job.task, job.optimized_metric)
    optimized_by_task = optimized_by_task or {"": FALLBACK_METRIC}
    per_task, notes = {}, []
    for task, optimized in optimized_by_task.items():
        of_task = {name for job in jobs if job.status == DONE and job.task == task for name in job.metrics}
        per_task[task] = _judged_metric(optimized, of_task)
        if per_task[task] == optimized and optimized.startswith("val/"):
            test_metric = "test/" + split_and_measure(optimized)[1]
            label = metric_label(optimized, titles)
            notes.append(f"no finished job has {test_metric}; the figure and verdict use {label}.")
    if len(set(optimized_metrics(jobs))) > len(optimized_by_task):
        notes.append(
            f"the jobs optimised {', '.join(optimized_metrics(jobs))}: see `--metric` to judge on one."
        )
    first = next(iter(per_task.values()))
    return MetricChoice(first, per_task if len(set(per_task.values())) > 1 else {}, notes)
