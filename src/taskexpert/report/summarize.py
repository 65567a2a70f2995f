"""Aggregate jobs over seeds, and measure how much each PEFT method's results move with its hyperparameter."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from itertools import combinations

from taskexpert.report.collect import DONE, FULL_FINE_TUNING, PRUNED, Job
from taskexpert.report.measures import MetricChoice, metric_label

METHOD_ORDER = ("lora", "prefix", "prompt", "p_tuning", FULL_FINE_TUNING)
METHOD_NAMES = {
    "lora": "LoRA",
    "prefix": "prefix tuning",
    "prompt": "prompt tuning",
    "p_tuning": "P-tuning",
    FULL_FINE_TUNING: "full fine-tuning",
}


def method_name(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def _mean_and_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample std (ddof=1); a single seed has no std (None), rather than a misleading 0."""
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


@dataclass
class Group:
    """One configuration of the sweep, aggregated over its seeds."""

    model: str
    settings: dict[str, str]  # the varying override keys of this configuration
    method: str
    hyperparameter: str | None
    value: float | None
    seeds: list[int | None] = field(default_factory=list)  # seeds of the jobs with results
    sampled: frozenset[str] = frozenset()  # settings a study's sampler chose (Optuna): not held fixed
    n_pruned: int = 0
    n_missing: int = 0  # no metrics.json, or an unreadable one
    mean: dict[str, float | None] = field(default_factory=dict)
    std: dict[str, float | None] = field(default_factory=dict)

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)


def _method_rank(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def summarize(jobs: list[Job], varying: list[str], metrics: list[str]) -> list[Group]:
    """One `Group` per (model, varying settings, method, hyperparameter value); pruned jobs are not averaged."""
    groups: dict[tuple, Group] = {}
    members: dict[tuple, list[Job]] = {}
    for job in jobs:
        settings = {key: job.settings.get(key, "") for key in varying}
        key = (job.model, *settings.values(), job.method, job.hyperparameter, job.value)
        if key not in groups:
            groups[key] = Group(job.model, settings, job.method, job.hyperparameter, job.value)
            members[key] = []
        members[key].append(job)
    for key, group in groups.items():
        group.sampled = frozenset().union(*(job.sampled for job in members[key]))
        done = [job for job in members[key] if job.status == DONE]
        group.seeds = [job.seed for job in done]
        group.n_pruned = sum(job.status == PRUNED for job in members[key])
        group.n_missing = sum(job.status not in (DONE, PRUNED) for job in members[key])
        for metric in metrics:
            values = [job.metrics[metric] for job in done if metric in job.metrics]
            group.mean[metric], group.std[metric] = _mean_and_std(values)
    return sorted(
        groups.values(),
        key=lambda group: (
            group.model,
            *group.settings.values(),
            _method_rank(group.method),
            group.value if group.value is not None else float("-inf"),
        ),
    )


@dataclass
class Series:
    """One method's hyperparameter grid within one context (model and non-PEFT settings), seen through a metric."""

    context: dict[str, str]
    method: str
    hyperparameter: str
    variant: dict[str, str]  # other varying `peft.*` settings of this method, e.g. peft.r
    metric: str
    groups: list[Group] = field(default_factory=list)  # every grid value, with or without results

    def for_metric(self, metric: str) -> Series:
        return replace(self, metric=metric)

    @property
    def points(self) -> list[Group]:
        """The grid values with results for the metric."""
        return [group for group in self.groups if group.mean.get(self.metric) is not None]

    @property
    def values(self) -> list[float]:
        return [group.value for group in self.points]

    @property
    def distinct_values(self) -> int:
        """How many grid values have results (trials of a sampled study may share one)."""
        return len(set(self.values))

    @property
    def means(self) -> list[float]:
        return [group.mean[self.metric] for group in self.points]

    @property
    def seed_stds(self) -> list[float | None]:
        return [group.std.get(self.metric) for group in self.points]

    @property
    def label(self) -> str:
        extra = ", ".join(f"{key}={value}" for key, value in self.variant.items())
        return f"{method_name(self.method)} ({extra})" if extra else method_name(self.method)

    @property
    def spread(self) -> float | None:
        """max - min of the group means across the grid."""
        return max(self.means) - min(self.means) if len(self.means) > 1 else None

    @property
    def std_of_means(self) -> float | None:
        """Sample std (ddof=1) of the group means across the grid."""
        return statistics.stdev(self.means) if len(self.means) > 1 else None

    @property
    def mean_seed_std(self) -> float | None:
        """The seed-to-seed std, averaged over the grid values that have one: the noise to compare with."""
        stds = [std for std in self.seed_stds if std is not None]
        return statistics.fmean(stds) if stds else None

    @property
    def best_value(self) -> float | None:
        return self.values[self.means.index(max(self.means))] if self.means else None


def group_context(group: Group) -> dict[str, str]:
    """What a comparison of methods holds fixed: the model and the varying settings that are not PEFT's, nor
    chosen per trial by a study's sampler (each Optuna trial would otherwise be a context of its own)."""
    return {"model": group.model} | {
        key: value
        for key, value in group.settings.items()
        if not key.startswith("peft.") and key not in group.sampled
    }


def sensitivity_series(groups: list[Group], choice: MetricChoice) -> list[Series]:
    """The grids of every method that has a hyperparameter, each seen through its task's metric of `choice`."""
    series: dict[tuple, Series] = {}
    for group in groups:
        if group.hyperparameter is None or group.value is None:
            continue
        context = group_context(group)
        variant = {key: value for key, value in group.settings.items() if key.startswith("peft.")}
        key = (*context.values(), group.method, *variant.items())
        metric = choice.of(group.settings.get("task"))
        series.setdefault(key, Series(context, group.method, group.hyperparameter, variant, metric))
        series[key].groups.append(group)
    return list(series.values())


def contexts_of(groups: list[Group]) -> list[dict[str, str]]:
    contexts: list[dict[str, str]] = []
    for group in groups:
        if group_context(group) not in contexts:
            contexts.append(group_context(group))
    return contexts


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _compare(less: Series, more: Series, titles: Mapping[str, str] | None) -> str:
    counts = (
        f"{less.distinct_values} values each"
        if less.distinct_values == more.distinct_values
        else f"{less.distinct_values} and {more.distinct_values} values"
    )
    numbers = (
        f"{metric_label(less.metric, titles)} range {less.spread:.3f} vs {more.spread:.3f} "
        f"(std {less.std_of_means:.3f} vs {more.std_of_means:.3f}) over {counts}."
    )
    if abs(less.spread - more.spread) < 1e-12:
        return f"{_capitalized(less.label)} and {more.label} are equally sensitive to their hyperparameters: {numbers}"
    return f"{_capitalized(less.label)} is less sensitive to its hyperparameter than {more.label}: {numbers}"


def _no_verdict(series: list[Series]) -> str:
    if not series:
        return "No verdict: no PEFT method with a swept hyperparameter has results here."
    described = "; ".join(
        f"{item.label} has results for {item.distinct_values} value{'s' if item.distinct_values != 1 else ''} "
        f"of {item.hyperparameter}"
        for item in series
    )
    if len(series) == 1:
        return f"No verdict: only {series[0].label} is in this sweep ({described}); a verdict compares two methods."
    return f"No verdict: {described}; comparing needs at least 2 values for each of two methods."


@dataclass
class Verdict:
    context: dict[str, str]
    text: str
    less_sensitive: Series | None = None
    more_sensitive: Series | None = None


def sensitivity_verdicts(
    groups: list[Group], all_series: list[Series], titles: Mapping[str, str] | None = None
) -> list[Verdict]:
    """Per context, compare every two methods whose grids have >= 2 values with results, by the range of means."""
    verdicts = []
    for context in contexts_of(groups):
        series = [item for item in all_series if item.context == context]
        comparable = sorted(
            (item for item in series if item.distinct_values >= 2), key=lambda item: item.spread
        )
        if len(comparable) < 2:
            verdicts.append(Verdict(context, _no_verdict(series)))
            continue
        for less, more in combinations(comparable, 2):
            verdicts.append(Verdict(context, _compare(less, more, titles), less, more))
    return verdicts
