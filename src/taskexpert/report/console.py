"""The report on the terminal: the results table, the verdict, and where the files went."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from taskexpert.report.collect import DONE
from taskexpert.report.markdown import job_counts, metric_line
from taskexpert.report.measures import metric_label
from taskexpert.report.study_tables import study_cells, study_header
from taskexpert.report.tables import (
    describe_context,
    group_cells,
    group_header,
    mean_std_cell,
    shows_unfinished,
)

if TYPE_CHECKING:
    from taskexpert.report.build import Report

# Piped output has no terminal width to fit; rich would squeeze the table into 80 columns.
PIPED_WIDTH = 160


def short_metric_label(metric: str, titles: dict[str, str]) -> str:
    """`test/macro_f1` -> `test macro-F1`: the task's title, with the split as short as it can be."""
    label = metric_label(metric, titles).replace("validation ", "val ", 1)
    return label.replace(" (uncalibrated)", " uncal.")


def results_table(report: Report) -> Table:
    table = Table(title=f"{report.sweep_dir}: mean ± std over seeds")
    unfinished = shows_unfinished(report.groups)
    rows = [
        group_cells(group, unfinished)
        + [mean_std_cell(group.mean.get(m), group.std.get(m)) for m in report.metrics]
        for group in report.groups
    ]
    headers = group_header(report.varying, unfinished)
    headers += [short_metric_label(metric, report.titles) for metric in report.metrics]
    for index, header in enumerate(headers):
        # a narrow window wraps the headers (one word a line), never a number or a name
        widest = max([len(row[index]) for row in rows] + [max(map(len, header.split()), default=0)])
        right = index >= len(headers) - len(report.metrics) or header in {"value", "seeds", "no results"}
        table.add_column(header, justify="right" if right else "left", min_width=widest)
    for row in rows:
        table.add_row(*row)
    return table


def _table(title: str, headers: list[str], rows: list[list[str]], right: set[str]) -> Table:
    table = Table(title=title)
    for index, header in enumerate(headers):
        # a narrow window wraps the headers (one word a line), never a number or a name
        widest = max([len(row[index]) for row in rows] + [max(map(len, header.split()), default=0)])
        table.add_column(header, justify="right" if header in right else "left", min_width=widest)
    for row in rows:
        table.add_row(*row)
    return table


def study_table(report: Report) -> Table:
    study = report.study
    headers = study_header(study, report.titles)
    rows = [study_cells(arm, study) for arm in study.arms]
    left = {*study.context_keys, "arm", "seeds"}
    return _table(
        f"{report.sweep_dir}: augmentation arms (mean ± std over seeds; paired difference to none)",
        headers,
        rows,
        {header for header in headers if header not in left},
    )


def _print_study_verdict(report: Report, console: Console) -> None:
    for verdict in report.study.verdicts:
        prefix = f"[{describe_context(verdict.context)}] " if verdict.context else ""
        for index, line in enumerate(verdict.lines):
            style = "bold green" if verdict.best is not None and index == 0 else "yellow"
            console.print(prefix + line, style=style, markup=False, highlight=False)


def print_report(report: Report, console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=PIPED_WIDTH)
    if report.study is not None:
        _print_study_report(report, console)
        return
    console.print(results_table(report))
    console.print(job_counts(report), markup=False, highlight=False)
    console.print(metric_line(report).replace("`", ""), markup=False, highlight=False)
    unfinished = [f"{job.job} ({job.status})" for job in report.jobs if job.status != DONE]
    if unfinished:
        console.print("Without results: " + ", ".join(unfinished), markup=False, highlight=False)
    several_contexts = len({describe_context(verdict.context) for verdict in report.verdicts}) > 1
    for verdict in report.verdicts:
        prefix = f"[{describe_context(verdict.context)}] " if several_contexts else ""
        style = "bold green" if verdict.less_sensitive else "yellow"
        console.print(f"{prefix}{verdict.text}", style=style, markup=False, highlight=False)
    for note in report.notes:
        console.print(f"note: {note}", style="dim", markup=False, highlight=False)
    console.print("Wrote: " + ", ".join(str(path) for path in report.written), markup=False, highlight=False)


def _print_study_report(report: Report, console: Console) -> None:
    console.print(study_table(report))
    console.print(job_counts(report), markup=False, highlight=False)
    console.print(metric_line(report).replace("`", ""), markup=False, highlight=False)
    unfinished = [f"{job.job} ({job.status})" for job in report.jobs if job.status != DONE]
    if unfinished:
        console.print("Without results: " + ", ".join(unfinished), markup=False, highlight=False)
    _print_study_verdict(report, console)
    for note in report.notes:
        console.print(f"note: {note}", style="dim", markup=False, highlight=False)
    console.print("Wrote: " + ", ".join(str(path) for path in report.written), markup=False, highlight=False)
