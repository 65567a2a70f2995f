"""Readers: the official PQA-L file, Hugging Face rows (JSONL and Parquet), our own JSONL, format detection."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from data_fixtures import (
    SAMPLE_DATA,
    SAMPLE_GROUND_TRUTH,
    official_item,
    qa_record,
    write_json,
    write_jsonl_rows,
)

from taskexpert.errors import DataError
from taskexpert.records import read_jsonl, write_jsonl
from taskexpert.tasks.readers.pubmedqa import (
    detect_format,
    read_ground_truth,
    read_hf_rows,
    read_official,
    read_records,
)


@pytest.fixture(scope="module")
def sample_raw():
    return json.loads(SAMPLE_DATA.read_text(encoding="utf-8"))


def hf_rows_from_official(raw):
    """The sample in the shape of Hugging Face `pqa_labeled` rows (pubid is an integer there)."""
    return [
        {
            "pubid": int(pmid),
            "question": item["QUESTION"],
            "context": {"contexts": item["CONTEXTS"], "labels": item["LABELS"], "meshes": item["MESHES"]},
            "long_answer": item["LONG_ANSWER"],
            "final_decision": item["final_decision"],
        }
        for pmid, item in raw.items()
    ]


def essentials(records):
    return [(r.id, r.inputs["question"], r.inputs["context"], r.reference, r.target) for r in records]


# --- official format -------------------------------------------------------------------------------


def test_official_sample_has_60_records_in_file_order(sample_raw):
    records = read_official(SAMPLE_DATA)
    assert len(records) == 60
    assert [r.id for r in records] == list(sample_raw)
    assert len({r.id for r in records}) == 60


def test_official_sample_fields_map_to_record(sample_raw):
    for record in read_official(SAMPLE_DATA):
        item = sample_raw[record.id]
        assert record.inputs["question"] == item["QUESTION"]
        assert record.inputs["context"] == "\n".join(item["CONTEXTS"])
        assert record.inputs["context"].count("\n") == len(item["CONTEXTS"]) - 1
        assert record.target == item["final_decision"]
        assert record.reference == item["LONG_ANSWER"]
        assert record.source == "pubmedqa"
        assert record.parent_id is None
        assert record.meta == {"LABELS": item["LABELS"], "MESHES": item["MESHES"], "YEAR": item["YEAR"]}


def test_official_sample_uses_all_three_labels():
    labels = [r.target for r in read_official(SAMPLE_DATA)]
    assert set(labels) == {"yes", "no", "maybe"}


def test_official_label_is_normalised(tmp_path):
    path = write_json(tmp_path / "ori_pqal.json", {"123": official_item(label="  Maybe ")})
    assert read_official(path)[0].target == "maybe"


def test_sample_ground_truth_agrees_with_data():
    ground_truth = read_ground_truth(SAMPLE_GROUND_TRUTH)
    by_id = {r.id: r for r in read_official(SAMPLE_DATA)}
    assert len(ground_truth) == 20
    assert all(by_id[pmid].target == label for pmid, label in ground_truth.items())


def test_read_records_auto_detects_official():
    assert essentials(read_records(SAMPLE_DATA)) == essentials(read_official(SAMPLE_DATA))


# --- Hugging Face rows ------------------------------------------------------------------------------


def test_hf_rows_jsonl_matches_official(tmp_path, sample_raw):
    path = write_jsonl_rows(tmp_path / "pqa_labeled.jsonl", hf_rows_from_official(sample_raw))
    records = read_hf_rows(path)
    assert essentials(records) == essentials(read_official(SAMPLE_DATA))
    first = records[0]
    item = sample_raw[first.id]
    assert first.meta == {"labels": item["LABELS"], "meshes": item["MESHES"]}


def test_hf_rows_parquet_matches_official(tmp_path, sample_raw):
    path = tmp_path / "pqa_labeled.parquet"
    pq.write_table(pa.Table.from_pylist(hf_rows_from_official(sample_raw)), path)
    records = read_hf_rows(path)
    assert len(records) == 60
    assert all(isinstance(r.id, str) for r in records)
    assert essentials(records) == essentials(read_official(SAMPLE_DATA))
    assert essentials(read_records(path)) == essentials(records)  # auto-detected from the suffix


def test_hf_rows_accept_plain_string_context_and_missing_long_answer(tmp_path):
    row = {"pubid": 42, "question": "Do owls sleep?", "context": "Owls were watched.", "final_decision": "No"}
    [record] = read_hf_rows(write_jsonl_rows(tmp_path / "rows.jsonl", [row]))
    assert (record.id, record.inputs["context"], record.reference, record.target) == (
        "42",
        "Owls were watched.",
        "",
        "no",
    )


def test_hf_rows_skip_blank_lines(tmp_path, sample_raw):
    rows = hf_rows_from_official(sample_raw)[:2]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n" + json.dumps(rows[0]) + "\n\n   \n" + json.dumps(rows[1]) + "\n", encoding="utf-8")
    assert [r.id for r in read_hf_rows(path)] == [str(rows[0]["pubid"]), str(rows[1]["pubid"])]


# --- our own JSONL ---------------------------------------------------------------------------------


def test_own_jsonl_round_trip(tmp_path):
    records = [
        qa_record(
            id="a1", question="Is the lake warm?", context="The lake was 19 °C — warm-ish.", label="yes"
        ),
        qa_record(
            id="a1-rw1",
            question="Could the lake be called warm?",
            context='Line one.\nLine two with "quotes" and ≥ signs.',
            long_answer="Probably.",
            label="maybe",
            source="rewrite",
            parent_id="a1",
            rationale="The temperature is borderline.",
            teacher="invented-teacher",
            meta={"round": 2, "tags": ["x", "y"]},
        ),
    ]
    path = tmp_path / "nested" / "records.jsonl"
    assert write_jsonl(records, path) == path
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert "≥" in lines[1]  # written as UTF-8, not escaped
    assert read_jsonl(path) == records
    assert read_records(path) == records


def test_own_jsonl_skips_blank_lines_and_stringifies_ids(tmp_path):
    rows = [{"id": 7, "question": "Q?", "context": "C.", "label": "no"}]
    path = tmp_path / "records.jsonl"
    path.write_text("\n" + json.dumps(rows[0]) + "\n\n", encoding="utf-8")
    [record] = read_jsonl(path)
    assert record.id == "7"
    assert record.meta == {}


def test_write_jsonl_replaces_previous_content(tmp_path):
    path = tmp_path / "records.jsonl"
    write_jsonl([qa_record(id=str(i), question="Q?", context="C.", label="yes") for i in range(5)], path)
    write_jsonl([qa_record(id="only", question="Q?", context="C.", label="no")], path)
    assert [r.id for r in read_jsonl(path)] == ["only"]


# --- format detection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("ori_pqal.json", "{}", "official"),
        ("missing.json", None, "official"),
        ("rows.parquet", None, "hf_rows"),
        ("rows.jsonl", '{"pubid": 1, "question": "Q?"}\n', "hf_rows"),
        ("rows.jsonl", '\n\n{"pubid": 1}\n', "hf_rows"),
        ("records.jsonl", '{"id": "1", "question": "Q?"}\n{"pubid": 2}\n', "jsonl"),
        ("broken.jsonl", "{not json\n", "jsonl"),
        ("scalar.jsonl", "5\n", "jsonl"),
        ("list.jsonl", '["pubid"]\n', "jsonl"),
        ("empty.jsonl", "", "jsonl"),
        ("missing.jsonl", None, "jsonl"),
    ],
)
def test_detect_format(tmp_path, name, content, expected):
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert detect_format(path) == expected


@pytest.mark.parametrize("name", ["data.csv", "data.txt", "data"])
def test_detect_format_unknown_suffix_is_data_error(tmp_path, name):
    path = tmp_path / name
    path.write_text("id,question\n", encoding="utf-8")
    with pytest.raises(DataError, match="unknown format") as caught:
        detect_format(path)
    assert str(path) in str(caught.value)


def test_scalar_first_line_gives_data_error_not_crash(tmp_path):
    path = tmp_path / "scalar.jsonl"
    path.write_text("5\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 1.*not a JSON object"):
        read_records(path)


def test_explicit_format_overrides_detection(tmp_path, sample_raw):
    path = write_jsonl_rows(tmp_path / "rows.data", hf_rows_from_official(sample_raw)[:3])
    assert len(read_records(path, "hf_rows")) == 3
    with pytest.raises(DataError, match="unknown data.format 'csv'"):
        read_records(path, "csv")
