"""Every seed-paper task on invented files of its real size in its original format (tests/real_size_files.py),
through the documented command `task=<name> data.path=DIR`: validation sized for real data (the dataset's dev
set, else 10% of train within [50, 500]), the low-data draws stratified and recorded, a few training steps."""

from __future__ import annotations

import json
import logging
from collections import Counter

import pytest
import real_size_files
from conftest import FAST, compose_config
from omegaconf import OmegaConf

from taskexpert.data.loading import load_splits
from taskexpert.data.splits import auto_validation_size
from taskexpert.tasks import build_task
from taskexpert.training.pipeline import train

TASKS = ["gsm8k", "trec", "sst2", "snips", "mnli", "casehold", "squad", "bbh", "mconala", "pubmedqa"]
# MNLI's real train.tsv is 330 MB of parse trees; its reading test uses a twentieth of it (still 19,635
# training pairs, so the same auto size) and the full file is measured in benchmarks/bench_real_data.py.
READ_SCALE = {"mnli": 0.05}
# Training tests read a smaller file of the same format for the largest datasets.
TRAIN_SCALE = {"sst2": 0.02, "mnli": 0.005, "casehold": 0.01, "squad": 0.01}
TINY = ["model=tiny_llama", *FAST, "trainer.max_steps=2", "eval.max_new_tokens=8", "data.test_limit=4"]


def command(task: str, path) -> list[str]:
    """The documented command's overrides (PubMedQA's real file has its own data config)."""
    return [f"task={task}", *(["data=pubmedqa"] if task == "pubmedqa" else []), f"data.path={path}"]


@pytest.fixture(scope="session")
def real_files(tmp_path_factory):
    """Each task's files at (about) the real size, written once per session."""
    root = tmp_path_factory.mktemp("real_size")
    return {task: real_size_files.write(task, root / task, READ_SCALE.get(task, 1.0)) for task in TASKS}


def expected_validation(task: str, train_records: int, scale: float = 1.0) -> tuple[int, str]:
    if task == "casehold":
        return round(3900 * scale), "dataset"  # CaseHOLD ships dev.csv
    if task == "pubmedqa":
        return 50, "explicit"  # Dr. LLaMA's split, as in the paper
    return auto_validation_size(train_records), "auto"


@pytest.mark.parametrize("task", TASKS)
def test_the_documented_command_sizes_validation_for_real_data(task, real_files, tmp_path):
    cfg = compose_config(command(task, real_files[task]), tmp_path / "run")
    splits = load_splits(cfg.data, build_task(cfg.task))
    settings = splits.settings
    drawn_from = len(splits.train) + len(splits.validation)
    size, rule = expected_validation(task, drawn_from)
    assert settings["val_size_rule"] == rule
    if task == "squad":  # whole paragraphs: at least the auto size, never more than one paragraph over it
        assert size <= len(splits.validation) < size + 8
    else:
        assert len(splits.validation) == settings["val_size"] == size
    if task in ("gsm8k", "trec", "sst2", "snips", "mnli", "squad"):
        assert size == 500  # thousands of training records: the cap
    if task == "bbh":
        assert size == drawn_from // 5  # a few per subtask train: a fifth of them validates
    assert not {record.id for record in splits.validation} & {record.id for record in splits.train}


def test_gsm8k_real_size_holds_solutions_longer_than_512_tokens(real_files):
    """The files reproduce what stops a 512-token run: some worked solutions run to several hundred words."""
    rows = [json.loads(line) for line in (real_files["gsm8k"] / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 7473
    assert sum(row["answer"].count("\n") >= 10 for row in rows) > 50  # ten steps and more: past 512 tokens


def test_a_bundled_sample_keeps_its_own_validation_size_and_an_integer_wins(real_files, tmp_path):
    sample = load_splits(compose_config(["task=trec"]).data, None)
    assert len(sample.validation) == 6 and sample.settings["val_size_rule"] == "sample"
    explicit = compose_config(["task=trec", f"data.path={real_files['trec']}", "data.split.val_size=120"])
    splits = load_splits(explicit.data, None)
    assert len(splits.validation) == 120 and splits.settings["val_size_rule"] == "explicit"


@pytest.mark.parametrize("setting", ["data.train_limit=120", "data.train_fraction=0.05"])
def test_low_data_draws_on_real_size_trec_are_stratified_and_recorded(setting, real_files):
    cfg = compose_config(["task=trec", f"data.path={real_files['trec']}", setting])
    splits = load_splits(cfg.data, build_task(cfg.task))
    pool = 5452 - 500
    drawn = 120 if "limit" in setting else round(0.05 * pool)
    assert len(splits.validation) == 500 and len(splits.train) == drawn
    assert splits.settings["seed_set_draw"] == {"from": pool, "drawn": drawn, "stratified": True, "seed": 0}
    # Stratified: each label's share of the draw is its share of train, to within one record.
    full = Counter(
        record.target
        for record in load_splits(compose_config(command("trec", real_files["trec"])).data, None).train
    )
    seeds = Counter(record.target for record in splits.train)
    for label, count in full.items():
        assert abs(seeds[label] - count * drawn / pool) <= 1


# Tasks with a task.truncate_field (a context cut to fit): their longest invented records pass the tiny
# model's context window, as real SQuAD paragraphs and CaseHOLD prompts can.
TRUNCATING = {"casehold", "squad", "pubmedqa"}
# Records past 512 tokens, as in the real files: GSM8K's long solutions, BBH's long inputs.
LONG_RECORDS = {"gsm8k", "bbh"}


def _fits_every_record_needs_auto_lengths(task: str) -> None:
    common = OmegaConf.load(real_size_files.Path(__file__).parents[1] / "conf" / "data" / "common.yaml")
    if task in LONG_RECORDS and str(common.get("max_length")) != "auto":
        pytest.skip(f"{task}'s records past 512 tokens need data.max_length auto, the default for real files")


@pytest.mark.parametrize("task", TASKS)
def test_the_documented_command_trains_a_few_steps_on_real_format_files(task, tmp_path, caplog):
    _fits_every_record_needs_auto_lengths(task)
    path = real_size_files.write(task, tmp_path / "data", TRAIN_SCALE.get(task, 1.0))
    run_dir = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="taskexpert.data.loading"):
        metrics = train(compose_config([*command(task, path), *TINY], run_dir))
    assert metrics
    if "data/max_length" in metrics:  # data.max_length auto chose a length that fits every record ...
        fits = metrics["data/fits_all"] <= metrics["data/max_length"]
        # ... or, past the tiny model's 1024-token window, one that cuts the task's truncate_field to fit
        assert fits or (task in TRUNCATING and metrics["data/max_length"] == 1024)
        if task == "gsm8k":
            assert metrics["data/max_length"] > 512
    said = [
        record.getMessage() for record in caplog.records if record.getMessage().startswith("validation: ")
    ]
    assert len(said) == 1, said  # the log says the validation size and its reason once
    splits = json.loads((run_dir / "splits.json").read_text())
    train_records = len(splits["train"]) + len(splits["validation"])
    size, rule = expected_validation(task, train_records, TRAIN_SCALE.get(task, 1.0))
    assert splits["settings"]["val_size_rule"] == rule
    if task != "squad":
        assert len(splits["validation"]) == size


@pytest.mark.parametrize(
    ("train_records", "size"),
    [(1, 0), (2, 1), (24, 4), (108, 21), (300, 50), (1000, 100), (5452, 500), (392702, 500)],
)
def test_auto_validation_is_a_tenth_within_50_and_500_and_at_most_a_fifth(train_records, size):
    assert auto_validation_size(train_records) == size


def test_a_val_size_neither_integer_nor_auto_and_auto_on_a_fixed_cut_are_errors(real_files):
    from taskexpert.errors import ConfigError

    cfg = compose_config(["task=trec", f"data.path={real_files['trec']}", "data.split.val_size=most"])
    with pytest.raises(ConfigError, match="val_size='most' is neither an integer nor auto"):
        load_splits(cfg.data, None)
    cfg = compose_config(
        ["task=pubmedqa", "data=pubmedqa", f"data.path={real_files['pubmedqa']}", "data.split.val_size=auto"]
    )
    with pytest.raises(ConfigError, match="drllama cuts fixed sizes"):
        load_splits(cfg.data, None)
