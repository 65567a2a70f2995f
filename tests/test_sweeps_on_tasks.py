"""Studies on tasks other than PubMedQA, launched as a user launches them: the Optuna study optimises the task's
metric, and the report's columns, figure and verdict are the task's (not macro-F1)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import optuna
from conftest import ROOT
from optuna.trial import TrialState
from sweep_helpers import TINY_JOB, run_train, sweep_dir

from taskexpert.report import build_report

OPTUNA_STUDY = ["-m", "sweep=optuna_tpe"]


def complete_trials(directory: Path, count: int) -> list[optuna.trial.FrozenTrial]:
    storage = f"sqlite:///{directory / 'optuna.db'}"
    (name,) = optuna.get_all_study_names(storage)
    trials = optuna.load_study(study_name=name, storage=storage).trials
    assert [trial.state for trial in trials] == [TrialState.COMPLETE] * count
    return trials


def trial_metrics(trial: optuna.trial.FrozenTrial) -> dict:
    return json.loads((Path(trial.user_attrs["job_dir"]) / "metrics.json").read_text())


def summary_rows(directory: Path) -> list[dict[str, str]]:
    with (directory / "summary.csv").open(newline="") as stream:
        return list(csv.DictReader(stream))


def report_command(directory: Path) -> tuple[list[dict[str, str]], str, str]:
    """`python -m taskexpert.report DIR`: (summary.csv rows, summary.md, what it printed)."""
    result = subprocess.run(
        [sys.executable, "-m", "taskexpert.report", str(directory)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return summary_rows(directory), (directory / "summary.md").read_text(), result.stdout


def test_optuna_study_on_gsm8k_optimises_exact_match_and_the_report_shows_it(tmp_path):
    directory = tmp_path / "gsm8k_study"
    tiny_with_wandb = [arg for arg in TINY_JOB if not arg.startswith("logger=")] + ["logger=wandb"]
    study = [*OPTUNA_STUDY, "hydra.sweeper.n_trials=1", "task=gsm8k", *tiny_with_wandb]
    run_train([*study, f"hydra.sweep.dir={directory}"], tmp_path)

    (trial,) = complete_trials(directory, 1)
    metrics = trial_metrics(trial)
    assert "val/macro_f1" not in metrics  # an answer task has no label F1 to fall back on
    assert trial.value == metrics["val/exact_match"] != metrics["val/parse_failure_rate"]
    (wandb_file,) = Path(trial.user_attrs["job_dir"]).glob("wandb/offline-run-*/run-*.wandb")
    logged = wandb_file.read_bytes()  # the W&B run's summary holds the task's metrics
    assert b"val/exact_match" in logged and b"test/exact_match" in logged and b"macro_f1" not in logged

    rows, markdown, printed = report_command(directory)
    assert [key for key in rows[0] if key.endswith("_mean")] == [
        "val/exact_match_mean",
        "val/parse_failure_rate_mean",
        "test/exact_match_mean",
        "test/parse_failure_rate_mean",
    ]
    (row,) = rows
    assert float(row["test/exact_match_mean"]) == metrics["test/exact_match"]
    assert "Optimised metric: `val/exact_match`; the figure and verdict use test exact match." in markdown
    assert "## Sensitivity to the PEFT hyperparameter (test exact match)" in markdown
    assert "The same in every job: `task=gsm8k`" in markdown
    assert "optimization_results.yaml: best val/exact_match " in markdown
    assert "macro-F1" not in markdown and "test exact match" in printed


def test_optuna_study_on_sst2_optimises_accuracy_not_macro_f1(tmp_path):
    """SST-2's task file optimises val/acc (GLUE reports accuracy): the study maximises that number."""
    directory = tmp_path / "sst2_study"
    study = [*OPTUNA_STUDY, "hydra.sweeper.n_trials=1", "task=sst2", *TINY_JOB]
    run_train([*study, f"hydra.sweep.dir={directory}"], tmp_path)
    (trial,) = complete_trials(directory, 1)
    metrics = trial_metrics(trial)
    assert trial.value == metrics["val/acc"] != metrics["val/macro_f1"]
    report = build_report(directory)
    assert report.metric == "test/acc" and report.optimized == ["val/acc"]
    assert (
        "Optimised metric: `val/acc`; the figure and verdict use test accuracy."
        in (directory / "summary.md").read_text()
    )
    assert {"val/acc_mean", "val/macro_f1_mean", "test/acc_mean"} <= set(summary_rows(directory)[0])


def test_a_grid_over_two_tasks_judges_each_on_its_own_metric(tmp_path):
    run_train(["-m", "task=trec,gsm8k", "peft.lora_alpha=32,64", *TINY_JOB], tmp_path)
    directory = sweep_dir(tmp_path)
    build_report(directory)
    rows, markdown = summary_rows(directory), (directory / "summary.md").read_text()
    assert sorted((row["task"], row["value"]) for row in rows) == [
        ("gsm8k", "32"),
        ("gsm8k", "64"),
        ("trec", "32"),
        ("trec", "64"),
    ]
    for row in rows:  # a task's own columns are filled, the other task's left empty
        assert (row["test/macro_f1_mean"] != "") == (row["task"] == "trec")
        assert (row["test/exact_match_mean"] != "") == (row["task"] == "gsm8k")
    assert "the figure and verdict use trec: test macro-F1, gsm8k: test exact match." in markdown
    assert "### model=tiny_llama, task=trec" in markdown and "### model=tiny_llama, task=gsm8k" in markdown
    # each task's LoRA grid has results on its own metric: two values each, none missing
    assert markdown.count("| LoRA | lora_alpha | 32 64 |") == 2


def test_a_metric_the_task_does_not_write_is_named_not_returned_silently(tmp_path, caplog):
    """A sweeper records a job that returns None as "returned None": the job's log says which metric is missing."""
    from conftest import compose_config

    from taskexpert.entry import run_training

    overrides = ["task=gsm8k", *TINY_JOB, "optimized_metric=val/macro_f1", "data.test_limit=2"]
    with caplog.at_level("WARNING", logger="taskexpert"):
        assert run_training(compose_config(overrides, tmp_path / "run")) is None
    assert (
        "optimized_metric=val/macro_f1 is not among this run's metrics (val/exact_match, val/parse_failure_rate)"
        in caplog.text
    )
