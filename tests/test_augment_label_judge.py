"""Label consistency: a teacher judge (through our server and the cache) and a trained student judge."""

from __future__ import annotations

import json

import pytest
from conftest import FAST, compose_config
from omegaconf import OmegaConf
from servers.augment_setup import compose_augment_config, data_overrides, quiet_overrides, write_seed_file
from servers.fault_server import FaultServer, deterministic_answer

from taskexpert.augment.label_judge import LabelConsistencyFilter, StudentJudge, label_from_answer
from taskexpert.augment.pipeline import augment
from taskexpert.data.loading import load_splits
from taskexpert.training.pipeline import train

JUDGE_PROMPT_MARK = "answer the question with one word"


def judging_answer(body):
    """Generation prompts get a record labelled yes; the judge says no about Zorvane and Kelmane, else yes."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    if JUDGE_PROMPT_MARK not in user:
        return deterministic_answer(body)
    return json.dumps({"label": "no" if ("Zorvane" in user or "Kelmane" in user) else "yes"})


def test_label_from_answer():
    labels = ("yes", "no", "maybe")
    assert label_from_answer('{"label": "No."}', labels) == "no"
    assert label_from_answer("I think maybe, given the data.", labels) == "maybe"
    assert (
        label_from_answer('{"label": "unsure"}', labels) is None and label_from_answer(None, labels) is None
    )
    assert label_from_answer("Surely HUM, a person.", ("LOC", "HUM")) == "HUM"  # any task's labels


def test_teacher_judge_drops_records_it_disagrees_with(tmp_path):
    seeds = write_seed_file(tmp_path, 12)
    with FaultServer(answer=judging_answer) as server:
        overrides = [
            "teacher=openai",
            f"teacher.base_url={server.base_url}",
            "teacher.model=judge-model",
            "teacher.api_key_env=null",
            "method=new",
            "method.new.examples_per_prompt=1",
            "filters.label_consistency.enabled=true",
            *data_overrides(seeds),
            *quiet_overrides(tmp_path / "cache.sqlite"),
        ]
        stats = augment(compose_augment_config(overrides, tmp_path / "run"))
        judge_calls = [e["body"] for e in server.requests if JUDGE_PROMPT_MARK in json.dumps(e["body"])]
    assert stats["rejected"] == {"label_disagreement": 2} and stats["kept"] == 6
    assert len(judge_calls) == 8 and all(body["temperature"] == 0.0 for body in judge_calls)
    assert all("frequency_penalty" not in body for body in judge_calls)  # the judge decodes without penalty


CALIBRATED = [
    "eval.calibration=bias",
    "eval.calibration_guard.min_examples=1",  # the sample's 8 validation items are under the default guard
    "eval.calibration_guard.min_per_class=0",
    "trainer.max_steps=2",
]


@pytest.mark.parametrize("calibrated", [False, True], ids=["argmax", "calibrated"])
def test_student_judge_agrees_with_the_students_own_predictions(calibrated, tmp_path):
    """The judge decides as the run's own evaluation did, with the offsets saved beside the adapter."""
    run_dir = tmp_path / "student"
    overrides = ["model=tiny_llama", *FAST, "trainer.max_steps=1", "trainer.limit_test_batches=null"]
    train_cfg = compose_config(overrides + (CALIBRATED if calibrated else []), run_dir)
    train(train_cfg)
    (run_dir / ".hydra").mkdir()  # what Hydra writes for a command-line run
    job_config = OmegaConf.masked_copy(train_cfg, [key for key in train_cfg if key != "hydra"])
    OmegaConf.save(job_config, run_dir / ".hydra" / "config.yaml")

    test_records = load_splits(train_cfg.data).test
    judge = StudentJudge(run_dir)
    predicted = judge.predict(test_records)
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    from_training = {row["id"]: row["pred"] for row in rows if row["split"] == "test"}
    assert predicted == [from_training[record.id] for record in test_records]
    if calibrated:  # the offsets changed some decision, so agreeing with the run means applying them
        assert any(row["pred"] != row["pred_uncalibrated"] for row in rows if row["split"] == "test")

    kept, dropped = LabelConsistencyFilter(judge).apply(test_records)
    assert [r.id for r in kept] == [
        r.id for r, p in zip(test_records, predicted, strict=True) if p == r.target
    ]
    assert all(item.reason == "label_disagreement" for item in dropped)
