"""Know your data before training: one table of what a run would read, and the same as JSON.

    python -m taskexpert.data task=gsm8k data.path=/data/gsm8k
    python -m taskexpert.data task=sst2 data.path=/data/SST-2 --json sst2_data.json

Overrides are those of train.py (the same composed config); the model's tokenizer measures the lengths.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from taskexpert.errors import TaskExpertError
from taskexpert.utils.atomic import atomic_write_json


def compose_training_config(overrides: list[str], conf_dir: Path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir.resolve()), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def default_conf_dir() -> Path:
    local = Path.cwd() / "conf"
    return local if (local / "data").is_dir() else Path(__file__).resolve().parents[3] / "conf"


def print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report['task']}: {report['path']}")
    for column in ("split", "items", "labels", "input p50/p90/p99/max", "target", "sequence", "empty fields"):
        table.add_column(column, justify="left" if column in ("split", "labels", "empty fields") else "right")
    for name, entry in report["splits"].items():
        tokens = entry["tokens"]
        shown = [
            "/".join(str(v) for v in tokens[part].values()) or "-" for part in ("input", "target", "sequence")
        ]
        labels = ", ".join(f"{label} {count}" for label, count in entry.get("labels", {}).items()) or "-"
        empty = ", ".join(f"{f} {len(ids)}" for f, ids in report["empty_fields"][name].items()) or "-"
        table.add_row(name, str(entry["items"]), labels, *shown, empty)
    console = Console()
    console.print(table)
    dup = report["duplicates"]
    between = ", ".join(f"{pair} {v['count']}" for pair, v in dup["exact_between"].items())
    within = ", ".join(f"{name} {count}" for name, count in dup["exact_within"].items())
    console.print(f"exact duplicates within splits: {within}; between splits: {between}")
    console.print(
        f"training records overlapping an evaluation item (data.leak_check): "
        f"{dup['train_overlapping_evaluation']['count']}"
    )
    length = report["max_length"]
    console.print(
        f"max_length: auto would choose {length['auto']} (fits every record: {length['fits_all']}; "
        f"context window {length['context_window']}; configured: {length['configured']})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskexpert.data", description=__doc__.splitlines()[0])
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides of train.py, e.g. task=gsm8k data.path=DIR"
    )
    parser.add_argument("--conf", type=Path, default=None, help="config directory (default: ./conf)")
    parser.add_argument(
        "--json", type=Path, default=None, help="write the report here (default: data_report.json)"
    )
    args = parser.parse_args(argv)
    out = [o for o in args.overrides if o.startswith("out=")]
    overrides = [o for o in args.overrides if not o.startswith("out=")]
    json_path = args.json or (Path(out[-1].split("=", 1)[1]) if out else Path("data_report.json"))

    from rich.progress import Progress

    from taskexpert.data.inspect import inspect_data
    from taskexpert.data.loading import load_splits
    from taskexpert.models.loading import load_model_and_tokenizer
    from taskexpert.tasks import build_task

    try:
        cfg = compose_training_config(overrides, args.conf or default_conf_dir())
        task = build_task(cfg.task)
        splits = load_splits(cfg.data, task)
        model, tokenizer = load_model_and_tokenizer(cfg.model)
        with Progress(transient=True) as progress:
            bar = progress.add_task("measuring token lengths", total=None, visible=False)

            def advance(done: int, total: int) -> None:
                progress.update(bar, completed=done, total=total, visible=total > 20_000)

            report = inspect_data(cfg, splits, task, tokenizer, model.config, advance)
    except TaskExpertError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_report(report)
    atomic_write_json(json_path, report)
    print(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
