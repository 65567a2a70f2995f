"""Evaluation under Lightning's real `ddp` strategy (2 CPU processes, gloo) equals evaluation in one process:
every record counted once, metrics on the whole split in every process, files written once."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, compose_config

from taskexpert.training.pipeline import train

# 35 training records: the distributed sampler pads the 2 shards of the training split with a repeated record
EVALUATION = [
    "model=tiny_llama",
    "logger=csv",
    "checkpoint.enabled=false",
    "data.train_limit=35",
    "data.eval_batch_size=3",
    "eval.train=true",
    "trainer.limit_val_batches=null",
    "trainer.limit_test_batches=null",
    "trainer.enable_progress_bar=false",
]


def read_predictions(run_dir):
    return [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]


@pytest.mark.timeout(300)
def test_two_process_ddp_evaluation_equals_one_process(tmp_path):
    single_dir, ddp_dir = tmp_path / "single", tmp_path / "ddp"
    single = train(compose_config([*EVALUATION, "trainer=fast", "trainer.max_steps=3"], single_dir))

    # the adapter the single process trained, evaluated by two processes (no further training)
    command = [
        sys.executable,
        "train.py",
        *EVALUATION,
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.precision=32-true",
        "trainer.max_steps=0",
        f"init_adapter={single_dir / 'adapter'}",
        f"hydra.run.dir={ddp_dir}",
    ]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert (
        finished.stdout.count("Run directory:") == 1
    )  # the results are reported (and written) by rank 0 alone

    ddp = json.loads((ddp_dir / "metrics.json").read_text())
    for key in single:
        if key.split("/")[0] in ("val", "test", "train"):
            assert ddp[key] == single[key], key
    single_rows, ddp_rows = read_predictions(single_dir), read_predictions(ddp_dir)
    splits = json.loads((ddp_dir / "splits.json").read_text())
    for split, split_name in (("val", "validation"), ("test", "test"), ("train", "train")):
        rows = [row for row in ddp_rows if row["split"] == split]
        assert [row["id"] for row in rows] == splits[split_name]  # each record once, in split order
    assert len(splits["train"]) == 35
    assert [(r["id"], r["pred"]) for r in ddp_rows] == [(r["id"], r["pred"]) for r in single_rows]
    for ours, theirs in zip(ddp_rows, single_rows, strict=True):
        assert ours["scores"] == pytest.approx(theirs["scores"], abs=1e-4)

    # Each process logged the whole split's figures (what checkpoint selection and sweeps read), not its shard's.
    logs = [ddp_dir / "train.log", ddp_dir / "train_ddp_process_1.log"]
    for log in logs:
        text = log.read_text()
        for split in ("val", "test", "train"):
            count = len(splits["validation" if split == "val" else split])
            line = f"{split}: {count} records, accuracy {single[f'{split}/acc']:.4f}, macro-F1 {single[f'{split}/macro_f1']:.4f}"
            assert line in text, (log.name, line)
