"""The report's tables as data: summary.csv and runs.csv, and the cells shared by the markdown and terminal tables."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from taskexpert.report.collect import Job
from taskexpert.report.summarize import Group, Series, method_name
from taskexpert.utils.atomic import atomic_write_text


def format_value(value: float | None) -> str:
    """Hyperparameter values are whole numbers in practice: 64, not 64.0."""
    if value is None:
        return ""
    return f"{value:g}"


def mean_std_cell(mean: float | None, std: float | None) -> str:
    """`0.612 ± 0.014`; a single seed shows its value alone, no results show `–`."""
    if mean is None:
        return "–"
    return f"{mean:.3f} ± {std:.3f}" if std is not None else f"{mean:.3f}"


def number_cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def describe_context(context: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in context.items())


def shows_unfinished(groups: list[Group]) -> bool:
    return any(group.n_pruned or group.n_missing for group in groups)


def group_header(varying: list[str], unfinished: bool) -> list[str]:
    """The identifying columns of a group row; `no results` only when some job has none."""
    return [
        "model",
        *varying,
        "method",
        "hyperparameter",
        "value",
        "seeds",
        *(["no results"] if unfinished else []),
    ]


def group_cells(group: Group, unfinished: bool) -> list[str]:
    """The identifying cells of a group row, as the markdown and terminal tables show them."""
    cells = [
        group.model,
        *group.settings.values(),
        method_name(group.method),
        group.hyperparameter or "",
        format_value(group.value),
        str(group.n_seeds),
    ]
    return cells + ([str(group.n_pruned + group.n_missing)] if unfinished else [])


def sensitivity_header() -> list[str]:
    return ["method", "hyperparameter", "values", "range of means", "std of means", "seed std", "best value"]


def sensitivity_cells(series: Series) -> list[str]:
    return [
        series.label,
        series.hyperparameter,
        " ".join(format_value(value) for value in series.values) or "–",
        number_cell(series.spread),
        number_cell(series.std_of_means),
        number_cell(series.mean_seed_std),
        format_value(series.best_value) or "–",
    ]


def csv_text(header: list[str], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if cell is None else cell for cell in row] for row in rows])
    return buffer.getvalue()


def write_summary_csv(path: Path, groups: list[Group], varying: list[str], metrics: list[str]) -> Path:
    """One row per group; plain numeric `<metric>_mean` / `<metric>_std` columns (empty std for one seed)."""
    header = [
        "model",
        *varying,
        "method",
        "hyperparameter",
        "value",
        "n_seeds",
        "seeds",
        "n_pruned",
        "n_missing",
    ]
    for metric in metrics:
        header += [f"{metric}_mean", f"{metric}_std"]
    rows = []
    for group in groups:
        row: list[object] = [
            group.model,
            *group.settings.values(),
            group.method,
            group.hyperparameter,
            format_value(group.value),
            group.n_seeds,
            " ".join(str(seed) for seed in group.seeds),
            group.n_pruned,
            group.n_missing,
        ]
        for metric in metrics:
            row += [full_precision(group.mean.get(metric)), full_precision(group.std.get(metric))]
        rows.append(row)
    return atomic_write_text(path, csv_text(header, rows))


def full_precision(value: float | None) -> str:
    return "" if value is None else repr(value)


def _metric_order(name: str) -> tuple[int, str]:
    """Validation, then test, then the rest (parameter counts, steps)."""
    split = name.split("/", 1)[0] if "/" in name else ""
    return ({"val": 0, "test": 1}.get(split, 2), name)


def write_runs_csv(path: Path, jobs: list[Job], varying: list[str]) -> Path:
    """One row per job directory, with every scalar of its metrics.json."""
    metric_names = sorted({name for job in jobs for name in job.metrics}, key=_metric_order)
    header = ["job", "status", "reason", "model", *varying, "method", "hyperparameter", "value", "seed"]
    rows = [
        [
            job.job,
            job.status,
            job.reason,
            job.model,
            *(job.settings.get(key, "") for key in varying),
            job.method,
            job.hyperparameter,
            format_value(job.value),
            job.seed,
            *(full_precision(job.metrics.get(name)) for name in metric_names),
        ]
        for job in jobs
    ]
    return atomic_write_text(path, csv_text(header + metric_names, rows))
