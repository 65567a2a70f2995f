"""train.py's check of `data.extra_train`: evaluation items may not reach training by id, parent, the teacher's
examples or text, and a file guarded against another split is refused. Runs on the bundled sample's split.
"""

from __future__ import annotations

import json
import logging

import pytest
from data_fixtures import data_config, qa_record
from servers.augment_setup import (
    compose_augment_config,
    data_overrides,
    fault_teacher_overrides,
    quiet_overrides,
    write_seed_file,
)
from servers.fault_server import FaultServer, deterministic_answer

from taskexpert.augment.pipeline import augment
from taskexpert.data.loading import load_splits
from taskexpert.data.split_meta import meta_path, read_split_meta, split_fingerprint, write_split_meta
from taskexpert.errors import DataError
from taskexpert.records import read_jsonl, write_jsonl
from taskexpert.tasks.task import build_task

FRESH_CONTEXT = (
    "Office staff at three insurance firms were offered height-adjustable desks for one year. Posture, "
    "self-reported back pain and minutes spent standing were logged by a wrist sensor and a weekly diary. "
    "Managers agreed not to change workloads during the trial, and a physiotherapist visited each site twice."
)
SPLITS = load_splits(data_config())  # the sample: 36 train, 8 validation, 16 test
TRAIN, VALIDATION, TEST = SPLITS.train, SPLITS.validation, SPLITS.test


def clean(record_id: str = "r1", **fields) -> qa_record:
    """A rewrite of a training item that shares no text with the evaluation items."""
    values = {
        "id": record_id,
        "question": "Do height-adjustable desks reduce lower back pain in office staff?",
        "context": FRESH_CONTEXT,
        "long_answer": "Standing desks reduced lower back pain a little.",
        "label": "yes",
        "source": "rewrite",
        "parent_id": TRAIN[0].id,
    }
    return qa_record(**{**values, **fields})


def load_with(extra, **leak_check):
    overrides = {"extra_train": [str(extra)]}
    if leak_check:
        overrides["leak_check"] = leak_check
    return load_splits(data_config(**overrides))


def refused(extra, *parts, **leak_check) -> str:
    with pytest.raises(DataError) as caught:
        load_with(extra, **leak_check)
    message = str(caught.value)
    for part in (extra, *parts):
        assert str(part) in message, f"{part!r} not in {message!r}"
    assert "\n" not in message
    return message


def test_a_copied_test_question_with_a_fresh_context_is_refused(tmp_path):
    extra = write_jsonl(
        [clean("r0"), clean("r1", question=TEST[3].inputs["question"])], tmp_path / "extra.jsonl"
    )
    message = refused(extra, "record r1", "field 'question'", f"evaluation item {TEST[3].id}'s question")
    assert "regenerate the file with augment.py on this data config" in message


def test_a_rebase_record_whose_passage_parent_copies_a_test_question_is_refused(tmp_path):
    record = clean(
        "corpus:17:text:0-rebase-0",
        question=TEST[5].inputs["question"],
        source="rebase",
        parent_id="corpus:17:text:0",  # a passage, never an evaluation id: only the text gives it away
        rationale="The passage reports a trial.",
        meta={"corpus": "corpus", "row": 17, "example_ids": [TRAIN[1].id]},
    )
    extra = write_jsonl([record], tmp_path / "augmented.jsonl")
    refused(extra, "record corpus:17:text:0-rebase-0", "field 'question'", TEST[5].id)


def test_a_new_record_written_with_test_items_as_examples_is_refused(tmp_path):
    shown = {"example_ids": [TRAIN[2].id, TEST[0].id], "requested_label": "yes"}
    extra = write_jsonl([clean("n1", source="new", meta=shown)], tmp_path / "extra.jsonl")
    refused(extra, "record n1", "field 'meta.example_ids'", f"item {TEST[0].id} shown to the teacher")


def test_text_is_compared_field_by_field_in_both_directions(tmp_path):
    quoting = clean(
        "q1", context=f"{FRESH_CONTEXT} {VALIDATION[1].reference}"
    )  # contains an evaluation field
    extra = write_jsonl([quoting], tmp_path / "quoting.jsonl")
    refused(extra, "record q1", "field 'context'", f"{VALIDATION[1].id}'s long_answer")
    excerpt = " ".join(
        TEST[2].inputs["context"].split()[20:60]
    )  # mostly evaluation text, a third of its context
    extra = write_jsonl([clean("e1", context=excerpt)], tmp_path / "excerpt.jsonl")
    refused(extra, "record e1", "field 'context'", "of its 8-grams in evaluation text", TEST[2].id)


def test_an_old_file_without_a_fingerprint_is_checked_and_used_with_a_warning(tmp_path, caplog):
    extra = write_jsonl(
        [clean("r1"), clean("r2", question="Is tea safe for night workers?")], tmp_path / "old.jsonl"
    )
    with caplog.at_level(logging.WARNING, logger="taskexpert.data.checks"):
        splits = load_with(extra)
    assert [record.id for record in splits.train[-2:]] == ["r1", "r2"]
    assert f"{extra} has no old.meta.json" in caplog.text
    leaking = write_jsonl([clean("r3", context=TEST[1].inputs["context"])], tmp_path / "old_leaking.jsonl")
    refused(leaking, "record r3", "field 'context'", f"{TEST[1].id}'s context")


def test_a_file_guarded_against_this_split_is_used_without_a_warning(tmp_path, caplog):
    extra = write_jsonl([clean("r1")], tmp_path / "augmented.jsonl")
    write_split_meta(extra, VALIDATION + TEST, None, "rewrite", 1)
    assert meta_path(extra) == tmp_path / "augmented.meta.json"
    assert read_split_meta(extra)["split_fingerprint"] == split_fingerprint(TEST + VALIDATION)  # order-free
    with caplog.at_level(logging.WARNING, logger="taskexpert.data.checks"):
        assert load_with(extra).train[-1].id == "r1"
    assert caplog.text == ""


def test_a_file_guarded_against_another_split_is_refused_unless_allowed(tmp_path, caplog):
    extra = write_jsonl([clean("r1")], tmp_path / "augmented.jsonl")
    other = load_splits(data_config(split={"train_size": 30, "val_size": 10, "test_size": 20}))
    write_split_meta(extra, other.validation + other.test, None, "rewrite", 1)
    message = refused(
        extra, "augmented.meta.json", "field 'split_fingerprint'", "another split (30 evaluation"
    )
    assert "data.leak_check.allow_other_split=true" in message
    with caplog.at_level(logging.WARNING, logger="taskexpert.data.checks"):
        assert load_with(extra, allow_other_split=True).train[-1].id == "r1"
    assert "guarded against another split" in caplog.text
    # allowed, its records are still checked: one derived from an item of this split's test set is refused
    derived = write_jsonl([clean("r2", parent_id=TEST[0].id)], tmp_path / "derived.jsonl")
    write_split_meta(derived, other.validation + other.test, None, "rewrite", 1)
    refused(derived, "record r2", "field 'parent_id'", allow_other_split=True)


def test_a_broken_meta_file_names_itself(tmp_path):
    extra = write_jsonl([clean("r1")], tmp_path / "augmented.jsonl")
    meta_path(extra).write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="augmented.meta.json: is not valid JSON"):
        load_with(extra)
    meta_path(extra).write_text('{"records": 1}', encoding="utf-8")
    with pytest.raises(DataError, match="field 'split_fingerprint' is missing"):
        load_with(extra)


def test_augment_writes_the_fingerprint_and_train_refuses_the_file_under_another_split(tmp_path):
    """End to end over HTTP: a teacher that echoes a test question is caught by the guard; the file is
    accepted by train.py's loading on its own split and refused on another."""
    seeds = write_seed_file(tmp_path, 12)
    test_question = read_jsonl(seeds)[11].inputs["question"]  # s11: the test item of the 10/1/1 split

    def answer(body):
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        return json.dumps({"question": test_question}) if "Zorvane" in user else deterministic_answer(body)

    own_split = data_overrides(seeds, train=10, val=1, test=1)
    with FaultServer(answer=answer) as server:
        teacher = [
            "teacher=openai",
            f"teacher.base_url={server.base_url}",
            "teacher.model=fault-model",
            "teacher.api_key_env=null",
        ]
        cfg = compose_augment_config(
            [*teacher, *own_split, *quiet_overrides(tmp_path / "cache.sqlite")], tmp_path / "run"
        )
        stats = augment(cfg)
    augmented = tmp_path / "run" / "augmented.jsonl"
    assert stats["rejected"].get("contamination") == 1 and stats["kept"] == 9
    meta = read_split_meta(augmented)
    assert meta["evaluation_items"] == 2 and meta["records"] == 9 and meta["method"] == "rewrite"
    assert meta["contamination_guard"]["fields"] == [
        "question",
        "context",
        "long_answer",
        "rationale",
        "target",
    ]
    assert meta["seed_items"] == 10 and meta["seed_draw"]["train_fraction"] is None

    def load(split, **leak_check):
        train_cfg = compose_augment_config([*split, f"data.extra_train=[{augmented}]"], tmp_path / "train")
        for key, value in leak_check.items():
            train_cfg.data.leak_check[key] = value
        return load_splits(train_cfg.data)

    assert len(load(own_split).train) == 10 + 9
    other_split = data_overrides(seeds, train=8, val=2, test=2)  # s08, s09 move from train to validation
    with pytest.raises(DataError, match="guarded against another split"):
        load(other_split)
    with pytest.raises(DataError, match=r"field 'parent_id' derives from evaluation .* item s0[89]"):
        load(other_split, allow_other_split=True)


def test_a_rationale_copying_a_test_context_is_refused(tmp_path):
    copied = clean("r1", rationale=f"The study says: {TEST[4].inputs['context']}")
    extra = write_jsonl([clean("r0"), copied], tmp_path / "extra.jsonl")
    refused(extra, "record r1", "field 'rationale'", f"evaluation item {TEST[4].id}'s context")


def test_a_low_data_run_refuses_a_file_grown_from_the_full_training_split(tmp_path):
    """End to end over HTTP: augment from all 12 training items, then train on a 25% draw (3 seeds): the records
    made from the 9 left-out items would hand the student the data the run leaves out. Augmenting with the
    same draw gives a file the run accepts."""
    seeds = write_seed_file(tmp_path, 16)
    split = data_overrides(seeds, train=12, val=2, test=2)
    low_data = [*split, "data.train_fraction=0.25"]

    def augment_run(name: str, data: list[str]):
        with FaultServer() as server:
            overrides = [*fault_teacher_overrides(server.base_url, tmp_path), *data]
            augment(compose_augment_config(overrides, tmp_path / name))
        return tmp_path / name / "augmented.jsonl"

    def load(
        extra, data=low_data, **leak_check
    ):  # as train.py loads its data: with the task (stratified draw)
        cfg = compose_augment_config([*data, f"data.extra_train=[{extra}]"], tmp_path / "train")
        for key, value in leak_check.items():
            cfg.data.leak_check[key] = value
        return load_splits(cfg.data, build_task(cfg.task))

    full_file = augment_run("full", split)
    full_records = read_jsonl(full_file)
    assert len(full_records) == 12 and read_split_meta(full_file)["seed_items"] == 12
    assert len(load(full_file, split).train) == 12 + 12  # the whole split: nothing is left out
    low_cfg = compose_augment_config(low_data)
    seed_ids = {record.id for record in load_splits(low_cfg.data, build_task(low_cfg.task)).train}
    outside = sum(record.parent_id not in seed_ids for record in full_records)
    assert len(seed_ids) == 3 and outside == 9
    with pytest.raises(DataError) as caught:
        load(full_file)
    message = str(caught.value)
    assert message.startswith(f"{full_file} (augmented.meta.json): field 'parent_id' 9 of 12 records")
    assert "outside this run's seed set (3 items, data.train_fraction=0.25" in message
    assert "the file was made from 12 seed items" in message
    assert "data.leak_check.allow_other_seed_set=true" in message and "\n" not in message
    assert len(load(full_file, allow_other_seed_set=True).train) == 3 + 12

    low_file = augment_run("low", low_data)
    low_meta, full_meta = read_split_meta(low_file), read_split_meta(full_file)
    assert low_meta["seed_items"] == 3 and low_meta["seed_draw"]["train_fraction"] == 0.25
    assert low_meta["seed_fingerprint"] != full_meta["seed_fingerprint"]
    assert low_meta["split_fingerprint"] == full_meta["split_fingerprint"]  # the same evaluation items
    splits = load(low_file)
    assert len(splits.train) == 3 + 3 and {r.parent_id for r in splits.train[3:]} == seed_ids


def test_records_that_are_or_were_shown_left_out_training_items_are_refused(tmp_path):
    """Without a sidecar too: a left-out training item itself, or one shown to the teacher as an example."""
    low = {"train_limit": 6}
    seed_ids = {record.id for record in load_splits(data_config(**low)).train}
    left_out = next(record for record in TRAIN if record.id not in seed_ids)
    itself = write_jsonl([left_out], tmp_path / "copy.jsonl")
    with pytest.raises(DataError, match=rf"1 of 1 records .* record {left_out.id}: item {left_out.id}"):
        load_splits(data_config(extra_train=[str(itself)], **low))
    shown = clean(
        "n1", parent_id=None, source="new", meta={"example_ids": [sorted(seed_ids)[0], left_out.id]}
    )
    extra = write_jsonl([shown], tmp_path / "shown.jsonl")
    with pytest.raises(DataError, match=rf"data.train_limit=6; record n1: item {left_out.id}"):
        load_splits(data_config(extra_train=[str(extra)], **low))
    assert load_splits(data_config(extra_train=[str(extra)])).train[-1].id == "n1"  # the whole split: fine
