"""`python -m taskexpert.data`: what a run would read, before it trains: counts, labels, token lengths,
duplicates, empty fields and the length `auto` would choose."""

from __future__ import annotations

import json
from pathlib import Path

from taskexpert.data.__main__ import main
from taskexpert.data.lengths import fit_lengths
from taskexpert.data.loading import load_splits
from taskexpert.models.loading import load_model_and_tokenizer
from taskexpert.tasks import build_task
from tests.conftest import compose_config
from tests.test_max_length_auto import write_gsm8k


def run(tmp_path: Path, *overrides: str) -> dict:
    out = tmp_path / "report.json"
    assert main(["model=tiny_llama", *overrides, "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_bundled_sample_counts_and_labels(tmp_path, capsys):
    report = run(tmp_path)
    cfg = compose_config(["model=tiny_llama"])
    splits = load_splits(cfg.data, build_task(cfg.task))
    for name in ("train", "validation", "test"):
        records = getattr(splits, name)
        entry = report["splits"][name]
        assert entry["items"] == len(records)
        assert sum(entry["labels"].values()) == len(records)
        assert entry["tokens"]["sequence"]["max"] >= entry["tokens"]["sequence"]["p50"] > 0
    out = capsys.readouterr().out
    assert "auto would choose" in out and "report.json" in out


def test_generated_file_finds_the_planted_duplicate_and_the_auto_length(tmp_path):
    folder = write_gsm8k(tmp_path / "gsm8k")
    train_rows = (folder / "train.jsonl").read_text().splitlines()
    test_rows = (folder / "test.jsonl").read_text().splitlines()
    planted = json.loads(test_rows[3])
    (folder / "train.jsonl").write_text("\n".join([*train_rows, json.dumps(planted)]) + "\n")
    overrides = ["task=gsm8k", f"data.path={folder}", "data.split.val_size=2"]
    report = run(tmp_path, *overrides)
    assert report["splits"]["test"]["items"] == 6
    assert report["splits"]["train"]["items"] + report["splits"]["validation"]["items"] == 25
    between = report["duplicates"]["exact_between"]
    assert between["train-test"]["count"] + between["validation-test"]["count"] == 1
    assert report["duplicates"]["train_overlapping_evaluation"]["count"] >= 1
    assert report["empty_fields"]["train"] == {}  # the reader refuses a blank question or answer already
    # the length auto would choose is the one training chooses
    cfg = compose_config(["model=tiny_llama", *overrides])
    task = build_task(cfg.task)
    tokenizer = load_model_and_tokenizer(cfg.model)[1]
    plan = fit_lengths(cfg, load_splits(cfg.data, task), tokenizer, task, cache_dir=tmp_path / "cache")
    assert report["max_length"]["auto"] == plan.max_length


def test_a_blank_optional_field_is_found():
    """Readers refuse blank required fields; a record without its reference (a bare seed) is shown."""
    from taskexpert.data.inspect import empty_fields
    from taskexpert.data.splits import Splits
    from taskexpert.records import Record

    cfg = compose_config([])
    task = build_task(cfg.task)
    record = Record(
        id="r1", source="t", inputs={"question": "Q?", "context": "C."}, target="yes", reference="  "
    )
    found = empty_fields(Splits([record], [], []), task)
    assert found["train"] == {"reference": ["r1"]}
