"""What a run leaves behind: metrics.json, predictions.jsonl, splits.json, and the table on screen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from taskexpert.data.splits import Splits
from taskexpert.tasks.task import Task
from taskexpert.utils.atomic import atomic_write_json, atomic_write_text
from taskexpert.utils.secrets import scrub


def sweep_metric_name(optimized_metric: str, metrics: dict[str, Any]) -> str:
    """The metric a sweeper ranks trials by: `optimized_metric`, except that a validation metric of a decision
    whose offsets were fitted on those same validation items (`eval.calibration=bias`) is optimistic, so the
    plain argmax's (`val/uncalibrated/...`) stands in for it. Content-free offsets see no validation label and
    test metrics no fit, so theirs stay as they are."""
    split, _, name = optimized_metric.partition("/")
    fitted_on_validation = (
        metrics.get("calibration/applied") == 1.0 and metrics.get("calibration/method") == "bias"
    )
    uncalibrated = f"val/uncalibrated/{name}"
    if split == "val" and fitted_on_validation and uncalibrated in metrics:
        return uncalibrated
    return optimized_metric


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> Path:
    return atomic_write_json(run_dir / "metrics.json", scrub(metrics))


def write_predictions(run_dir: Path, predictions: dict[str, list[dict[str, Any]]]) -> Path:
    lines = [  # a remembered secret is masked; URLs and tokens the model wrote stay as written
        json.dumps(scrub({"split": split, **row}, patterns=False), ensure_ascii=False)
        for split, rows in predictions.items()
        for row in rows
    ]
    return atomic_write_text(run_dir / "predictions.jsonl", "".join(line + "\n" for line in lines))


def write_splits(run_dir: Path, splits: Splits) -> Path:
    """The ids of each split, and how they were drawn (`settings`: reader, split, limits, extra files)."""
    return atomic_write_json(run_dir / "splits.json", scrub({**splits.ids(), "settings": splits.settings}))


def results_table(metrics: dict[str, Any], title: str, task: Task) -> Table:
    columns = task.kind.table_columns(task)
    table = Table(title=title)
    table.add_column("split")
    for _, column in columns:
        table.add_column(column, justify="right")
    shown = ["val", "test"]
    if metrics.get("calibration/applied") == 1.0:  # the plain argmax too, beside the calibrated decision
        shown += ["val/uncalibrated", "test/uncalibrated"]
    for split in shown:
        if any(f"{split}/{name}" in metrics for name, _ in columns):
            values = [metrics.get(f"{split}/{name}") for name, _ in columns]
            table.add_row(
                split.replace("/", " "), *("-" if value is None else f"{value:.3f}" for value in values)
            )
    return table


def print_results(metrics: dict[str, Any], run_dir: Path, title: str, task: Task) -> None:
    console = Console()
    console.print(results_table(metrics, title, task))
    for split in ("val", "test"):  # evaluation items data.too_long=skip left out of the metrics above
        skipped = metrics.get(f"{split}/skipped_too_long")
        if skipped:
            console.print(
                f"{split}: {skipped} items over data.max_length={metrics.get('data/max_length')} tokens were "
                "skipped (data.too_long=skip): the metrics above leave them out"
            )
    console.print(f"Run directory: [bold]{run_dir}[/bold]")
