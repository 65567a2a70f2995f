"""Grid studies from sweeps/, launched like a user launches them, locally and as local subprocesses."""

from __future__ import annotations

import csv
import subprocess
import sys

import yaml
from sweep_helpers import TINY_JOB, job_metrics, run_train, sweep_dir


def test_lora_alpha_grid_runs_four_jobs_and_reports_them(tmp_path):
    run_train(["-m", "sweep=lora_alpha", *TINY_JOB], tmp_path)
    directory = sweep_dir(tmp_path)
    assert directory.name.endswith("_lora_alpha")
    metrics = job_metrics(directory)
    assert sorted(metrics) == [0, 1, 2, 3]
    alphas = {
        n: yaml.safe_load((directory / str(n) / ".hydra" / "config.yaml").read_text())["peft"]["lora_alpha"]
        for n in metrics
    }
    assert sorted(alphas.values()) == [32, 64, 128, 256]

    subprocess.run(
        [sys.executable, "-m", "taskexpert.report", str(directory)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    with (directory / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    assert {row["method"] for row in rows} == {"lora"} and {row["hyperparameter"] for row in rows} == {
        "lora_alpha"
    }
    for row in rows:
        job = next(n for n, alpha in alphas.items() if alpha == int(float(row["value"])))
        assert abs(float(row["test/macro_f1_mean"]) - metrics[job]["test/macro_f1"]) < 1e-9
    assert (directory / "sensitivity.png").stat().st_size > 1000


def test_sensitivity_study_maps_one_axis_onto_each_method(tmp_path):
    """peft_hparam becomes lora_alpha for LoRA and num_virtual_tokens for prefix tuning."""
    from conftest import compose_config

    lora = compose_config(["sweep=sensitivity", "peft=lora", "peft_hparam=128"], tmp_path)
    prefix = compose_config(["sweep=sensitivity", "peft=prefix", "peft_hparam=64"], tmp_path)
    assert lora.peft.lora_alpha == 128 and prefix.peft.num_virtual_tokens == 64
    plain = compose_config(["peft=lora"], tmp_path)
    assert plain.peft.lora_alpha == 32  # outside the study the file's default holds
    assert compose_config(["peft.lora_alpha=256"], tmp_path).peft.lora_alpha == 256


def test_submitit_local_runs_a_two_job_sweep(tmp_path):
    run_train(["-m", "hydra/launcher=submitit_local", "peft.lora_alpha=32,64", *TINY_JOB], tmp_path)
    directory = sweep_dir(tmp_path)
    metrics = job_metrics(directory)
    assert sorted(metrics) == [0, 1]
    assert all(0.0 <= m["val/macro_f1"] <= 1.0 for m in metrics.values())
    assert list((directory / ".submitit").iterdir()), "the jobs ran through submitit"
