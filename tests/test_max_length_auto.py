"""`data.max_length: auto` and `data.too_long`: lengths measured with the run's tokenizer, fitted to real-format
files, cached, and records over the length named, skipped or truncated, never dropped silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taskexpert.data.encoding import ExampleEncoder
from taskexpert.data.lengths import fit_lengths, length_setting, measuring_encoder
from taskexpert.data.loading import load_splits
from taskexpert.errors import ConfigError
from taskexpert.models.loading import load_model_and_tokenizer
from taskexpert.tasks import build_task
from taskexpert.training.pipeline import train
from tests.conftest import FAST, compose_config

TINY = ["model=tiny_llama", *FAST]


def long_solution(seed: int, steps: int) -> str:
    lines = [
        f"Step {i}: {seed + i} * {i + 2} = <<{seed + i}*{i + 2}={(seed + i) * (i + 2)}>>"
        for i in range(steps)
    ]
    return "\n".join(lines) + f"\n#### {seed}"


def write_gsm8k(folder: Path, long_train: int = 3, long_test: int = 1, steps: int = 23) -> Path:
    """GSM8K's train.jsonl / test.jsonl, a few records with worked solutions of several hundred tokens."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, count, long in (("train", 24, long_train), ("test", 6, long_test)):
        rows = [
            {
                "question": f"A farmer of the {split} valley has {n + 3} sheep and buys {n} more. How many sheep now?",
                "answer": long_solution(n, steps)
                if n < long
                else f"{n + 3} + {n} = {2 * n + 3}\n#### {2 * n + 3}",
            }
            for n in range(count)
        ]
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


@pytest.fixture(scope="module")
def tokenizer():
    return load_model_and_tokenizer(compose_config(["model=tiny_llama"]).model)[1]


def gsm8k_config(folder: Path, *overrides: str, run_dir: Path | None = None):
    return compose_config(["task=gsm8k", *TINY, f"data.path={folder}", *overrides], run_dir)


def test_real_gsm8k_file_with_long_solutions_fits_by_default(tmp_path, tokenizer):
    """The 512-token stop on GSM8K's long solutions cannot happen with defaults: auto measures and fits them."""
    folder = write_gsm8k(tmp_path / "gsm8k")
    cfg = gsm8k_config(folder, "trainer.max_steps=1", "data.test_limit=2", run_dir=tmp_path / "run")
    assert cfg.data.max_length == "auto"
    longest = len(tokenizer(long_solution(0, 23))["input_ids"])
    assert longest > 512  # the fixed default of before would stop on the first of them
    metrics = train(cfg)
    splits_json = json.loads((tmp_path / "run" / "splits.json").read_text())
    chosen = splits_json["settings"]["lengths"]["max_length"]
    assert metrics["data/max_length"] == chosen == splits_json["settings"]["lengths"]["fits_all"]
    assert longest < chosen <= 1024  # fits every record, within the tiny model's context window


def test_sample_runs_keep_their_fixed_length(make_config):
    cfg = make_config("task=gsm8k")
    assert cfg.data.max_length == "auto"
    assert length_setting(cfg.data) == 512  # data.sample_max_length under a bundled sample


def test_too_long_error_names_every_record_and_the_length_that_fits(tmp_path, tokenizer):
    folder = write_gsm8k(tmp_path / "gsm8k", long_train=4, long_test=2)
    cfg = gsm8k_config(folder, "data.max_length=64", "data.too_long=error")
    task = build_task(cfg.task)
    splits = load_splits(cfg.data, task)
    with pytest.raises(ConfigError) as caught:
        fit_lengths(cfg, splits, tokenizer, task, cache_dir=tmp_path / "cache")
    message = str(caught.value)
    encoder = measuring_encoder(cfg, tokenizer, task)
    needs = [
        m.needed(encoder.eval_budget) for m in encoder.measure(splits.train + splits.validation + splits.test)
    ]
    over = sum(need > 64 for need in needs)
    assert over == len(needs)  # the eval budget of 256 tokens alone is over 64: every record
    assert f"{over} records need more than data.max_length=64" in message
    assert f"data.max_length={max(needs)} fits them all" in message
    assert "train.jsonl" in message and "data.too_long=skip" in message
    # the length named fits: with it the same data raises nothing
    splits = load_splits(cfg.data, task)
    fixed = gsm8k_config(folder, f"data.max_length={max(needs)}", "data.too_long=error")
    assert fit_lengths(fixed, splits, tokenizer, task, cache_dir=tmp_path / "cache").max_length == max(needs)


def test_skip_counts_per_split_and_reports_test_skips_beside_the_metrics(tmp_path, tokenizer, capsys):
    folder = write_gsm8k(tmp_path / "gsm8k", long_train=3, long_test=2)
    short_need = (
        400  # well over every short record (a few dozen tokens + 256 to generate), under every long one
    )
    cfg = gsm8k_config(
        folder,
        f"data.max_length={short_need}",
        "data.too_long=skip",
        "trainer.max_steps=1",
        "data.split.val_size=2",
        run_dir=tmp_path / "run",
    )
    task = build_task(cfg.task)
    splits = load_splits(cfg.data, task)
    long_ids = {r.id for r in splits.train + splits.validation + splits.test if "Step 20" in r.reference}
    metrics = train(cfg)
    lengths = json.loads((tmp_path / "run" / "splits.json").read_text())["settings"]["lengths"]
    skipped = lengths["skipped"]
    assert set(skipped["train"] + skipped["validation"] + skipped["test"]) == long_ids
    assert len(skipped["test"]) == 2
    assert metrics["test/skipped_too_long"] == 2
    assert metrics["train/skipped_too_long"] + metrics["val/skipped_too_long"] == 3
    assert lengths["skipped_count"]["test"] == 2
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["test/skipped_too_long"] == 2 and written["data/max_length"] == short_need
    ids = json.loads((tmp_path / "run" / "splits.json").read_text())
    assert not long_ids & set(ids["train"] + ids["validation"] + ids["test"])
    out = capsys.readouterr().out
    assert "test: 2 items over data.max_length=400 tokens were skipped" in out


def test_truncate_needs_a_truncate_field(tmp_path, tokenizer):
    cfg = gsm8k_config(write_gsm8k(tmp_path / "g"), "data.too_long=truncate")
    with pytest.raises(ConfigError, match="data.too_long=truncate"):
        fit_lengths(cfg, load_splits(cfg.data, build_task(cfg.task)), tokenizer, build_task(cfg.task))


def test_truncate_cuts_the_field_and_names_records_that_cannot_be_cut_enough(tmp_path, tokenizer):
    """PubMedQA's context is cut to fit a short length; a length too short even for the question is an error
    naming every such record."""
    with_path = compose_config(
        ["model=tiny_llama", "data.path=" + str(sample_copy(tmp_path)), "data.max_length_cap=96"]
    )
    task = build_task(with_path.task)
    splits = load_splits(with_path.data, task)
    plan = fit_lengths(with_path, splits, tokenizer, task, cache_dir=tmp_path / "cache")
    assert plan.max_length == 96 < plan.fits_all and plan.too_long == "truncate"
    assert sum(plan.summary()["over"].values()) > 0
    tight = compose_config(["model=tiny_llama", f"data.path={sample_copy(tmp_path)}", "data.max_length=8"])
    with pytest.raises(ConfigError, match="do not fit even with their truncate_field cut"):
        fit_lengths(tight, load_splits(tight.data, task), tokenizer, task, cache_dir=tmp_path / "cache")


def sample_copy(tmp_path: Path) -> Path:
    """The bundled PubMedQA sample at a path of its own (a real path: auto measures it)."""
    import shutil

    from taskexpert.data.loading import resolve_data_path

    source = Path(resolve_data_path(compose_config([]).data.path))
    target = tmp_path / "pubmedqa" / source.name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    return target


def test_lengths_are_cached_and_measured_again_when_the_file_changes(tmp_path, tokenizer, monkeypatch):
    folder = write_gsm8k(tmp_path / "gsm8k")
    cfg = gsm8k_config(folder)
    task = build_task(cfg.task)
    calls = []
    original = ExampleEncoder.measure

    def counting(self, records, on_progress=None):
        calls.append(len(records))
        return original(self, records, on_progress)

    monkeypatch.setattr(ExampleEncoder, "measure", counting)
    cache = tmp_path / "cache"
    first = fit_lengths(cfg, load_splits(cfg.data, task), tokenizer, task, cache_dir=cache)
    second = fit_lengths(cfg, load_splits(cfg.data, task), tokenizer, task, cache_dir=cache)
    assert len(calls) == 1 and not first.cache_hit and second.cache_hit
    assert second.max_length == first.max_length
    assert len(list(cache.glob("*.json"))) == 1
    write_gsm8k(folder, steps=28)  # longer solutions: the file's contents changed
    third = fit_lengths(cfg, load_splits(cfg.data, task), tokenizer, task, cache_dir=cache)
    assert len(calls) == 2 and not third.cache_hit
    assert third.max_length > first.max_length
    # another tokenizer (or prompt) is another cache entry, not a stale hit
    other = gsm8k_config(folder, "task.prompt.input='Problem: {question}\\nSolution:'")
    fit_lengths(other, load_splits(other.data, task), tokenizer, build_task(other.task), cache_dir=cache)
    assert len(calls) == 3


def test_measured_lengths_match_what_the_encoder_builds(tmp_path, tokenizer):
    """The measurement is the encoder's own: a record's needed length is its training sequence exactly."""
    cfg = gsm8k_config(write_gsm8k(tmp_path / "g"))
    task = build_task(cfg.task)
    records = load_splits(cfg.data, task).train
    measured = measuring_encoder(cfg, tokenizer, task).measure(records)
    encoded = ExampleEncoder(tokenizer, task, 4096, "generate").encode(records, "t")
    assert [m.fixed + m.field + m.target for m in measured] == [len(e.input_ids) for e in encoded]
