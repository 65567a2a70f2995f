"""Calibrated decisions and class weights on the bundled sample: validation and test macro-F1 over seeds.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_calibration.py [--seeds 1,2,3] [--epochs 1]
        [--arms plain,class_weights] [--model smollm2_135m] [--out DIR]

Per arm (training options) and seed, one training run (`train.py` in process) with `eval.calibration=bias` and
the guard lowered (the sample's validation split has 8 items, under the default minimum of 30, so the default
would leave calibration off): its metrics give the plain argmax (`*/uncalibrated/*`) and the bias-calibrated
decision. Then the saved adapter is evaluated again without training (`init_adapter`, `trainer.max_steps=0`)
with `eval.calibration=content_free`. The seconds are those of the fits themselves (calibration.json `fit.seconds`:
the bias search, or the content-free forward pass and prior); both use the scores of the validation pass every run
makes at its end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import compose_config  # noqa: E402

from taskexpert.training.pipeline import train  # noqa: E402

ARMS = {
    "plain": [],
    "class_weights": ["data.class_weights=balanced"],
    "balanced_sampler": ["data.sampler=balanced"],
}
UNGUARDED = ["eval.calibration_guard.min_examples=1", "eval.calibration_guard.min_per_class=0"]
DECISIONS = ("argmax", "bias", "content_free")


def load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def run(overrides: list[str], run_dir: Path) -> tuple[dict, dict, float]:
    started = time.perf_counter()
    metrics = train(compose_config(overrides, run_dir))
    calibration = json.loads((run_dir / "adapter" / "calibration.json").read_text())
    return metrics, calibration, time.perf_counter() - started


def measure(arm: str, seed: int, arguments: argparse.Namespace, work: Path) -> dict:
    common = [
        f"model={arguments.model}", "logger=csv", "checkpoint.enabled=false", "trainer.enable_progress_bar=false",
        f"trainer.max_epochs={arguments.epochs}", f"seed={seed}", *arguments.override,
    ]  # fmt: skip
    trained_dir = work / f"{arm}_{seed}"
    load_before = load()
    metrics, bias, train_seconds = run(
        [*common, *ARMS[arm], "eval.calibration=bias", *UNGUARDED], trained_dir
    )
    evaluated, content_free, eval_seconds = run(
        [
            *common,
            "eval.calibration=content_free",
            "trainer.max_steps=0",
            f"init_adapter={trained_dir / 'adapter'}",
        ],
        work / f"{arm}_{seed}_content_free",
    )
    result = {"arm": arm, "seed": seed, "load_before": load_before, "load_after": load()}
    result |= {"train_run_seconds": train_seconds, "eval_run_seconds": eval_seconds}
    result |= {
        "bias_fit_seconds": bias["fit"]["seconds"],
        "content_free_fit_seconds": content_free["fit"]["seconds"],
    }
    result |= {
        "bias_applied": bias["applied"],
        "bias_offsets": bias["offsets"],
        "prior": content_free["fit"]["prior"],
    }
    for split in ("val", "test"):
        for measure_name in ("macro_f1", "acc"):
            result[f"argmax/{split}/{measure_name}"] = metrics[f"{split}/uncalibrated/{measure_name}"]
            result[f"bias/{split}/{measure_name}"] = metrics[f"{split}/{measure_name}"]
            result[f"content_free/{split}/{measure_name}"] = evaluated[f"{split}/{measure_name}"]
        # the content-free run evaluates the same weights: its argmax must be the training run's
        assert evaluated[f"{split}/uncalibrated/macro_f1"] == metrics[f"{split}/uncalibrated/macro_f1"]
    print(json.dumps(result), flush=True)
    return result


def cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}"


def table(results: list[dict], arms: list[str]) -> str:
    lines = [
        "| training | decision | val macro-F1 | test macro-F1 | val acc | test acc | seconds the fit adds |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm in arms:
        rows = [result for result in results if result["arm"] == arm]
        for decision in DECISIONS:
            values = [cell([row[f"{decision}/{key}"] for row in rows]) for key in
                      ("val/macro_f1", "test/macro_f1", "val/acc", "test/acc")]  # fmt: skip
            seconds = "–" if decision == "argmax" else cell([row[f"{decision}_fit_seconds"] for row in rows])
            lines.append(f"| {arm} | {decision} | {' | '.join(values)} | {seconds} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--arms", default="plain,class_weights")
    parser.add_argument("--model", default="smollm2_135m")
    parser.add_argument("--override", action="append", default=[], help="extra train.py override")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs and results.json here")
    arguments = parser.parse_args()
    arms = arguments.arms.split(",")
    seeds = [int(seed) for seed in arguments.seeds.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        work = arguments.out or Path(scratch)
        results = [measure(arm, seed, arguments, work) for arm in arms for seed in seeds]
        if arguments.out:
            (work / "results.json").write_text(json.dumps(results, indent=2))
    report = table(results, arms)
    loads = ", ".join(
        sorted({result["load_before"] for result in results} | {r["load_after"] for r in results})
    )
    summary = f"{report}\n\nLoad averages (1/5/15 min) seen before and after the runs: {loads}.\n"
    print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
