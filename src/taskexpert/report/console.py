"""The report on the terminal: the results table, the verdict, and where the files went."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from taskexpert.report.collect import DONE
from taskexpert.report.markdown import job_counts
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


def short_metric_label(metric: str) -> str:
    """`test/macro_f1` -> `test F1`: the terminal table has to fit a window."""
    split, _, measure = metric.partition("/")
    uncalibrated = measure.startswith("uncalibrated/")
    measure = measure.removeprefix("uncalibrated/")
    measure = {"acc": "acc", "macro_f1": "F1"}.get(measure, measure)
    return f"{split} {measure}".strip() + (" uncal." if uncalibrated else "")


def results_table(report: Report) -> Table:
    table = Table(title=f"{report.sweep_dir}: mean ± std over seeds (F1 = macro-F1)")
    unfinished = shows_unfinished(report.groups)
    for column in group_header(report.varying, unfinished):
        table.add_column(column, justify="right" if column in {"value", "seeds", "no results"} else "left")
    for metric in report.metrics:
        table.add_column(short_metric_label(metric), justify="right", no_wrap=True)
    for group in report.groups:
        cells = [mean_std_cell(group.mean.get(m), group.std.get(m)) for m in report.metrics]
        table.add_row(*group_cells(group, unfinished), *cells)
    return table


def print_report(report: Report, console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=PIPED_WIDTH)
    console.print(results_table(report))
    console.print(job_counts(report), markup=False, highlight=False)
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
