"""What an augmentation run leaves behind: records, stats and rejections (written atomically), a table, W&B."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from taskexpert.augment.generation import RejectedItem
from taskexpert.records import Record, write_jsonl
from taskexpert.utils.atomic import atomic_write_json, atomic_write_text
from taskexpert.utils.secrets import scrub


def write_outputs(
    run_dir: Path,
    output_cfg: Any,
    records: list[Record],
    stats: dict[str, Any],
    rejected: list[RejectedItem],
) -> dict[str, Path]:
    """Each file appears complete or not at all; the stats file is written last. Stats and rejections carry
    servers' error bodies and the teacher's URL: secrets in them are masked (taskexpert.utils.secrets)."""
    paths = {
        "records": run_dir / output_cfg.records,
        "rejected": run_dir / output_cfg.rejected,
        "stats": run_dir / output_cfg.stats,
    }
    write_jsonl(records, paths["records"])
    lines = (json.dumps(item.as_dict(), ensure_ascii=False) + "\n" for item in rejected)  # masked in as_dict
    atomic_write_text(paths["rejected"], "".join(lines))
    atomic_write_json(paths["stats"], scrub(stats))
    return paths


def _format(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def summary_table(stats: dict[str, Any]) -> Table:
    table = Table(title=f"Augmentation: {stats['method']} with {stats['teacher']['model']}")
    table.add_column("")
    table.add_column("value", justify="right")
    for key in ("seeds", "requested", "cache_hits", "generated", "failed", "parsed"):
        table.add_row(key.replace("_", " "), _format(stats[key]))
    for reason, count in stats["rejected"].items():
        table.add_row(f"rejected: {reason}", _format(count))
    table.add_row("[bold]kept", f"[bold]{stats['kept']}")
    table.add_row("items/s (teacher)", _format(stats["items_per_second"]))
    totals = stats.get("teacher_totals") or {}
    if totals:
        table.add_row("teacher calls (paid)", _format(totals.get("calls")))
        table.add_row("teacher cache hits", _format(totals.get("cache_hits")))
        table.add_row(
            "tokens in / out",
            f"{_format(totals.get('prompt_tokens'))} / {_format(totals.get('completion_tokens'))}",
        )
        cost = totals.get("cost_usd")
        table.add_row("cost (USD)", "unpriced" if cost is None else f"{cost:.4f}")
    for name, values in stats.get("diversity", {}).items():
        parts = [f"{key} {_format(value)}" for key, value in values.items() if key != "items"]
        table.add_row(f"diversity: {name}", ", ".join(parts))
    return table


def print_summary(stats: dict[str, Any], paths: dict[str, Path]) -> None:
    console = Console()
    console.print(summary_table(stats))
    console.print(f"Augmented records: [bold]{paths['records']}[/bold]")
    stop = stats.get("budget_stop")
    if stop:
        console.print(
            f"[yellow]teacher budget reached (teacher.budget.{stop}): the records so far are written; the same "
            "command with a larger budget continues from the cache"
        )
    elif stats["failed"]:
        console.print(
            f"[yellow]{stats['failed']} teacher requests failed (listed in {paths['stats'].name}); "
            "run again to retry them: answers already received come from the cache"
        )


def flatten(stats: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested stats as `a/b/c` keys with scalar values (lists are left out)."""
    flat: dict[str, Any] = {}
    for key, value in stats.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}/"))
        elif not isinstance(value, list):
            flat[name] = value
    return flat


def log_to_wandb(wandb_cfg: Any, config: dict[str, Any], stats: dict[str, Any], run_dir: Path) -> None:
    """One W&B run per augmentation: the redacted config and the stats (secrets masked) as its summary."""
    import wandb

    run = wandb.init(
        project=wandb_cfg.project,
        entity=wandb_cfg.get("entity"),
        mode=wandb_cfg.mode,
        dir=str(run_dir),
        config=config,
        job_type="augment",
        name=f"augment_{stats['method']}_{stats['teacher']['model']}",
        reinit="finish_previous",
    )
    try:
        run.summary.update(scrub(flatten({key: value for key, value in stats.items() if key != "failures"})))
    finally:
        wandb.finish()
