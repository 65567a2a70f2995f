"""The record type: today's format round-trips, the format written before tasks were configurable still reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taskexpert.errors import DataError
from taskexpert.records import FIELD_NAMES, Record, read_jsonl, record_from_dict, write_jsonl

LEGACY_FILE = Path(__file__).parent / "fixtures" / "augmented_before_task_layer.jsonl"


def test_a_file_written_by_the_old_code_reads_into_todays_fields():
    rows = [json.loads(line) for line in LEGACY_FILE.read_text(encoding="utf-8").splitlines()]
    records = read_jsonl(LEGACY_FILE)
    assert [r.id for r in records] == [row["id"] for row in rows]
    for record, row in zip(records, rows, strict=True):
        assert record.inputs == {"question": row["question"], "context": row["context"]}
        assert record.target == row["label"]
        assert record.reference == row["long_answer"]
        assert (record.source, record.parent_id, record.rationale, record.teacher, record.meta) == (
            row["source"],
            row["parent_id"],
            row["rationale"],
            row["teacher"],
            row["meta"],
        )
    assert records[3].rationale.startswith("Patients mobilised early")


def test_old_records_written_again_use_todays_format_and_read_back_equal(tmp_path):
    records = read_jsonl(LEGACY_FILE)
    path = write_jsonl(records, tmp_path / "again.jsonl")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert all(list(row) == list(FIELD_NAMES) for row in rows)
    assert read_jsonl(path) == records


def test_todays_format_round_trips(tmp_path):
    records = [
        Record(id="a", inputs={"sentence": "a fine film"}, target="positive", source="sst2"),
        Record(
            id="b",
            inputs={"question": "Tom has 3 apples and buys 4. How many?"},
            target="7",
            reference="3 + 4 = 7\n#### 7",
            source="llm2llm",
            parent_id="a",
            teacher="t",
            meta={"iteration": 2},
        ),
    ]
    assert read_jsonl(write_jsonl(records, tmp_path / "r.jsonl")) == records


def test_text_of_inputs_and_gold_fields():
    record = Record(id="a", inputs={"question": "Q?", "context": "C."}, target="yes", reference="R.")
    assert [record.text(name) for name in ("question", "context", "target", "reference", "rationale")] == [
        "Q?",
        "C.",
        "yes",
        "R.",
        "",
    ]
    assert (record.text("label"), record.text("long_answer")) == ("yes", "R.")  # the old names
    with pytest.raises(KeyError, match="sentence"):
        record.text("sentence")


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"inputs": {"text": "x"}, "target": "a"}, "id"),
        ({"id": "1", "target": "a"}, "inputs"),
        ({"id": "1", "inputs": {"text": "x"}}, "target"),
        ({"id": "1", "inputs": {"text": 3}, "target": "a"}, "text"),
        ({"id": "1", "inputs": {}, "target": "a"}, "inputs"),
        ({"id": "1", "inputs": {"text": "x"}, "target": "a", "source": " "}, "source"),
        ({"id": "1", "inputs": {"text": "x"}, "target": "a", "answer": "b"}, "answer"),
        ({"id": "1", "context": "C.", "label": "yes"}, "question"),  # old format, a field missing
    ],
)
def test_bad_rows_name_the_field(row, field):
    with pytest.raises(DataError) as caught:
        record_from_dict(row, "f.jsonl, line 3")
    assert "f.jsonl, line 3" in str(caught.value)
    assert caught.value.field == field
