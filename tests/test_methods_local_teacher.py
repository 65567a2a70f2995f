"""Every method on every kind of task (answer: GSM8K and BBH; classification: TREC; span: SQuAD), with the tiny
local teacher decoding under its grammar (`teacher.structured=schema`). The tiny model writes noise, so these
tests assert what the pipeline guarantees whatever a teacher writes: a kept record is a valid record of its
task, every other answer is counted under its reason, the counts add up, and the outputs are written."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import CONF_DIR
from omegaconf import OmegaConf
from servers.augment_setup import compose_augment_config, quiet_overrides

from taskexpert.augment.pipeline import augment
from taskexpert.records import Record, read_jsonl
from taskexpert.tasks import load_task
from taskexpert.tasks.kinds.answer import normalise_answer, read_answer

TINY_TEACHER = [
    "teacher.source=tiny",
    "teacher.tiny_architecture=llama",
    "teacher.model=tiny-llama",
    "teacher.batch_size=4",
    "teacher.structured=schema",  # the grammar, or the run stops
]
# Short fields: bounded by the grammar, a noise answer closes its JSON within the token budget and reaches
# the record checks (unbounded, nearly every answer would be cut at the budget: invalid JSON).
FIELD_LENGTHS = {
    "question": [5, 40],
    "context": [20, 120],
    "rationale": [5, 40],
    "answer": [1, 12],
    "solution": [5, 60],
    "input": [5, 60],
}
MAX_NEW_TOKENS = 128
SEEDS = 3

METHODS = ("rewrite", "new", "combined", "rebase", "llm2llm")
PAIRS = [
    *[(method, task) for task in ("gsm8k", "bbh") for method in METHODS],
    *[(method, "trec") for method in METHODS],  # classification
    *[(method, "squad") for method in METHODS],  # span
]
SOURCES = {"combined": {"rewrite", "new"}}  # records' `source`: the method's name, or its parts


def method_overrides(method: str, tmp_path: Path) -> list[str]:
    if method == "rebase":  # bm25 over the bundled corpus: no model download
        return [
            "method.max_seeds=3",
            "retrieval=bm25",
            f"retrieval.index_dir={tmp_path / 'indexes'}",
            f"retrieval.select.k={SEEDS}",
            "retrieval.select.per_query_k=8",
            f"method.max_new_tokens={MAX_NEW_TOKENS}",
        ]
    if method == "llm2llm":  # one round: a one-step student, then the teacher on what it got wrong
        return [
            "method.iterations=1",
            "model=tiny_llama",
            "trainer=fast",
            "trainer.max_steps=1",
            "logger=csv",
            "checkpoint.enabled=false",
            f"data.train_limit={SEEDS}",
            "data.test_limit=2",
            "task.generate.max_new_tokens=4",
            f"method.max_new_tokens={MAX_NEW_TOKENS}",
        ]
    steps = ("rewrite", "new") if method == "combined" else (method,)
    return [
        f"method.max_seeds={SEEDS}",
        *(f"method.{step}.max_new_tokens={MAX_NEW_TOKENS}" for step in steps),
    ]


def run(method: str, task_name: str, tmp_path: Path) -> tuple[dict, Path]:
    task_fields = OmegaConf.load(CONF_DIR / "task" / f"{task_name}.yaml").task.field_lengths
    lengths = [
        f"task.field_lengths.{name}=[{low},{high}]"
        for name, (low, high) in FIELD_LENGTHS.items()
        if name in task_fields
    ]
    overrides = [
        f"task={task_name}",
        f"method={method}",
        *method_overrides(method, tmp_path),
        *TINY_TEACHER,
        *lengths,
        *quiet_overrides(tmp_path / "cache.sqlite"),
    ]
    run_dir = tmp_path / "run"
    cfg = compose_augment_config(overrides, run_dir)
    if method == "llm2llm":
        from taskexpert.augment.llm2llm import run_llm2llm

        run_llm2llm(cfg)
    else:
        augment(cfg)
    return json.loads((run_dir / "augment_stats.json").read_text()), run_dir


def assert_a_record_of(task, record: Record, method: str) -> None:
    """What every kept record is, whatever the teacher wrote: the task's fields, a target its kind reads."""
    task.validate(record, f"augmented record {record.id}")  # inputs present and non-empty, target accepted
    assert list(record.inputs) == list(task.input_fields), record
    assert record.source in SOURCES.get(method, {method}), record
    assert record.teacher == "tiny-llama"
    kind = task.kind.name
    if kind == "classification":
        assert record.target in task.labels, record
    elif kind == "answer" and task.reference_field:  # GSM8K: the solution's `#### N` is the target
        assert read_answer(task, record.reference) == record.target, record
    elif kind == "answer":  # BBH: the target, as the task's answer template writes it, reads back as itself
        written = task.prompt.decision.format(answer=record.target)
        assert read_answer(task, written) == normalise_answer(record.target), record
    else:  # a span: the context's own text at answer_start
        start = record.meta["answer_start"]
        assert record.inputs["context"][start : start + len(record.target)] == record.target, record


@pytest.mark.parametrize(("method", "task_name"), PAIRS, ids=[f"{m}-{t}" for m, t in PAIRS])
def test_a_method_on_a_task_keeps_only_valid_records_and_counts_the_rest(tmp_path, method, task_name):
    stats, run_dir = run(method, task_name, tmp_path)
    task = load_task(task_name)
    records = read_jsonl(run_dir / "augmented.jsonl")
    rejected = [json.loads(line) for line in (run_dir / "augment_rejected.jsonl").read_text().splitlines()]

    assert stats["requested"] >= 1 and stats["failed"] == 0
    assert stats["kept"] == len(records)
    assert stats["kept"] + sum(stats["rejected"].values()) == stats["requested"]  # every answer accounted for
    assert Counter(row["reason"] for row in rejected) == Counter(stats["rejected"])  # each under its reason
    assert all(row["text"] is not None for row in rejected)  # the answer that was not kept, for inspection
    ids = [record.id for record in records] + [row["id"] for row in rejected]
    assert len(set(ids)) == len(ids) == stats["requested"]  # each request once: kept or rejected
    for record in records:
        assert_a_record_of(task, record, method)
    if task.labels:
        assert sum(stats["kept_by_label"].values()) == stats["kept"]
    else:  # an answer or span target is its own text, not a label
        assert "kept_by_label" not in stats
    assert stats["teacher"] == {"model": "tiny-llama", "backend": "transformers"}
    if method != "llm2llm":  # (LLM2LLM's totals sum its rounds and leave these out)
        # the grammar decoded every answer; one breaks its schema only when cut at the token budget
        assert stats["constrained"] == stats["requested"] and stats["unconstrained"] == 0
        assert set(stats["schema_violations"]) <= {"not_json"}
        assert stats["schema_violations"].get("not_json", 0) == stats["rejected"].get("invalid_json", 0)
