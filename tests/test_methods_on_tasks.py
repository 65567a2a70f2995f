"""The methods on tasks other than PubMedQA, on the bundled samples, with our OpenAI-compatible test server as
the teacher (it answers from each request's JSON schema, see servers/schema_answers.py)."""

from __future__ import annotations

import json
from pathlib import Path

from servers.augment_setup import compose_augment_config, fault_teacher_overrides
from servers.fault_server import FaultServer
from servers.schema_answers import schema_answer

from taskexpert.augment.pipeline import augment
from taskexpert.records import read_jsonl
from taskexpert.tasks import load_task


def test_rewrite_on_sst2_writes_records_train_reads(tmp_path):
    run_dir = tmp_path / "rewrite"
    with FaultServer(answer=schema_answer) as server:
        cfg = compose_augment_config(
            [
                "task=sst2",
                "method=rewrite",
                "method.max_seeds=5",
                *fault_teacher_overrides(server.base_url, tmp_path),
            ],
            run_dir,
        )
        stats = augment(cfg)
        schemas = [entry["body"]["response_format"]["json_schema"]["schema"] for entry in server.requests]
    assert stats["kept"] == 5, stats
    assert all(list(schema["properties"]) == ["sentence"] for schema in schemas)  # the task's main field
    records = read_jsonl(run_dir / "augmented.jsonl")
    task = load_task("sst2")
    for record in records:
        assert list(record.inputs) == ["sentence"] and record.inputs["sentence"].startswith(
            "Invented sentence"
        )
        assert record.target in task.labels and record.source == "rewrite"
    from taskexpert.data.loading import load_splits

    train_cfg = compose_augment_config(["task=sst2", f"data.extra_train=[{run_dir / 'augmented.jsonl'}]"])
    splits = load_splits(train_cfg.data, task)
    assert {r.id for r in records} <= {r.id for r in splits.train}


def test_new_on_trec_asks_for_the_seed_label_among_the_task_labels(tmp_path):
    run_dir = tmp_path / "new"
    with FaultServer(answer=schema_answer) as server:
        cfg = compose_augment_config(
            [
                "task=trec",
                "method=new",
                "method.max_seeds=4",
                *fault_teacher_overrides(server.base_url, tmp_path),
            ],
            run_dir,
        )
        augment(cfg)
        schema = server.requests[0]["body"]["response_format"]["json_schema"]["schema"]
        users = server.user_messages()
        system = server.requests[0]["body"]["messages"][0]["content"]
    task = load_task("trec")
    assert list(schema["properties"]) == ["question", "label"]
    assert schema["properties"]["label"]["enum"] == list(task.labels)
    assert "open-domain questions" in system and "{{" not in users[0]
    records = read_jsonl(run_dir / "augmented.jsonl")
    rows = [json.loads(line) for line in (run_dir / "augmented.jsonl").read_text().splitlines()]
    assert len(records) == 4
    assert all(row["target"] == row["meta"]["requested_label"] for row in rows)


def llm2llm_overrides(task: str, server: FaultServer, tmp_path: Path) -> list[str]:
    return [
        f"task={task}",
        "method=llm2llm",
        "method.iterations=2",
        "model=tiny_llama",
        "trainer=fast",
        "trainer.max_steps=1",
        "logger=csv",
        "checkpoint.enabled=false",
        "data.train_limit=6",
        "data.test_limit=2",
        *fault_teacher_overrides(server.base_url, tmp_path),
    ]


def run_llm2llm_on(task_name: str, tmp_path: Path, *extra: str) -> tuple[dict, list, Path]:
    from taskexpert.augment.llm2llm import run_llm2llm

    run_dir = tmp_path / task_name
    with FaultServer(answer=schema_answer) as server:
        cfg = compose_augment_config([*llm2llm_overrides(task_name, server, tmp_path), *extra], run_dir)
        stats = run_llm2llm(cfg)
        bodies = [entry["body"] for entry in server.requests]
    return stats, bodies, run_dir


def wrong_ids(run_dir: Path, iteration: int, task_name: str) -> set[str]:
    task = load_task(task_name)
    rows = [
        json.loads(line)
        for line in (run_dir / f"iter_{iteration}" / "predictions.jsonl").read_text().splitlines()
    ]
    return {
        row["id"]
        for row in rows
        if row["split"] == "train" and not task.is_correct(str(row["pred"]), [row["gold"]])
    }


def test_llm2llm_on_gsm8k_asks_an_educational_assistant_for_worked_solutions(tmp_path):
    stats, bodies, run_dir = run_llm2llm_on("gsm8k", tmp_path, "task.generate.max_new_tokens=8")
    history = json.loads((run_dir / "llm2llm_history.json").read_text())
    entries = history["iterations"] if isinstance(history, dict) else history
    assert len(entries) == 2 and "test/exact_match" in entries[0]
    wrong_1 = wrong_ids(run_dir, 1, "gsm8k")
    assert wrong_1 and entries[0]["wrong"] == len(wrong_1)  # a random tiny model gets the seeds wrong
    assert "educational assistant" in bodies[0]["messages"][0]["content"]
    assert list(bodies[0]["response_format"]["json_schema"]["schema"]["properties"]) == [
        "question",
        "solution",
    ]
    added = read_jsonl(run_dir / "augmented.jsonl")
    assert added and all(r.reference.rstrip().split("#### ")[-1] == r.target for r in added)
    assert {r.parent_id for r in added} <= wrong_1 | wrong_ids(run_dir, 2, "gsm8k")


def test_llm2llm_on_trec_writes_new_inputs_of_the_wrong_class(tmp_path):
    stats, bodies, run_dir = run_llm2llm_on("trec", tmp_path)
    task = load_task("trec")
    added = read_jsonl(run_dir / "augmented.jsonl")
    assert added and all(r.target in task.labels for r in added)
    rows = [json.loads(line) for line in (run_dir / "augmented.jsonl").read_text().splitlines()]
    assert all(row["target"] == row["meta"]["requested_label"] for row in rows)
    schema = bodies[0]["response_format"]["json_schema"]["schema"]
    assert list(schema["properties"]) == ["question", "label"] and schema["properties"]["label"][
        "enum"
    ] == list(task.labels)


def test_rebase_on_trec_writes_labelled_questions_with_rationales_train_reads(tmp_path):
    """ReBase over the bundled corpus (bm25, no model download) with the TREC sample's seeds."""
    from taskexpert.data.loading import load_splits

    run_dir = tmp_path / "rebase"
    with FaultServer(answer=schema_answer) as server:
        cfg = compose_augment_config(
            [
                "task=trec",
                "method=rebase",
                "retrieval=bm25",
                f"retrieval.index_dir={tmp_path / 'indexes'}",
                "retrieval.select.k=4",
                "retrieval.select.per_query_k=8",
                *fault_teacher_overrides(server.base_url, tmp_path),
            ],
            run_dir,
        )
        stats = augment(cfg)
        schema = server.requests[0]["body"]["response_format"]["json_schema"]["schema"]
        system, user = (m["content"] for m in server.requests[0]["body"]["messages"][:2])
    task = load_task("trec")
    assert list(schema["properties"]) == ["question", "rationale", "label"]  # no passage field: all inputs
    assert schema["properties"]["label"]["enum"] == list(task.labels)
    assert "open-domain questions" in system and "{{" not in user and "ABBR, DESC" in user
    assert stats["retrieval"]["instruction"] == task.instruction  # the task's, not PubMedQA's
    records = read_jsonl(run_dir / "augmented.jsonl")
    assert len(records) == stats["kept"] == 4
    assert sum(stats["kept_by_label"].values()) == 4  # a classification task counts its labels
    for record in records:
        assert list(record.inputs) == ["question"] and record.inputs["question"].startswith("Invented")
        assert record.target in task.labels and record.rationale.startswith("Invented rationale")
        assert record.source == "rebase" and record.meta["corpus"] == "sample"
    train_cfg = compose_augment_config(["task=trec", f"data.extra_train=[{run_dir / 'augmented.jsonl'}]"])
    splits = load_splits(train_cfg.data, task)
    assert {r.id for r in records} <= {r.id for r in splits.train}


def test_sst2_leak_check_compares_the_sentence_by_default(tmp_path):
    """data.leak_check.fields is null for SST-2: train.py refuses an augmented sentence that copies a test
    sentence, and augment.py's contamination guard drops it; a fresh sentence passes both."""
    import pytest

    from taskexpert.augment.contamination import guard_from_config
    from taskexpert.data.loading import load_splits
    from taskexpert.errors import DataError
    from taskexpert.records import Record, write_jsonl

    task = load_task("sst2")
    base = compose_augment_config(["task=sst2"])
    assert base.data.leak_check.fields is None
    splits = load_splits(base.data, task)
    copied = splits.test[0].inputs["sentence"]
    parent = splits.train[0]
    leaked = Record(
        id="leak-rewrite-0", inputs={"sentence": copied}, target=parent.target, source="rewrite",
        parent_id=parent.id,
    )  # fmt: skip
    fresh = Record(
        id="fresh-rewrite-0", inputs={"sentence": "Invented wording that no evaluation sentence has at all."},
        target=parent.target, source="rewrite", parent_id=parent.id,
    )  # fmt: skip
    kept, dropped = guard_from_config(base.data.leak_check, splits.validation + splits.test).apply(
        [leaked, fresh]
    )
    assert [r.id for r in kept] == ["fresh-rewrite-0"] and [d.record.id for d in dropped] == [
        "leak-rewrite-0"
    ]
    path = tmp_path / "augmented.jsonl"
    write_jsonl([leaked, fresh], path)
    cfg = compose_augment_config(["task=sst2", f"data.extra_train=[{path}]"])
    with pytest.raises(DataError, match=r"leak-rewrite-0.*sentence.*overlaps the evaluation"):
        load_splits(cfg.data, task)
    write_jsonl([fresh], path)
    assert "fresh-rewrite-0" in {r.id for r in load_splits(cfg.data, task).train}
