"""The report's verdict on an augmentation study: job directories written as a study leaves them (configs composed
from the real conf/, predictions.jsonl, metrics.json from the task's own metric functions, data_arm.json), and the
paired bootstrap checked against hand arithmetic and an independent loop over the same resampling indices."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, compose_config
from matplotlib.image import imread
from omegaconf import OmegaConf, open_dict

from taskexpert.models.module import split_metrics
from taskexpert.report import build_report
from taskexpert.report.bootstrap import PairedBootstrap, SeedPair, TaskMetric, resampling_indices
from taskexpert.tasks import load_task

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TREC = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
N_ITEMS = 40
DRAWS = 200


def macro_f1(gold: list[str], pred: list[str], labels: tuple[str, ...]) -> float:
    """Straightforward macro-F1 over `labels` (F1 = 2 TP / (2 TP + FP + FN), 0 when undefined)."""
    scores = []
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, pred, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, pred, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, pred, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(scores) / len(scores)


def rows_of(golds: list[str], preds: list[str]) -> list[dict]:
    return [
        {"id": f"q{index}", "gold": gold, "pred": pred}
        for index, (gold, pred) in enumerate(zip(golds, preds, strict=True))
    ]


def loop_bootstrap(pairs: list[SeedPair], labels: tuple[str, ...], draws: int) -> np.ndarray:
    """The paired bootstrap written out plainly: per draw and seed, macro-F1 of both sides on the same items."""
    per_seed = []
    for pair in pairs:
        indices = resampling_indices(len(pair.arm_rows), draws, pair.seed)
        differences = []
        for draw in indices:
            gold = [pair.arm_rows[i]["gold"] for i in draw]
            arm = macro_f1(gold, [pair.arm_rows[i]["pred"] for i in draw], labels)
            base = macro_f1(gold, [pair.baseline_rows[i]["pred"] for i in draw], labels)
            differences.append(arm - base)
        per_seed.append(differences)
    return np.mean(per_seed, axis=0)


# --- (1) the paired bootstrap ------------------------------------------------------------------------------------


def test_point_estimate_is_hand_arithmetic_and_interval_matches_a_plain_loop():
    task = load_task("sst2")
    labels = tuple(task.labels)
    negative, positive = labels
    gold = [negative, negative, positive, positive]
    # seed 1: baseline macro-F1 (1/2 + 1/2) / 2 = 1/2; arm (4/5 + 2/3) / 2 = 11/15; difference 7/30
    # seed 2: baseline all right (1); arm as before (11/15); difference -4/15. Mean over seeds: -1/60.
    arm_preds = [negative, negative, positive, negative]
    pairs = [
        SeedPair(1, rows_of(gold, arm_preds), rows_of(gold, [negative, positive, positive, negative])),
        SeedPair(2, rows_of(gold, arm_preds), rows_of(gold, gold)),
    ]
    result = PairedBootstrap(TaskMetric(task, "test/macro_f1"), draws=500).difference(pairs)
    assert result.per_seed == pytest.approx([7 / 30, -4 / 15], abs=1e-12)
    assert result.difference == pytest.approx(-1 / 60, abs=1e-12)
    expected = np.percentile(loop_bootstrap(pairs, labels, 500), [2.5, 97.5])
    assert (result.low, result.high) == pytest.approx(tuple(expected), abs=1e-12)
    assert result.low < 0 < result.high and result.draws == 500 and result.items == [4, 4]
    again = PairedBootstrap(TaskMetric(task, "test/macro_f1"), draws=500).difference(pairs)
    assert (again.low, again.high) == (result.low, result.high)  # a fixed seed: the same report every time


def test_the_vectorised_metric_is_what_the_tasks_own_function_gives_on_every_draw():
    """Macro-F1 (classification) and exact match (an answer task) on 30 resamples, each against split_metrics."""
    trec = compose_config(["task=trec"]).task
    from taskexpert.tasks import build_task

    task = build_task(trec)
    generator = np.random.default_rng(7)
    gold = list(generator.choice(TREC, size=25))
    pred = [
        label if generator.random() < 0.6 else str(generator.choice(TREC + ("nonsense",))) for label in gold
    ]
    rows = [{**row, "golds": [row["gold"]]} for row in rows_of(gold, pred)]
    indices = resampling_indices(len(rows), 30, 3)
    for metric in ("test/macro_f1", "test/acc", "test/f1_HUM"):
        exact = [split_metrics(task, [rows[i] for i in draw], "test/")[metric] for draw in indices]
        assert TaskMetric(task, metric).resampled(rows, indices) == pytest.approx(exact, abs=1e-12)

    gsm8k = load_task("gsm8k")
    answers = [
        {"id": f"a{i}", "gold": str(i % 7), "pred": str(i % 5), "parsed": i % 3 > 0} for i in range(20)
    ]
    indices = resampling_indices(len(answers), 30, 4)
    for metric in ("test/exact_match", "test/parse_failure_rate"):
        exact = [split_metrics(gsm8k, [answers[i] for i in draw], "test/")[metric] for draw in indices]
        assert TaskMetric(gsm8k, metric).resampled(answers, indices) == pytest.approx(exact, abs=1e-12)


def test_a_large_gain_excludes_zero_and_identical_predictions_give_zero():
    task = load_task("sst2")
    negative, positive = task.labels
    gold = [negative, positive] * 20
    wrong_half = [
        label if index % 2 else (positive if label == negative else negative)
        for index, label in enumerate(gold)
    ]
    bootstrap = PairedBootstrap(TaskMetric(task, "test/acc"), draws=300)
    gain = bootstrap.difference([SeedPair(1, rows_of(gold, gold), rows_of(gold, wrong_half))])
    assert gain.difference == pytest.approx(0.5, abs=1e-12)
    assert 0 < gain.low < 0.5 < gain.high <= 0.75
    assert gain.above_zero and not gain.below_zero
    same = bootstrap.difference([SeedPair(1, rows_of(gold, wrong_half), rows_of(gold, wrong_half))])
    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0)
    assert not same.above_zero and not same.below_zero


# --- (2) a report on a constructed study -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_config():
    """`python train.py task=trec model=tiny_llama trainer=fast` as Hydra composes it, saved without `hydra`."""
    config = compose_config(["task=trec", "model=tiny_llama", "trainer=fast"])
    with open_dict(config):
        del config["hydra"]
    return config


def golds() -> list[str]:
    return [TREC[index % len(TREC)] for index in range(N_ITEMS)]


def predictions(correct: set[int]) -> list[str]:
    """Right on the `correct` items, else the next label."""
    return [
        gold if index in correct else TREC[(TREC.index(gold) + 1) % len(TREC)]
        for index, gold in enumerate(golds())
    ]


def teacher(answers: int, calls: int | None = None, cost: float | None = None) -> dict:
    return {
        "answers": answers,
        "calls": answers if calls is None else calls,
        "cache_hits": answers - (answers if calls is None else calls),
        "prompt_tokens": 100 * answers,
        "completion_tokens": 20 * answers,
        "cost_usd": cost,
        "budget_stop": None,
    }


def write_study_job(
    job_dir: Path,
    base_config,
    arm: str,
    seed: int,
    correct: set[int] | None,
    *,
    methods: tuple[str, ...] = (),
    rounds: int | None = None,
    records: int = 0,
    spent: dict | None = None,
    rounds_detail: list[dict] | None = None,
) -> None:
    """A job of `train.py -m sweep=augmentation data_arm=ARM seed=SEED`; `correct=None`: it failed in training."""
    config = base_config.copy()
    with open_dict(config):
        config.seed = seed
        config.data_arm = {"name": arm, "methods": list(methods), "rounds": rounds}
    (job_dir / ".hydra").mkdir(parents=True)
    (job_dir / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(config))
    overrides = ["task=trec", "model=tiny_llama", "trainer=fast", f"data_arm={arm}", f"seed={seed}"]
    overrides += [f"data_arm.rounds={rounds}"] if rounds is not None else []
    (job_dir / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(overrides)))
    data_arm = {
        "arm": arm,
        "methods": list(methods),
        "rounds": rounds,
        "augment_seed": 42,
        "arm_dir": str(job_dir.parent / "arms" / f"{arm}_a42"),
        "records_files": [
            str(job_dir.parent / "arms" / f"{arm}_a42" / m / "augmented.jsonl") for m in methods
        ],
        "records": records,
        "reused": seed != 1,
        "teacher": spent or teacher(0),
        "seconds": {"augment": 0.0 if seed != 1 else 3.5},
    }
    if rounds_detail is not None:
        data_arm["rounds_detail"] = rounds_detail
    (job_dir / "data_arm.json").write_text(json.dumps(data_arm))
    if correct is None:
        return
    test_rows = [
        {**row, "scores": {label: 0.0 for label in TREC}} for row in rows_of(golds(), predictions(correct))
    ]
    val_rows = [{"id": f"v{i}", "gold": "HUM", "pred": "HUM" if i % 2 else "LOC"} for i in range(6)]
    lines = [{"split": "val", **row} for row in val_rows] + [{"split": "test", **row} for row in test_rows]
    (job_dir / "predictions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    task = load_task("trec")
    metrics = {
        key: value
        for key, value in {
            **split_metrics(task, val_rows, "val/"),
            **split_metrics(task, test_rows, "test/"),
        }.items()
        if isinstance(value, float)
    }
    (job_dir / "metrics.json").write_text(json.dumps({**metrics, "global_step": 4}))


BASELINE = {1: set(range(0, N_ITEMS, 2)), 2: set(range(0, N_ITEMS, 2)) | {1, 3}}  # about half right
REWRITE = {seed: set(range(N_ITEMS)) - {0, 10} for seed in (1, 2)}  # nearly all right
NEW = {seed: set(range(0, N_ITEMS, 5)) for seed in (1, 2)}  # far worse than the baseline
LLM2LLM = {
    1: {seed: BASELINE[seed] | {1, 5, 7} for seed in (1, 2)},
    2: {seed: BASELINE[seed] | {1, 5, 7, 9, 11} for seed in (1, 2)},
}
ROUNDS_DETAIL = [
    {
        "round": 1,
        "records": 6,
        "answers": 8,
        "prompt_tokens": 800,
        "completion_tokens": 160,
        "cost_usd": None,
    },
    {
        "round": 2,
        "records": 11,
        "answers": 15,
        "prompt_tokens": 1500,
        "completion_tokens": 300,
        "cost_usd": None,
    },
]


@pytest.fixture(scope="module")
def study(tmp_path_factory, base_config) -> Path:
    directory = tmp_path_factory.mktemp("studies") / "augmentation_trec"
    number = 0

    def job(*args, **kwargs) -> None:
        nonlocal number
        write_study_job(directory / str(number), base_config, *args, **kwargs)
        number += 1

    for seed in (1, 2):
        job("none", seed, BASELINE[seed])
        job("rewrite", seed, REWRITE[seed], methods=("rewrite",), records=24, spent=teacher(30, 20, 0.12))
        job("new", seed, NEW[seed], methods=("new",), records=12, spent=teacher(16))
        for rounds in (1, 2):
            job(
                "llm2llm",
                seed,
                LLM2LLM[rounds][seed],
                methods=("llm2llm",),
                rounds=rounds,
                records=11,
                spent=teacher(15),
                rounds_detail=ROUNDS_DETAIL,
            )
    job("new", 3, None, methods=("new",), records=12, spent=teacher(16))  # failed: no metrics.json
    job(
        "rebase", 3, set(range(N_ITEMS)), methods=("rebase",), records=5, spent=teacher(9)
    )  # no seed 3 in none
    return directory


def summary_rows(directory: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (directory / "summary.csv").open(newline="") as stream:
        return {(row["arm"], row["rounds"]): row for row in csv.DictReader(stream)}


def paired_difference(arm: dict[int, set[int]], seeds=(1, 2)) -> float:
    differences = [
        macro_f1(golds(), predictions(arm[seed]), TREC) - macro_f1(golds(), predictions(BASELINE[seed]), TREC)
        for seed in seeds
    ]
    return sum(differences) / len(differences)


def test_summary_csv_has_one_row_per_arm_with_the_paired_difference_and_the_teacher_cost(study):
    report = build_report(study, draws=DRAWS)
    rows = summary_rows(study)
    assert list(rows) == [
        ("none", ""),
        ("rewrite", ""),
        ("new", ""),
        ("llm2llm", "1"),
        ("llm2llm", "2"),
        ("rebase", ""),
    ]
    header = list(next(iter(rows.values())))
    for column in (
        "arm",
        "test/macro_f1_mean",
        "test/macro_f1_std",
        "n_seeds",
        "diff",
        "ci_low",
        "ci_high",
        "records",
        "teacher_calls",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "gain_per_1k_calls",
    ):
        assert column in header, column

    none = rows[("none", "")]
    baseline_f1 = [macro_f1(golds(), predictions(BASELINE[seed]), TREC) for seed in (1, 2)]
    assert float(none["test/macro_f1_mean"]) == pytest.approx(np.mean(baseline_f1), abs=1e-12)
    assert float(none["test/macro_f1_std"]) == pytest.approx(np.std(baseline_f1, ddof=1), abs=1e-12)
    assert (none["n_seeds"], none["diff"], none["teacher_calls"]) == ("2", "", "0")

    rewrite = rows[("rewrite", "")]
    gain = paired_difference(REWRITE)
    assert float(rewrite["diff"]) == pytest.approx(gain, abs=1e-12)
    assert 0 < float(rewrite["ci_low"]) < gain < float(rewrite["ci_high"])
    # the calls the data took (30), not the 20 one run paid: a killed run, or another arm, may have filled the cache
    assert (rewrite["records"], rewrite["teacher_calls"]) == ("24", "30") and "teacher_answers" not in header
    assert (rewrite["prompt_tokens"], rewrite["completion_tokens"]) == ("3000", "600")
    assert float(rewrite["cost_usd"]) == pytest.approx(0.12)
    assert float(rewrite["gain_per_1k_calls"]) == pytest.approx(gain * 1000 / 30, abs=1e-9)
    assert float(rewrite["gain_per_usd"]) == pytest.approx(gain / 0.12, abs=1e-9)
    assert (rewrite["paired_seeds"], rewrite["paired_items"]) == ("1 2", f"{N_ITEMS} {N_ITEMS}")

    new = rows[("new", "")]
    assert (new["n_seeds"], new["n_missing"]) == ("2", "1")  # the failed job is counted, not averaged
    assert float(new["ci_high"]) < 0 and new["cost_usd"] == "" and new["gain_per_usd"] == ""

    # an LLM2LLM arm on rounds 1..k costs what those rounds took (rounds_detail), not the whole run's 15 answers
    first, second = rows[("llm2llm", "1")], rows[("llm2llm", "2")]
    assert (first["teacher_calls"], first["records"], first["prompt_tokens"]) == ("8", "6", "800")
    assert (second["teacher_calls"], second["records"]) == ("15", "11")
    assert float(second["diff"]) == pytest.approx(paired_difference(LLM2LLM[2]), abs=1e-12)

    rebase = rows[("rebase", "")]
    assert rebase["diff"] == rebase["ci_low"] == "" and rebase["n_seeds"] == "1"
    assert rebase["note"] == "no baseline pairs (seed 3 not in none)"

    [verdict] = report.study.verdicts
    assert verdict.best.name == "rewrite" and [arm.name for arm in verdict.worse] == ["new"]
    low, high = float(rewrite["ci_low"]), float(rewrite["ci_high"])
    assert verdict.lines[0] == (
        f"rewrite raised test macro-F1 by {gain:+.3f} [{low:+.3f}, {high:+.3f}] over plain fine-tuning at 30 "
        f"teacher calls (2 seeds, {N_ITEMS} test items per seed; 95% paired bootstrap "
        f"interval, {DRAWS} draws)."
    )
    assert (
        verdict.lines[1].startswith("new lowered test macro-F1 by ")
        and "worse beyond noise" in verdict.lines[1]
    )

    markdown = (study / "summary.md").read_text()
    assert verdict.lines[0] in markdown and "## Arms" in markdown
    assert "| rebase | 1 | " in markdown and "no baseline pairs (seed 3 not in none)" in markdown
    missing = markdown.split("## Jobs without results")[1]
    assert "| 10 | new | missing |" in missing


def test_no_arm_beyond_noise_is_said_so(tmp_path, base_config):
    for seed in (1, 2):
        write_study_job(tmp_path / f"none_{seed}", base_config, "none", seed, BASELINE[seed])
        nudged = BASELINE[seed] | {1}  # one more item right: well inside the noise of 40 items
        write_study_job(
            tmp_path / f"rewrite_{seed}",
            base_config,
            "rewrite",
            seed,
            nudged,
            methods=("rewrite",),
            records=3,
            spent=teacher(4),
        )
    report = build_report(tmp_path, draws=DRAWS)
    [verdict] = report.study.verdicts
    assert verdict.best is None and verdict.worse == []
    assert verdict.lines == [
        "No arm beat the baseline beyond noise: every test macro-F1 interval reaches 0 or below "
        f"(2 seeds, {N_ITEMS} test items per seed; 95% paired bootstrap interval, {DRAWS} draws)."
    ]


# --- (3) the figure, and the command line ------------------------------------------------------------------------


def test_the_figure_and_the_command_line(study, tmp_path):
    out_dir = tmp_path / "report"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "taskexpert.report",
            str(study),
            "--out",
            str(out_dir),
            "--bootstrap",
            str(DRAWS),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | {"MPLBACKEND": "Agg", "COLUMNS": "300"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "rewrite raised test macro-F1 by +" in result.stdout
    assert "new lowered test macro-F1 by -" in result.stdout
    assert "Without results: 10 (missing)" in result.stdout
    figure = out_dir / "augmentation.png"
    data = figure.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 20_000
    height, width, _ = imread(figure).shape
    assert height > 300 and width > 1000
    assert "![augmentation](augmentation.png)" in (out_dir / "summary.md").read_text()
    assert not (out_dir / "sensitivity.png").exists()


def test_jobs_without_data_arm_json_or_predictions_are_named_not_fatal(tmp_path, base_config):
    """A job that failed before its arm's data was made has no data_arm.json: its config names the arm. A job
    without predictions.jsonl has a mean but no pair, and the row says why."""
    for seed in (1, 2):
        write_study_job(tmp_path / f"none_{seed}", base_config, "none", seed, BASELINE[seed])
    write_study_job(tmp_path / "rewrite_1", base_config, "rewrite", 1, REWRITE[1], methods=("rewrite",))
    (tmp_path / "rewrite_1" / "predictions.jsonl").unlink()
    write_study_job(tmp_path / "rewrite_2", base_config, "rewrite", 2, None, methods=("rewrite",))
    (tmp_path / "rewrite_2" / "data_arm.json").unlink()
    write_study_job(tmp_path / "none_3", base_config, "none", 3, BASELINE[1])
    write_study_job(tmp_path / "rewrite_3", base_config, "rewrite", 3, REWRITE[1], methods=("rewrite",))
    metrics_file = tmp_path / "rewrite_3" / "metrics.json"  # predictions.jsonl left by another run
    metrics_file.write_text(json.dumps({**json.loads(metrics_file.read_text()), "test/macro_f1": 0.5}))
    report = build_report(tmp_path, draws=DRAWS)
    [none, rewrite] = report.study.arms
    assert [job.job for job in rewrite.jobs] == ["rewrite_1", "rewrite_2", "rewrite_3"]
    assert rewrite.n_missing == 1 and rewrite.difference is None
    recomputed = macro_f1(golds(), predictions(REWRITE[1]), TREC)
    assert rewrite.pairing == (
        f"no baseline pairs ({tmp_path / 'rewrite_1' / 'predictions.jsonl'}: missing (the job wrote no "
        f"predictions); {tmp_path / 'rewrite_3' / 'predictions.jsonl'}: its test predictions give test/macro_f1 "
        f"{recomputed:.4f} but metrics.json says 0.5000; they are not of the same run (rerun the job))"
    )
    assert report.study.verdicts[0].lines[0].startswith("No verdict: no arm has predictions paired")
    assert summary_rows(tmp_path)[("rewrite", "")]["note"] == rewrite.pairing
