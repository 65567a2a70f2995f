"""The augmentation study as tables: summary.csv (one row per arm, full precision) and the cells of the markdown
and terminal tables."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from taskexpert.report.arm_result import ArmResult, count, signed
from taskexpert.report.measures import metric_label
from taskexpert.report.study import Study
from taskexpert.report.tables import csv_text, full_precision, mean_std_cell
from taskexpert.utils.atomic import atomic_write_text


def _plain(value: float | None) -> str:
    """Counts as integers when they are whole (24, not 24.0); a mean over disagreeing jobs as it is."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(value)


def write_study_csv(path: Path, study: Study) -> Path:
    metrics = list(dict.fromkeys(arm.metric for arm in study.arms))
    header = [*study.context_keys, "arm", "methods", "rounds"]
    for metric in metrics:
        header += [f"{metric}_mean", f"{metric}_std"]
    header += [
        "n_seeds",
        "seeds",
        "n_missing",
        "diff",
        "ci_low",
        "ci_high",
        "paired_seeds",
        "paired_items",
        "records",
        "teacher_calls",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "gain_per_1k_calls",
        "gain_per_usd",
        "note",
    ]
    rows = []
    for arm in study.arms:
        difference = arm.difference
        row: list[object] = [
            *arm.context.values(),
            arm.name,
            " ".join(arm.arm.methods),
            _plain(arm.arm.rounds),
        ]
        for metric in metrics:
            shown = metric == arm.metric
            row += [full_precision(arm.mean if shown else None), full_precision(arm.std if shown else None)]
        row += [
            len(arm.seeds),
            " ".join(str(seed) for seed in arm.seeds),
            arm.n_missing,
            full_precision(difference.difference if difference else None),
            full_precision(difference.low if difference else None),
            full_precision(difference.high if difference else None),
            " ".join(str(seed) for seed in difference.seeds) if difference else "",
            " ".join(str(items) for items in difference.items) if difference else "",
            _plain(arm.arm.records),
            *(
                _plain(arm.teacher(name))
                for name in ("answers", "prompt_tokens", "completion_tokens")  # calls the data took
            ),
            full_precision(arm.teacher("cost_usd")),
            full_precision(arm.gain_per_1k_answers),
            full_precision(arm.gain_per_usd),
            arm.pairing,
        ]
        rows.append(row)
    return atomic_write_text(path, csv_text(header, rows))


def study_header(study: Study, titles: Mapping[str, str]) -> list[str]:
    metrics = list(dict.fromkeys(arm.metric for arm in study.arms))
    metric = metric_label(metrics[0], titles) if len(metrics) == 1 else "metric"
    priced = any(arm.teacher("cost_usd") for arm in study.arms)
    return [
        *study.context_keys,
        "arm",
        "seeds",
        metric,
        "diff to none [95% CI]",
        "records",
        "teacher calls",
        "tokens (prompt / completion)",
        "cost (USD)",
        "gain / 1k calls",
        *(["gain / USD"] if priced else []),
    ]


def _difference_cell(arm: ArmResult) -> str:
    if arm.is_baseline:
        return "baseline"
    if arm.difference is None:
        return arm.pairing or "–"
    difference = arm.difference
    return f"{signed(difference.difference)} [{signed(difference.low)}, {signed(difference.high)}]"


def _gain_cell(value: float | None) -> str:
    return "–" if value is None else signed(value)


def study_cells(arm: ArmResult, study: Study) -> list[str]:
    priced = any(other.teacher("cost_usd") for other in study.arms)
    cost = arm.teacher("cost_usd")
    tokens = f"{count(arm.teacher('prompt_tokens'))} / {count(arm.teacher('completion_tokens'))}"
    return [
        *arm.context.values(),
        arm.label,
        str(len(arm.seeds)) + (f" (+{arm.n_missing} without results)" if arm.n_missing else ""),
        mean_std_cell(arm.mean, arm.std),
        _difference_cell(arm),
        count(arm.arm.records),
        count(arm.teacher("answers")),
        tokens,
        "unpriced" if cost is None else f"{cost:.4f}",
        _gain_cell(arm.gain_per_1k_answers),
        *([_gain_cell(arm.gain_per_usd)] if priced else []),
    ]
