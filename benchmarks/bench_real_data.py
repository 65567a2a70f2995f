"""Reading + splitting the largest seed-paper datasets at full size: seconds and peak memory.

Invented files of the real size and format (tests/real_size_files.py: SQuAD 87,599 / 10,570 questions, SST-2
67,349 / 872 lines, MNLI 392,702 / 9,815 pairs) go through what `python train.py task=<name> data.path=DIR` does
before the model loads: read with the task's reader, check every record against the task, split (validation
sized by `data.split.val_size: auto`). Each dataset runs in its own process, so its peak resident memory is its
own (the interpreter and imports included; `baseline` gives that floor).

    PYTHONPATH=src:tests python benchmarks/bench_real_data.py [--tasks squad,sst2,mnli] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(task: str, path: str) -> dict:
    """In this process: compose the documented command's config, then time reading and splitting."""
    from hydra import compose, initialize_config_dir

    from taskexpert.data.loading import load_splits
    from taskexpert.tasks import build_task

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"task={task}", f"data.path={path}"])
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    began = time.perf_counter()
    splits = load_splits(cfg.data, build_task(cfg.task))
    seconds = time.perf_counter() - began
    return {
        "task": task,
        "train": len(splits.train),
        "validation": len(splits.validation),
        "test": len(splits.test),
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "baseline_rss_mb": round(floor),
    }


def run(*arguments: str) -> str:
    """The last line this script prints when run with `arguments` in a child process."""
    child = subprocess.run([sys.executable, __file__, *arguments], capture_output=True, text=True, check=True)
    return child.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="squad,sst2,mnli")
    parser.add_argument("--data", help="folder for the generated files (default: a temporary one)")
    parser.add_argument("--one", nargs=2, metavar=("TASK", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--write", nargs=2, metavar=("TASK", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one)))
        return
    if args.write:
        sys.path.insert(0, str(ROOT / "tests"))
        import real_size_files

        print(real_size_files.write(args.write[0], Path(args.write[1])))
        return
    root = Path(args.data or tempfile.mkdtemp(prefix="real_size_"))
    print(
        "| dataset | train / validation / test | write (s) | read + split (s) | peak RSS (MB) | of which imports (MB) |"
    )
    print("|---|---|---|---|---|---|")
    for task in args.tasks.split(","):
        began = time.perf_counter()
        # Each step in a fresh process: Linux carries a parent's peak memory over to the child it forks.
        path = run("--write", task, str(root / task))
        written = time.perf_counter() - began
        row = json.loads(run("--one", task, path))
        sizes = f"{row['train']:,} / {row['validation']:,} / {row['test']:,}"
        print(
            f"| {task} | {sizes} | {written:.1f} | {row['seconds']:.1f} | {row['peak_rss_mb']} | "
            f"{row['baseline_rss_mb']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
