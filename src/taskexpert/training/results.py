"""What a run leaves behind: metrics.json, predictions.jsonl, splits.json, and the table on screen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from taskexpert.records import LABELS
from taskexpert.utils.atomic import atomic_write_json, atomic_write_text


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> Path:
    return atomic_write_json(run_dir / "metrics.json", metrics)


def write_predictions(run_dir: Path, predictions: dict[str, list[dict[str, Any]]]) -> Path:
    lines = [
        json.dumps({"split": split, **row}, ensure_ascii=False)
        for split, rows in predictions.items()
        for row in rows
    ]
    return atomic_write_text(run_dir / "predictions.jsonl", "".join(line + "\n" for line in lines))


def write_splits(run_dir: Path, split_ids: dict[str, list[str]]) -> Path:
    return atomic_write_json(run_dir / "splits.json", split_ids)


def results_table(metrics: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    table.add_column("split")
    for column in ("accuracy", "macro-F1", *(f"F1 {label}" for label in LABELS)):
        table.add_column(column, justify="right")
    shown = ["val", "test"]
    if metrics.get("calibration/applied") == 1.0:  # the plain argmax too, beside the calibrated decision
        shown += ["val/uncalibrated", "test/uncalibrated"]
    for split in shown:
        if f"{split}/acc" in metrics:
            row = [
                metrics[f"{split}/acc"],
                metrics[f"{split}/macro_f1"],
                *(metrics[f"{split}/f1_{label}"] for label in LABELS),
            ]
            table.add_row(split.replace("/", " "), *(f"{value:.3f}" for value in row))
    return table


def print_results(metrics: dict[str, Any], run_dir: Path, title: str) -> None:
    console = Console()
    console.print(results_table(metrics, title))
    console.print(f"Run directory: [bold]{run_dir}[/bold]")
