"""What an augmentation run leaves behind: records, stats and rejections (written atomically), a table, W&B."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from taskexpert.records import Record, write_jsonl
from taskexpert.utils.atomic import atomic_write_json, atomic_write_text
from taskexpert.utils.secrets import scrub


def write_outputs(
    run_dir: Path,
    output_cfg: Any,
    records: list[Record],
    stats: dict[str, Any],
    rejected: list[dict[str, Any]],
) -> dict[str, Path]:
    """Each file appears complete or not at all; the stats file is written last. Stats and rejections carry
    servers' error bodies and the teacher's URL: secrets in them are masked (taskexpert.utils.secrets; a
    rejected row is masked by `RejectedItem.as_dict`)."""
    paths = {
        "records": run_dir / output_cfg.records,
        "rejected": run_dir / output_cfg.rejected,
        "stats": run_dir / output_cfg.stats,
    }
    write_jsonl(records, paths["records"])
    lines = (json.dumps(row, ensure_ascii=False) + "\n" for row in rejected)
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
    for key in ("iterations", "seeds", "requested", "cache_hits", "generated", "failed", "parsed"):
        if key in stats:
            table.add_row(key.replace("_", " "), _format(stats[key]))
    for reason, count in stats["rejected"].items():
        table.add_row(f"rejected: {reason}", _format(count))
    table.add_row("[bold]kept", f"[bold]{stats['kept']}")
    if "items_per_second" in stats:
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
    for entry in stats.get("rounds") or []:
        cost = entry.get("cost_usd")
        table.add_row(
            f"round {entry['iteration']}: requested / added",
            f"{entry['requested']} / {entry['added']}, tokens {_format(entry.get('prompt_tokens'))} / "
            f"{_format(entry.get('completion_tokens'))}" + ("" if cost is None else f", USD {cost:.4f}"),
        )
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
    elif stats.get("failed"):
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


def log_to_wandb(
    wandb_cfg: Any,
    config: dict[str, Any],
    stats: dict[str, Any],
    run_dir: Path,
    job_type: str = "augment",
    steps: list[dict[str, Any]] | None = None,
) -> None:
    """One W&B run per augmentation: the redacted config and the stats (secrets masked) as its summary; a
    multi-round method's rounds as steps (from its history at the end, so a resumed run logs each once)."""
    import wandb

    name = f"{stats['method']}_{stats['teacher']['model']}"
    run = wandb.init(
        project=wandb_cfg.project,
        entity=wandb_cfg.get("entity"),
        mode=wandb_cfg.mode,
        dir=str(run_dir),
        config=config,
        job_type=job_type,
        name=name if job_type == stats["method"] else f"{job_type}_{name}",
        reinit="finish_previous",
    )
    try:
        for entry in steps or []:
            scalars = {key: value for key, value in flatten(entry).items() if value is not None}
            run.log({f"{job_type}/{key}": value for key, value in scalars.items()}, step=entry["iteration"])
        summary = {key: value for key, value in stats.items() if key not in ("failures", "settings")}
        run.summary.update(scrub(flatten(summary)))
    finally:
        wandb.finish()
