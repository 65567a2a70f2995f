"""Where one benchmark task spends its time: `python -m taskexpert.bench.profile TASK [--steps N] [--model M]`.

Runs the task under torch.profiler and prints the operators with the most self CPU time. For a Python-level
view, `py-spy record -o profile.svg -- python -m taskexpert.bench.child TASK SETTINGS.json RESULT.json`.
"""

from __future__ import annotations

import argparse
import json

from torch.profiler import ProfilerActivity, profile

from taskexpert.bench.child import run_task
from taskexpert.bench.settings import BenchSettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m taskexpert.bench.profile")
    parser.add_argument("task", help="e.g. train:lightning:lora:fp32, train:hf_trainer:lora:fp32, eval:lora")
    parser.add_argument("--model", default="smollm2", choices=["smollm2", "tiny"])
    parser.add_argument("--steps", type=int, default=2, help="measured steps after one warm-up step")
    parser.add_argument("--rows", type=int, default=25)
    args = parser.parse_args()
    settings = BenchSettings(model=args.model, warmup_steps=1, measured_steps=args.steps, repeats=1)
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        result = run_task(settings, args.task)
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    print(json.dumps({k: result[k] for k in ("tokens_per_second", "seconds", "real_tokens") if k in result}))


if __name__ == "__main__":
    main()
