"""The `make run` demo: augment with the offline teacher, train without and with the augmented records, compare.

    python -m taskexpert.demo [--max-seeds N] [--epochs N] [--out DIR] [--teacher NAME]
                              [--augment-set KEY=VALUE ...] [--train-set KEY=VALUE ...]

Each step is the command a user would type (`augment.py`, then `train.py` twice), run as a subprocess and
echoed; the table at the end reads the two runs' metrics.json. SmolLM2-135M is a weak teacher and 36 seed
items say little: the demo shows the plumbing end to end, not what Dr. LLaMA's method is worth.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from taskexpert.tasks import load_task

ROOT = Path(__file__).resolve().parents[2]
console = Console()


def run_step(title: str, arguments: list[str]) -> float:
    """Run one command from the project root, streaming its output; returns its wall time."""
    command = [sys.executable, *arguments]
    console.rule(f"[bold]{title}")
    console.print(f"$ {shlex.join(['python', *arguments])}", style="dim", markup=False, highlight=False)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    return time.perf_counter() - started


def comparison_table(baseline: dict[str, Any], augmented: dict[str, Any], summary: dict[str, Any]) -> Table:
    table = Table(title=f"Without and with {summary['kept']} teacher-rewritten records")
    table.add_column("metric")
    table.add_column("seed data only", justify="right")
    table.add_column("+ augmented", justify="right")
    table.add_column("difference", justify="right")
    task = load_task()  # the demo runs train.py's default task
    metrics = task.kind.table_columns(task)
    for split in ("val", "test"):
        for name, label in metrics:
            key = f"{split}/{name}"
            before, after = baseline.get(key), augmented.get(key)
            if before is None or after is None:
                continue
            table.add_row(f"{split} {label}", f"{before:.3f}", f"{after:.3f}", f"{after - before:+.3f}")
    table.add_row("optimizer steps", str(baseline.get("global_step")), str(augmented.get("global_step")), "")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-seeds", type=int, default=16, help="training records the teacher rewrites")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="tokens per rewritten question")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of each training run")
    parser.add_argument("--out", type=Path, default=None, help="demo directory (default outputs/demo/<time>)")
    parser.add_argument(
        "--teacher", default="smollm2", help="conf/teacher option (default: smollm2, offline)"
    )
    parser.add_argument(
        "--augment-set", action="append", default=[], metavar="KEY=VALUE", help="extra augment.py override"
    )
    parser.add_argument(
        "--train-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra override of both train.py runs (e.g. model=tiny_llama); repeat for more",
    )
    arguments = parser.parse_args(argv)
    out = arguments.out or ROOT / "outputs" / "demo" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    augment_dir, baseline_dir, augmented_dir = (
        out / "augment",
        out / "train_seed_only",
        out / "train_augmented",
    )
    started = time.perf_counter()
    seconds = {}
    seconds["augment"] = run_step(
        f"1/3 the teacher ({arguments.teacher}) rewrites training questions",
        [
            "augment.py",
            "method=rewrite",
            f"teacher={arguments.teacher}",
            f"method.max_seeds={arguments.max_seeds}",
            f"method.rewrite.max_new_tokens={arguments.max_new_tokens}",
            *arguments.augment_set,
            f"hydra.run.dir={augment_dir}",
        ],
    )
    records = augment_dir / "augmented.jsonl"
    seconds["train seed only"] = run_step(
        "2/3 train on the seed data only",
        [
            "train.py",
            f"trainer.max_epochs={arguments.epochs}",
            *arguments.train_set,
            f"hydra.run.dir={baseline_dir}",
        ],
    )
    seconds["train augmented"] = run_step(
        "3/3 train on the seed data + the augmented records",
        [
            "train.py",
            f"trainer.max_epochs={arguments.epochs}",
            f"data.extra_train=[{records}]",
            *arguments.train_set,
            f"hydra.run.dir={augmented_dir}",
        ],
    )
    summary = json.loads((augment_dir / "augment_stats.json").read_text())
    baseline = json.loads((baseline_dir / "metrics.json").read_text())
    augmented = json.loads((augmented_dir / "metrics.json").read_text())
    console.rule("[bold]Result")
    console.print(comparison_table(baseline, augmented, summary))
    console.print(
        f"Teacher: {summary['requested']} requested, {summary['kept']} kept, "
        f"rejected {summary['rejected'] or 'none'}; cache hits {summary['cache_hits']}."
    )
    timing = ", ".join(f"{name} {value:.0f} s" for name, value in seconds.items())
    console.print(f"Wall time {time.perf_counter() - started:.0f} s ({timing}). Runs in {out}")
    console.print(
        "SmolLM2-135M is a weak teacher and the sample is tiny: this shows the pipeline, not the method's worth.",
        style="dim",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
