"""The sweep report: run directories written by hand with known metrics, numbers checked against hand arithmetic."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from matplotlib.image import imread

from taskexpert.report import ReportError, analyse, build_report

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"

# test/macro_f1 per (method, hyperparameter value) and seed. LoRA is built to be flat, prefix tuning to climb.
LORA_F1 = {32: (0.60, 0.62), 64: (0.62, 0.64), 128: (0.61, 0.65)}
PREFIX_F1 = {32: (0.40, 0.44), 64: (0.50, 0.52), 128: (0.58, 0.60)}


def write_job(
    job_dir: Path,
    method: str,
    value: int | None,
    seed: int,
    test_f1: float | None,
    *,
    model: str = "tiny_llama",
    extra_overrides: tuple[str, ...] = (),
    lr: float = 3e-4,
    pruned: bool = False,
    with_test: bool = True,
    extra_metrics: dict | None = None,
) -> Path:
    """A job directory as Hydra and the training pipeline leave it; `test_f1=None` means no metrics.json."""
    hydra_dir = job_dir / ".hydra"
    hydra_dir.mkdir(parents=True)
    if method == "lora":
        peft = {
            "_target_": "peft.LoraConfig",
            "r": 4,
            "lora_alpha": value,
            "target_modules": "${model.targets}",
        }
        overrides = ["peft=lora", f"peft.lora_alpha={value}"]
    elif method == "prefix":
        peft = {"_target_": "peft.PrefixTuningConfig", "num_virtual_tokens": value}
        overrides = ["peft=prefix", f"peft.num_virtual_tokens={value}"]
    else:
        peft, overrides = None, ["peft=none"]
    config = {
        "model": {"name": model, "targets": ["q_proj"]},
        "peft": peft,
        "seed": seed,
        "optimizer": {"lr": lr},
        "data": {"path": "sample:ori_pqal.json"},
        "paths": {"run_dir": "${hydra:runtime.output_dir}"},  # unresolvable outside Hydra, as in real files
    }
    (hydra_dir / "config.yaml").write_text(yaml.safe_dump(config))
    all_overrides = [f"model={model}", *overrides, f"seed={seed}", *extra_overrides]
    (hydra_dir / "overrides.yaml").write_text(yaml.safe_dump(all_overrides))
    if test_f1 is not None:
        metrics = {
            "val/acc": test_f1 + 0.1,
            "val/macro_f1": test_f1 + 0.05,
            "val/confusion": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
            "params/trainable": 3584,
            "global_step": 9,
        }
        if with_test:
            metrics |= {"test/acc": test_f1 + 0.2, "test/macro_f1": test_f1}
        if pruned:
            metrics["pruned"] = True
        metrics |= extra_metrics or {}
        (job_dir / "metrics.json").write_text(json.dumps(metrics))
    return job_dir


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Two methods x 3 values x 2 seeds, plus a job without metrics.json and a pruned one."""
    sweep_dir = tmp_path / "multirun" / "2026-01-01_00-00-00"
    number = 0
    for method, table in (("lora", LORA_F1), ("prefix", PREFIX_F1)):
        for value, f1_by_seed in table.items():
            for seed, f1 in enumerate(f1_by_seed):
                write_job(sweep_dir / str(number), method, value, seed, f1)
                number += 1
    write_job(sweep_dir / "12", "lora", 128, 2, None)  # still running or failed
    write_job(sweep_dir / "13", "prefix", 128, 2, 0.05, pruned=True)  # would drag the mean down if averaged
    return sweep_dir


def read_summary(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open(newline="") as stream:
        return {(row["method"], row["value"]): row for row in csv.DictReader(stream)}


def sample_std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((value - mean) ** 2 for value in values) / (len(values) - 1))


def test_summary_csv_holds_means_and_sample_stds_over_seeds(sweep: Path) -> None:
    build_report(sweep)
    rows = read_summary(sweep / "summary.csv")
    assert len(rows) == 6

    lora_32 = rows[("lora", "32")]
    assert lora_32["model"] == "tiny_llama" and lora_32["hyperparameter"] == "lora_alpha"
    assert lora_32["n_seeds"] == "2" and lora_32["seeds"] == "0 1"
    assert float(lora_32["test/macro_f1_mean"]) == pytest.approx(0.61, abs=1e-12)  # (0.60 + 0.62) / 2
    # sample std of two values a, b is |a - b| / sqrt(2)
    assert float(lora_32["test/macro_f1_std"]) == pytest.approx(0.02 / math.sqrt(2), abs=1e-12)
    assert float(lora_32["val/acc_mean"]) == pytest.approx(0.71, abs=1e-12)
    assert float(lora_32["test/acc_mean"]) == pytest.approx(0.81, abs=1e-12)

    lora_128 = rows[("lora", "128")]  # the job without metrics.json is counted, not averaged
    assert (lora_128["n_seeds"], lora_128["n_missing"], lora_128["n_pruned"]) == ("2", "1", "0")
    assert float(lora_128["test/macro_f1_mean"]) == pytest.approx(0.63, abs=1e-12)
    assert float(lora_128["test/macro_f1_std"]) == pytest.approx(0.04 / math.sqrt(2), abs=1e-12)

    prefix_128 = rows[("prefix", "128")]  # the pruned job (0.05) is left out of the mean
    assert (prefix_128["n_seeds"], prefix_128["n_pruned"]) == ("2", "1")
    assert prefix_128["hyperparameter"] == "num_virtual_tokens"
    assert float(prefix_128["test/macro_f1_mean"]) == pytest.approx(0.59, abs=1e-12)
    assert float(prefix_128["val/macro_f1_mean"]) == pytest.approx(0.64, abs=1e-12)
    assert float(rows[("prefix", "32")]["test/macro_f1_std"]) == pytest.approx(0.04 / math.sqrt(2), abs=1e-12)


def test_verdict_names_the_less_sensitive_method_with_range_and_std(sweep: Path) -> None:
    report = build_report(sweep)
    [verdict] = report.verdicts
    assert verdict.less_sensitive.method == "lora" and verdict.more_sensitive.method == "prefix"
    # LoRA means 0.61, 0.63, 0.63; prefix means 0.42, 0.51, 0.59
    assert verdict.less_sensitive.spread == pytest.approx(0.02, abs=1e-12)
    assert verdict.more_sensitive.spread == pytest.approx(0.17, abs=1e-12)
    assert verdict.less_sensitive.std_of_means == pytest.approx(sample_std([0.61, 0.63, 0.63]), abs=1e-12)
    assert verdict.more_sensitive.std_of_means == pytest.approx(sample_std([0.42, 0.51, 0.59]), abs=1e-12)
    assert verdict.text == (
        "LoRA is less sensitive to its hyperparameter than prefix tuning: test macro-F1 range 0.020 vs 0.170 "
        "(std 0.012 vs 0.085) over 3 values each."
    )
    assert verdict.text in (sweep / "summary.md").read_text()


def test_summary_md_shows_mean_std_cells_and_lists_jobs_without_results(sweep: Path) -> None:
    build_report(sweep)
    markdown = (sweep / "summary.md").read_text()
    assert "| tiny_llama | LoRA | lora_alpha | 32 | 2 | 0 | 0.710 ± 0.014 |" in markdown
    assert "0.590 ± 0.014" in markdown  # prefix tuning at 128 virtual tokens, pruned job left out
    assert "14 job directories: 12 done, 1 pruned, 1 without metrics.json." in markdown
    missing_section = markdown.split("## Jobs without results")[1]
    assert "| 12 | missing | LoRA | lora_alpha | 128 | 2 | no metrics.json" in missing_section
    assert "| 13 | pruned | prefix tuning | num_virtual_tokens | 128 | 2 |" in missing_section
    assert "![sensitivity](sensitivity.png)" in markdown


def test_figures_are_valid_pngs(sweep: Path) -> None:
    report = build_report(sweep)
    names = {path.name for path in report.figures}
    assert names == {"sensitivity.png", "robustness_lora.png", "robustness_prefix.png"}
    for name in names:
        data = (sweep / name).read_bytes()
        assert data[:8] == PNG_MAGIC
        assert len(data) > 10_000
        height, width, _ = imread(sweep / name).shape
        assert height > 300 and width > 500
    assert not [path for path in sweep.iterdir() if path.name.endswith(".tmp")]


def test_out_option_leaves_the_sweep_directory_untouched(sweep: Path, tmp_path: Path) -> None:
    build_report(sweep, out_dir=tmp_path / "report")
    assert (tmp_path / "report" / "summary.md").is_file()
    assert not (sweep / "summary.md").exists()


def test_single_seed_has_a_mean_and_no_std(tmp_path: Path) -> None:
    write_job(tmp_path / "0", "lora", 32, 0, 0.5)
    write_job(tmp_path / "1", "lora", 64, 0, 0.7)
    report = build_report(tmp_path)
    rows = read_summary(tmp_path / "summary.csv")
    assert float(rows[("lora", "32")]["test/macro_f1_mean"]) == 0.5
    assert rows[("lora", "32")]["test/macro_f1_std"] == ""
    assert "| 0.500 |" in (tmp_path / "summary.md").read_text()
    [verdict] = report.verdicts
    assert verdict.less_sensitive is None
    assert verdict.text.startswith("No verdict: only LoRA is in this sweep")


def test_no_verdict_when_a_method_has_a_single_value(tmp_path: Path) -> None:
    for seed in (0, 1):
        write_job(tmp_path / f"lora32_{seed}", "lora", 32, seed, 0.6)
        write_job(tmp_path / f"lora64_{seed}", "lora", 64, seed, 0.6)
        write_job(tmp_path / f"prefix32_{seed}", "prefix", 32, seed, 0.4)
    [verdict] = analyse(tmp_path).verdicts
    assert verdict.less_sensitive is None
    assert "prefix tuning has results for 1 value of num_virtual_tokens" in verdict.text


def test_other_swept_keys_group_separately_and_nested_sweeps_are_found(tmp_path: Path) -> None:
    """A parent of two sweeps (LoRA and prefix, each over the learning rate) is reported as one."""
    for lr in (1e-4, 3e-4):
        for value in (32, 64):
            for method, sweep_name in (("lora", "lora_sweep"), ("prefix", "prefix_sweep")):
                job_dir = tmp_path / sweep_name / f"{method}_{value}_{lr}"
                f1 = 0.6 if method == "lora" else 0.3 + value / 320
                write_job(
                    job_dir,
                    method,
                    value,
                    0,
                    f1,
                    lr=lr,
                    extra_overrides=(f"optimizer.lr={lr}", "trainer=fast"),
                )
    report = build_report(tmp_path)
    assert report.varying == ["optimizer.lr"]
    assert report.fixed == {"trainer": "fast"}
    with (tmp_path / "summary.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 8 and {row["optimizer.lr"] for row in rows} == {"0.0001", "0.0003"}
    assert len(report.verdicts) == 2  # one comparison per learning rate
    assert all(verdict.less_sensitive.method == "lora" for verdict in report.verdicts)
    assert "### model=tiny_llama, optimizer.lr=0.0001" in (tmp_path / "summary.md").read_text()


def test_sweeper_bookkeeping_overrides_do_not_split_groups(tmp_path: Path) -> None:
    """The Optuna sweeper gives every job its own `++optuna_trial.*` overrides; seeds still group together."""
    for number, seed in enumerate((0, 1)):
        trial = (f"++optuna_trial.trial_id={number + 7}", f"++optuna_trial.number={number}")
        write_job(tmp_path / str(number), "lora", 32, seed, 0.5 + number / 10, extra_overrides=trial)
    report = analyse(tmp_path)
    assert report.varying == [] and report.fixed == {}
    [group] = report.groups
    assert group.n_seeds == 2 and group.mean["test/macro_f1"] == pytest.approx(0.55, abs=1e-12)


def test_full_fine_tuning_is_a_group_without_hyperparameter(tmp_path: Path) -> None:
    write_job(tmp_path / "0", "full", None, 0, 0.7)
    write_job(tmp_path / "1", "full", None, 1, 0.8)
    write_job(tmp_path / "2", "lora", 32, 0, 0.6)
    write_job(tmp_path / "3", "lora", 64, 0, 0.65)
    build_report(tmp_path)
    rows = read_summary(tmp_path / "summary.csv")
    assert rows[("full", "")]["hyperparameter"] == ""
    assert float(rows[("full", "")]["test/macro_f1_mean"]) == pytest.approx(0.75, abs=1e-12)
    assert (tmp_path / "sensitivity.png").is_file() and not (tmp_path / "robustness_full.png").exists()


def test_jobs_planned_in_multirun_yaml_but_never_started_are_listed(tmp_path: Path) -> None:
    sweep_file = {
        "hydra": {
            "sweeper": {"_target_": BASIC_SWEEPER, "max_batch_size": None, "params": None},
            "overrides": {"task": ["model=tiny_llama", "peft=lora", "peft.lora_alpha=32,64", "seed=0,1"]},
        }
    }
    (tmp_path / "multirun.yaml").write_text(yaml.safe_dump(sweep_file))
    write_job(tmp_path / "0", "lora", 32, 0, 0.6)
    write_job(tmp_path / "1", "lora", 32, 1, 0.6)
    write_job(tmp_path / "2", "lora", 64, 0, None)
    report = build_report(tmp_path)
    [plan] = report.plans
    assert plan.planned_jobs == 4
    assert plan.not_started == [["model=tiny_llama", "peft=lora", "peft.lora_alpha=64", "seed=1"]]
    markdown = (tmp_path / "summary.md").read_text()
    assert "4 planned in multirun.yaml, 1 never started" in markdown
    assert "- `model=tiny_llama peft=lora peft.lora_alpha=64 seed=1`" in markdown


def test_metric_falls_back_to_validation_when_there_is_no_test_split(tmp_path: Path) -> None:
    for value, f1 in ((32, 0.5), (64, 0.6)):
        write_job(tmp_path / f"lora{value}", "lora", value, 0, f1, with_test=False)
        write_job(tmp_path / f"prefix{value}", "prefix", value, 0, f1 - value / 1000, with_test=False)
    report = build_report(tmp_path)
    assert report.metric == "val/macro_f1"
    assert "validation macro-F1 range" in report.verdicts[0].text
    with pytest.raises(ReportError, match="--metric test/nonsense: no finished job has it"):
        analyse(tmp_path, metric="test/nonsense")


def test_unreadable_metrics_json_is_reported_not_fatal(tmp_path: Path) -> None:
    write_job(tmp_path / "0", "lora", 32, 0, 0.6)
    write_job(tmp_path / "1", "lora", 64, 0, None)
    (tmp_path / "1" / "metrics.json").write_text("{not json")
    report = build_report(tmp_path)
    assert [job.status for job in report.jobs] == ["done", "invalid"]
    assert "metrics.json is not valid JSON" in (tmp_path / "summary.md").read_text()


def test_directory_without_runs_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        ReportError, match=r"empty: holds no runs \(no sub-directory with .hydra/config.yaml\)"
    ):
        build_report(tmp_path / "empty")


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {"MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "taskexpert.report", *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=120,
    )


def test_cli_writes_the_report_and_prints_table_and_verdict(sweep: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "cli_report"
    result = run_cli(str(sweep), "--out", str(out_dir), "--metric", "test/macro_f1")
    assert result.returncode == 0, result.stderr
    assert "LoRA is less sensitive to its hyperparameter than prefix tuning" in result.stdout
    assert "0.610 ± 0.014" in result.stdout
    assert "Without results: 12 (missing), 13 (pruned)" in result.stdout
    for name in ("summary.csv", "summary.md", "runs.csv", "sensitivity.png", "robustness_lora.png"):
        assert (out_dir / name).is_file(), name


def test_cli_on_a_missing_directory_fails_with_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_sweep"
    result = run_cli(str(missing))
    assert result.returncode != 0
    assert f"error: {missing}: no such directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_calibrated_runs_get_uncalibrated_columns_beside_the_calibrated_ones(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "calibration"
    for seed, (calibrated, plain) in enumerate(((0.45, 0.38), (0.41, 0.40))):
        uncalibrated = {
            "calibration/applied": 1.0,
            "calibration/method": "bias",
            "val/uncalibrated/macro_f1": plain + 0.01,
            "test/uncalibrated/acc": 0.6,
            "test/uncalibrated/macro_f1": plain,
        }
        write_job(sweep_dir / str(seed), "lora", 32, seed, calibrated, extra_metrics=uncalibrated)
    report = build_report(sweep_dir)
    assert report.metrics[4:] == [
        "val/uncalibrated/macro_f1",
        "test/uncalibrated/acc",
        "test/uncalibrated/macro_f1",
    ]
    row = read_summary(sweep_dir / "summary.csv")[("lora", "32")]
    assert float(row["test/macro_f1_mean"]) == pytest.approx(0.43)
    assert float(row["test/uncalibrated/macro_f1_mean"]) == pytest.approx(0.39)
    assert float(row["test/uncalibrated/macro_f1_std"]) == pytest.approx(sample_std([0.38, 0.40]))
    markdown = (sweep_dir / "summary.md").read_text()
    assert "test macro-F1 (uncalibrated)" in markdown and "0.390 ± 0.014" in markdown
    assert "2 of 2 finished jobs decide with calibrated label scores" in markdown

    plain_dir = tmp_path / "plain"  # calibration off everywhere: the columns would only repeat the others
    off = {"calibration/applied": 0.0, "test/uncalibrated/macro_f1": 0.4}
    write_job(plain_dir / "0", "lora", 32, 0, 0.4, extra_metrics=off)
    plain = analyse(plain_dir)
    assert not any("uncalibrated" in metric for metric in plain.metrics)
    assert not any("calibrated label scores" in note for note in plain.notes)
