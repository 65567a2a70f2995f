"""Label consistency: a teacher judge (through our server and the cache) and a trained student judge."""

from __future__ import annotations

import json

import pytest
from conftest import FAST, compose_config
from omegaconf import OmegaConf
from servers.augment_setup import (
    compose_augment_config,
    data_overrides,
    fault_teacher_overrides,
    quiet_overrides,
    write_seed_file,
)
from servers.fault_server import FaultServer, deterministic_answer
from servers.schema_answers import schema_answer

from taskexpert.augment.label_judge import (
    LabelConsistencyFilter,
    StudentJudge,
    TeacherJudge,
    label_from_answer,
)
from taskexpert.augment.pipeline import augment
from taskexpert.augment.prompts import PromptTemplate
from taskexpert.data.loading import load_splits
from taskexpert.records import Record, read_jsonl
from taskexpert.tasks.task import load_task
from taskexpert.teachers import build_teacher
from taskexpert.training.pipeline import train

JUDGE_PROMPT_MARK = "give it the one label that fits it"


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


def judged_record(body) -> dict:
    """The record a judge prompt shows: the JSON object on the line after `Record:`."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    return json.loads(user.split("Record:\n", 1)[1].split("\n", 1)[0])


def digest_label(record: dict, labels) -> str:
    """A judge's verdict that depends on the record's text only: the same record, the same label."""
    return labels[sum(map(ord, json.dumps(record, ensure_ascii=False))) % len(labels)]


def test_the_judge_labels_sst2_rewrites_from_the_sentence_and_the_tasks_labels(tmp_path):
    """`augment.py task=sst2 method=rewrite filters.label_consistency.enabled=true` on our server: the judge
    sees each rewritten sentence (never its label) and SST-2's labels; records it labels otherwise are
    dropped, every kept one carries the judge's label."""
    labels = ("negative", "positive")

    def answer(body):
        if JUDGE_PROMPT_MARK in json.dumps(body):
            return json.dumps({"label": digest_label(judged_record(body), labels)})
        return schema_answer(body)

    overrides = [
        "task=sst2",
        "method=rewrite",
        "filters.label_consistency.enabled=true",
        "method.max_seeds=12",
    ]
    with FaultServer(answer=answer) as server:
        cfg = compose_augment_config(
            [*overrides, *fault_teacher_overrides(server.base_url, tmp_path)], tmp_path / "run"
        )
        stats = augment(cfg)
        judge_bodies = [e["body"] for e in server.requests if JUDGE_PROMPT_MARK in json.dumps(e["body"])]
    kept = read_jsonl(tmp_path / "run" / "augmented.jsonl")
    assert len(judge_bodies) == stats["parsed"] - sum(
        count for reason, count in stats["rejected"].items() if reason.startswith(("duplicate", "contamin"))
    )
    user = next(m["content"] for m in judge_bodies[0]["messages"] if m["role"] == "user")
    assert "negative, positive" in user and '{"label": "negative"} or {"label": "positive"}' in user
    assert set(judged_record(judge_bodies[0])) == {"sentence"} and "{{" not in user
    schema = judge_bodies[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["label"]["enum"] == list(labels)
    assert stats["rejected"]["label_disagreement"] >= 1 and kept
    assert all(digest_label({"sentence": r.inputs["sentence"]}, labels) == r.target for r in kept)


def test_the_sst2_command_runs_with_the_tiny_local_teacher_judging(tmp_path):
    """The same command with the local tiny teacher: its judge answers are decoded under SST-2's label enum,
    so every record gets a verdict (none cut, none unanswered)."""
    overrides = [
        "task=sst2",
        "method=rewrite",
        "filters.label_consistency.enabled=true",
        "method.max_seeds=6",
        "teacher=hf",
        "teacher.source=tiny",
        "teacher.tiny_architecture=llama",
        "teacher.model=tiny-llama",
        "teacher.batch_size=3",
        *quiet_overrides(tmp_path / "cache.sqlite"),
    ]
    stats = augment(compose_augment_config(overrides, tmp_path / "run"))
    assert stats["parsed"] == 6 and stats["teacher_totals"]["requests"] == 12  # 6 rewrites, 6 verdicts
    assert stats["kept"] + stats["rejected"].get("label_disagreement", 0) == 6
    assert "judge_no_answer" not in stats["rejected"] and stats["teacher_totals"]["truncated"] == 0


TREC_QUESTIONS = {  # invented questions and the coarse class a judge should give each
    "What does NATO stand for?": "ABBR",
    "Why is the sky blue at noon?": "DESC",
    "What instrument did Zorvane play?": "ENTY",
    "Who painted the ceiling of the Kelmane chapel?": "HUM",
    "Where is the river Tribane?": "LOC",
    "How many moons does Polvane have?": "NUM",
}


def test_the_teacher_judge_decides_among_trecs_six_labels(tmp_path):
    """A TREC record has one input, `question`, and six labels: the judge prompt quotes both, its schema
    allows the six, and each answer becomes the record's verdict (here from our server, by keyword)."""
    task = load_task("trec")

    def answer(body):
        question = judged_record(body)["question"]
        return json.dumps({"label": TREC_QUESTIONS[question]})

    records = [
        Record(id=f"t{index}", inputs={"question": question}, target=gold)
        for index, (question, gold) in enumerate(TREC_QUESTIONS.items())
    ]
    records[0] = Record(id="t0", inputs=records[0].inputs, target="HUM")  # a record the judge disagrees with
    with FaultServer(answer=answer) as server:
        cfg = compose_augment_config(
            ["task=trec", *fault_teacher_overrides(server.base_url, tmp_path)], tmp_path / "run"
        )
        teacher = build_teacher(cfg.teacher, cfg.sampling, tmp_path / "cache.sqlite")
        judge = TeacherJudge(teacher, PromptTemplate.load("prompts/judge.txt"), task)
        kept, dropped = LabelConsistencyFilter(judge).apply(records)
        bodies = [entry["body"] for entry in server.requests]
    assert [r.id for r in kept] == ["t1", "t2", "t3", "t4", "t5"]
    assert [(d.record.id, d.reason, d.detail) for d in dropped] == [
        ("t0", "label_disagreement", "teacher:fault-model says ABBR, record says HUM")
    ]
    user = next(m["content"] for m in bodies[0]["messages"] if m["role"] == "user")
    assert (
        "ABBR, DESC, ENTY, HUM, LOC, NUM" in user
        and "open-domain questions" in bodies[0]["messages"][0]["content"]
    )
    assert bodies[0]["response_format"]["json_schema"]["schema"]["properties"]["label"]["enum"] == list(
        task.labels
    )


def test_the_judge_budget_holds_the_longest_label(tmp_path):
    """MNLI's `contradiction` does not fit in 8 tokens of UTF-8 bytes: the judge asks for what it needs."""
    cfg = compose_augment_config(
        ["task=mnli", "teacher=openai", "teacher.api_key_env=null"], tmp_path / "run"
    )
    teacher = build_teacher(cfg.teacher, cfg.sampling, tmp_path / "cache.sqlite")
    judge = TeacherJudge(
        teacher, PromptTemplate.load("prompts/judge.txt"), load_task("mnli"), max_new_tokens=8
    )
    assert judge.budget() == len('{"label": "contradiction"}') + 1  # its bytes and the end token


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
