"""Every shipped task trains and evaluates end to end on its bundled sample with the tiny LLaMA: the metrics of
its kind in metrics.json, predictions over its labels or answers, its split in splits.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import FAST, ROOT

from taskexpert.tasks import load_task
from taskexpert.training.pipeline import train

SAMPLES = ROOT / "src" / "taskexpert" / "data" / "sample"
TINY = ["model=tiny_llama", *FAST, "trainer.max_steps=2", "eval.max_new_tokens=8"]
TASKS = ["trec", "sst2", "snips", "mnli", "casehold", "gsm8k", "squad", "bbh", "mconala"]


def run(make_config, tmp_path, *overrides):
    metrics = train(make_config(*TINY, *overrides))
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written == json.loads(json.dumps(metrics))
    rows = [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    splits = json.loads((tmp_path / "run" / "splits.json").read_text())
    return written, rows, splits


def test_trec_reports_accuracy_macro_f1_and_six_per_class_f1(make_config, tmp_path):
    metrics, rows, splits = run(make_config, tmp_path, "task=trec")
    labels = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    for split in ("val", "test"):
        assert {f"{split}/acc", f"{split}/macro_f1", *(f"{split}/f1_{c}" for c in labels)} <= set(metrics)
        assert sorted(k for k in metrics if k.startswith(f"{split}/f1_")) == sorted(
            f"{split}/f1_{c}" for c in labels
        )
        assert len(metrics[f"{split}/confusion"]) == 6
    # multi-token labels scored whole: every row carries a score per label, the prediction the best one
    assert all(set(row["scores"]) == set(labels) for row in rows)
    assert all(row["pred"] == max(row["scores"], key=row["scores"].get) for row in rows)
    test_rows = [row for row in rows if row["split"] == "test"]
    assert metrics["test/acc"] == sum(r["pred"] == r["gold"] for r in test_rows) / len(test_rows)
    assert [len(splits[name]) for name in ("train", "validation", "test")] == [42, 6, 24]
    assert splits["settings"]["split"]["name"] == "own" and splits["settings"]["reader"] == "trec"


def test_sst2_reports_two_per_class_f1(make_config, tmp_path):
    metrics, rows, _ = run(make_config, tmp_path, "task=sst2")
    assert sorted(k for k in metrics if k.startswith("test/f1_")) == ["test/f1_negative", "test/f1_positive"]
    assert {row["gold"] for row in rows} <= {"negative", "positive"}


def test_gsm8k_reports_exact_match_and_parse_failures(make_config, tmp_path):
    metrics, rows, splits = run(
        make_config, tmp_path, "task=gsm8k", "data.test_limit=5", "trainer.limit_test_batches=null"
    )
    assert {
        "val/exact_match",
        "val/parse_failure_rate",
        "test/exact_match",
        "test/parse_failure_rate",
    } <= set(metrics)
    assert len(splits["test"]) == 5 and splits["settings"]["test_limit"] == 5
    test_rows = [row for row in rows if row["split"] == "test"]
    assert len(test_rows) == 5 and all("generated" in row and "parsed" in row for row in test_rows)
    assert all(row["gold"].lstrip("-").isdigit() for row in test_rows)  # the normalised number after ####
    assert metrics["test/parse_failure_rate"] == sum(not row["parsed"] for row in test_rows) / 5


def test_squad_reports_exact_match_and_f1_over_all_gold_answers(make_config, tmp_path):
    metrics, rows, _ = run(make_config, tmp_path, "task=squad")
    assert {"test/exact_match", "test/f1", "val/exact_match", "val/f1"} <= set(metrics)
    assert any(len(row.get("golds", [])) > 1 for row in rows if row["split"] == "test")  # dev has 2-3 answers


@pytest.mark.parametrize("name", ["snips", "mnli", "casehold", "bbh", "mconala"])
def test_the_other_tasks_report_their_kinds_metrics(name, make_config, tmp_path):
    task = load_task(name)
    metrics, rows, _ = run(make_config, tmp_path, f"task={name}", "trainer.max_steps=1")
    expected = {
        "classification": ["acc", "macro_f1", *(f"f1_{label}" for label in task.labels)],
        "answer": ["exact_match", "parse_failure_rate"],
        "span": list(task.metrics),
    }[task.kind.name]
    assert {f"test/{name}" for name in expected} <= set(metrics)
    if name == "bbh":  # per subtask too
        assert any(key.startswith("test/exact_match_") for key in metrics)
    if task.labels:
        assert {row["pred"] for row in rows} <= set(task.labels)


def test_a_data_option_on_the_command_line_wins_over_the_tasks_default(make_config, tmp_path):
    cfg = make_config("task=trec", "data=sst2_sample")
    assert cfg.data.reader == "sst2" and cfg.task.name == "trec"
    folder = tmp_path / "trec"
    folder.mkdir()
    for name in ("train_5500.label", "TREC_10.label"):
        (folder / name).write_bytes((SAMPLES / "trec" / name).read_bytes())
    assert make_config("task=trec", f"data.path={folder}").data.path == str(folder)


def test_train_py_on_gsm8k_from_the_command_line(tmp_path):
    """The command of the task layer's promise, as a user types it (CSV logger and short answers for speed)."""
    folder = tmp_path / "gsm8k"
    folder.mkdir()
    (folder / "train.jsonl").write_bytes((SAMPLES / "gsm8k" / "train.jsonl").read_bytes())
    test_lines = (SAMPLES / "gsm8k" / "test.jsonl").read_text(encoding="utf-8")
    (folder / "test.jsonl").write_text(test_lines * 2, encoding="utf-8")  # 40 problems, of which 30 are used
    run_dir = tmp_path / "run"
    command = [
        sys.executable, "train.py", "task=gsm8k", f"data.path={folder}", "model=tiny_llama",
        "trainer.max_steps=2", "data.test_limit=30",
        "logger=csv", "eval.max_new_tokens=8", "trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "test/exact_match" in metrics and "test/parse_failure_rate" in metrics
    assert len(json.loads((run_dir / "splits.json").read_text())["test"]) == 30
    assert "exact match" in result.stdout


# The README's "Your own task" example, word for word but for the data folder.
OWN_TASK = """\
# @package _global_
defaults:
  - override /data: common
task:
  name: tickets
  kind: classification
  inputs: [text]
  labels: [billing, bug, feature]
  prompt: {input: "Ticket: {text}\\nCategory:", decision: " The category is {label}."}
  optimized_metric: val/macro_f1
data:
  reader: generic
  path: DATA_DIR
  options: {columns: {text: body, target: category}, split_files: {train: train.csv, test: test.csv}}
"""
TICKETS = {
    "billing": ["I was charged twice", "refund my last invoice", "my bill went up", "update my card"],
    "bug": ["the app crashes on start", "login does nothing", "export fails", "the page freezes"],
    "feature": [
        "please add dark mode",
        "support CSV import",
        "send a weekly summary",
        "add a search shortcut",
    ],
}


def test_your_own_classification_task_from_a_csv_in_a_few_lines_of_yaml(tmp_path):
    from conftest import compose_config

    data = tmp_path / "tickets"
    data.mkdir()
    rows = [(f"{text} ({n})", label) for label, texts in TICKETS.items() for text in texts for n in range(3)]
    for name, part in (("train.csv", rows[0::3] + rows[1::3]), ("test.csv", rows[2::3])):
        lines = ["body,category", *(f"{body},{label}" for body, label in part)]
        (data / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    conf = tmp_path / "conf" / "task"
    conf.mkdir(parents=True)
    (conf / "tickets.yaml").write_text(OWN_TASK.replace("DATA_DIR", str(data)), encoding="utf-8")
    cfg = compose_config(
        [f"hydra.searchpath=[file://{conf.parent}]", "task=tickets", *TINY], tmp_path / "run"
    )
    metrics = train(cfg)
    assert {"test/acc", "test/macro_f1", "test/f1_billing", "test/f1_bug", "test/f1_feature"} <= set(metrics)
    splits = json.loads((tmp_path / "run" / "splits.json").read_text())
    # val_size auto on a user file of 24: at most a fifth validates
    assert [len(splits[name]) for name in ("train", "validation", "test")] == [20, 4, 12]
