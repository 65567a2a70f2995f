"""One benchmark task in its own process: `python -m taskexpert.bench.child TASK SETTINGS.json RESULT.json`.

A fresh process per task keeps arms from sharing caches, allocator state or memory peaks.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from taskexpert.bench.settings import BenchSettings


def _train(settings: BenchSettings, name: str) -> dict:
    from taskexpert.bench import arm_hf_trainer, arm_lightning, arm_pad_loop
    from taskexpert.bench.tasks import TrainArm

    arm = TrainArm.parse(name)
    if arm.framework == "lightning_full_logits":
        return arm_lightning.run(settings, arm.peft, arm.precision, answer_only_logits=False)
    if arm.framework == "lightning_stock_kernels":
        return arm_lightning.run(settings, arm.peft, arm.precision, stock_kernels=True)
    if arm.framework == "lightning_compiled":
        return arm_lightning.run(settings, arm.peft, arm.precision, compiled=True)
    runner = {"lightning": arm_lightning, "hf_trainer": arm_hf_trainer, "pad512": arm_pad_loop}[arm.framework]
    return runner.run(settings, arm.peft, arm.precision)


def _scale(settings: BenchSettings, name: str) -> dict:
    from taskexpert.bench.arm_lightning import compose_train_config, config_overrides, train_lightning
    from taskexpert.bench.data import fixed_length_splits

    _, batch_size, length = name.split(":")
    steps = settings.scaling_warmup_steps + settings.scaling_steps
    splits = fixed_length_splits(settings, int(batch_size), int(length), steps)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as run_dir:
        overrides = config_overrides(settings, "lora", "fp32", int(batch_size), int(length), steps)
        cfg = compose_train_config(overrides, Path(run_dir))
        return train_lightning(cfg, splits, settings.scaling_warmup_steps)


def run_task(settings: BenchSettings, name: str) -> dict:
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)
    kind = name.split(":", 1)[0]
    if kind == "train":
        return _train(settings, name)
    if kind == "scale":
        return _scale(settings, name)
    if kind == "eval":
        from taskexpert.bench import arm_eval
        from taskexpert.bench.tasks import parse_eval_task

        return arm_eval.run(settings, *parse_eval_task(name))
    if kind == "matmul":
        from taskexpert.bench import arm_matmul

        return arm_matmul.run(settings)
    raise ValueError(f"unknown benchmark task {name!r}")


def main(argv: list[str]) -> None:
    name, settings_path, result_path = argv
    result = run_task(BenchSettings.load(Path(settings_path)), name)
    Path(result_path).write_text(json.dumps({"task": name} | result), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
