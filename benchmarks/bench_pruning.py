"""Pruned search vs full grid: the same grid of learning rate x LoRA alpha, run once with median pruning and once
without, each as a real `train.py -m sweep=optuna_tpe` study with the grid sampler (same seed, same trial order).

Reports total optimizer steps over all trials (the cost; seconds are also printed but the machine may be shared)
and the best validation macro-F1 found (with that trial's test macro-F1), and the ratios pruned / full.

    .venv/bin/python benchmarks/bench_pruning.py                               # tiny_llama, a few minutes
    .venv/bin/python benchmarks/bench_pruning.py --model smollm2_135m --epochs 1 --lrs 1e-4,1e-3 --alphas 32,256 \
        --startup 2 --override data.max_length=256
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna

ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="tiny_llama", help="model config (conf/model)")
    parser.add_argument("--epochs", type=int, default=4, help="training epochs per trial")
    parser.add_argument(
        "--val-every", type=int, default=3, help="validate (and report to the pruner) every N steps"
    )
    parser.add_argument("--lrs", default="1e-5,1e-4,1e-3,1e-2", help="learning rates of the grid")
    parser.add_argument("--alphas", default="32,64,128,256", help="LoRA alphas of the grid")
    parser.add_argument("--startup", type=int, default=4, help="MedianPruner n_startup_trials")
    parser.add_argument("--warmup", type=int, default=3, help="MedianPruner n_warmup_steps (optimizer steps)")
    parser.add_argument(
        "--override", action="append", default=[], help="extra train.py override (repeatable)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "outputs" / "bench_pruning", help="sweep dirs go here"
    )
    return parser.parse_args()


def run_search(args: argparse.Namespace, label: str, pruner: list[str]) -> dict[str, Any]:
    sweep_dir = args.out / f"{label}_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
    command = [
        sys.executable, str(ROOT / "train.py"), "-m", "sweep=optuna_tpe",
        f"model={args.model}", "logger=csv", "checkpoint.enabled=false", "trainer.enable_progress_bar=false",
        f"trainer.max_epochs={args.epochs}", f"trainer.val_check_interval={args.val_every}",
        f"optimizer.lr=choice({args.lrs})", f"peft.lora_alpha=choice({args.alphas})",
        "hydra.sweeper.sampler.name=grid", "hydra.sweeper.n_trials=null", f"hydra.sweep.dir={sweep_dir}", *args.override, *pruner,
    ]  # fmt: skip
    print("$", " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    subprocess.run(
        command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "WANDB_MODE": "offline"}
    )
    seconds = time.perf_counter() - started

    storage = f"sqlite:///{sweep_dir / 'optuna.db'}"
    (study_name,) = optuna.get_all_study_names(storage)
    study = optuna.load_study(study_name=study_name, storage=storage)
    trials = []
    for trial in study.trials:
        metrics = json.loads((Path(trial.user_attrs["job_dir"]) / "metrics.json").read_text())
        trials.append({"number": trial.number, "state": trial.state.name, "params": trial.params, **metrics})
    best = study.best_trial
    best_metrics = next(t for t in trials if t["number"] == best.number)
    return {
        "label": label,
        "sweep_dir": str(sweep_dir),
        "trials": len(trials),
        "pruned": sum(t["state"] == "PRUNED" for t in trials),
        "steps": sum(t["global_step"] for t in trials),
        "seconds": round(seconds, 1),
        "best_val_macro_f1": best.value,
        "best_test_macro_f1": best_metrics.get("test/macro_f1"),
        "best_params": best.params,
        "per_trial": [
            {k: t.get(k) for k in ("number", "state", "params", "global_step", "val/macro_f1")}
            for t in trials
        ],
    }


def main() -> None:
    args = parse_args()
    full = run_search(args, "full_grid", ["hydra.sweeper.pruner.name=none", *_drop_median_keys()])
    pruned = run_search(
        args,
        "pruned",
        [
            "hydra.sweeper.pruner.name=median",
            f"hydra.sweeper.pruner.n_startup_trials={args.startup}",
            f"hydra.sweeper.pruner.n_warmup_steps={args.warmup}",
        ],
    )
    summary = {
        "model": args.model,
        "grid": {"optimizer.lr": args.lrs, "peft.lora_alpha": args.alphas},
        "epochs": args.epochs,
        "val_every_steps": args.val_every,
        "overrides": args.override,
        "full_grid": full,
        "pruned": pruned,
        "steps_ratio": pruned["steps"] / full["steps"],
        "best_val_ratio": _ratio(pruned["best_val_macro_f1"], full["best_val_macro_f1"]),
        "seconds_ratio": pruned["seconds"] / full["seconds"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_pruning.json").write_text(json.dumps(summary, indent=2) + "\n")
    print()
    print(
        "| search | trials | pruned | optimizer steps | best val macro-F1 | its test macro-F1 | wall time (s) |"
    )
    print("|---|---|---|---|---|---|---|")
    for result in (full, pruned):
        print(
            f"| {result['label']} | {result['trials']} | {result['pruned']} | {result['steps']} | "
            f"{result['best_val_macro_f1']:.3f} | {_fmt(result['best_test_macro_f1'])} | {result['seconds']} |"
        )
    print(
        f"\nsteps pruned/full = {summary['steps_ratio']:.2f}; best val macro-F1 pruned/full = "
        f"{_fmt(summary['best_val_ratio'])}; wall time pruned/full = {summary['seconds_ratio']:.2f}"
    )
    print(f"details: {args.out / 'bench_pruning.json'}")


def _drop_median_keys() -> list[str]:
    """The study file sets MedianPruner keys that NopPruner does not take."""
    return ["~hydra.sweeper.pruner.n_startup_trials", "~hydra.sweeper.pruner.n_warmup_steps"]


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
