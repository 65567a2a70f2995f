"""The report on the studies of sweeps/ themselves, launched as a user launches them (tiny model, few steps,
a shrunk grid), then `python -m taskexpert.report DIR`: the verdict compares what the study varies."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

from sweep_helpers import TINY_JOB, run_train, sweep_dir


def report(directory) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "taskexpert.report", str(directory)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "400"},
    )
    return result.stdout


def test_the_sensitivity_study_compares_lora_and_prefix_tuning_across_their_grid(tmp_path):
    """`peft_hparam` is each method's hyperparameter under one name: the grid, not a setting that splits groups."""
    run_train(
        ["-m", "sweep=sensitivity", *TINY_JOB, "trainer.max_steps=1", "peft_hparam=1,2", "seed=1"], tmp_path
    )
    directory = sweep_dir(tmp_path)
    printed = report(directory)
    assert "No verdict" not in printed
    verdicts = [line for line in printed.splitlines() if "sensitive to" in line]
    assert len(verdicts) == 1 and "LoRA" in verdicts[0] and "prefix tuning" in verdicts[0]
    assert "over 2 values each" in verdicts[0]
    with (directory / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert "peft_hparam" not in rows[0]  # no grouping column of its own
    assert {(row["method"], row["hyperparameter"], float(row["value"])) for row in rows} == {
        ("lora", "lora_alpha", 1.0),
        ("lora", "lora_alpha", 2.0),
        ("prefix", "num_virtual_tokens", 1.0),
        ("prefix", "num_virtual_tokens", 2.0),
    }


def test_an_optuna_study_gets_one_verdict_line_not_one_per_trial(tmp_path):
    """Each trial samples its own learning rate: a row of the table each, but one context for the verdict."""
    run_train(
        ["-m", "sweep=optuna_tpe", *TINY_JOB, "trainer.max_steps=1", "hydra.sweeper.n_trials=2"], tmp_path
    )
    printed = report(sweep_dir(tmp_path))
    verdicts = [line for line in printed.splitlines() if "No verdict" in line or "sensitive to" in line]
    assert len(verdicts) == 1, printed
    assert verdicts[0].startswith("No verdict: only LoRA is in this sweep")
