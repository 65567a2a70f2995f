"""Bad input fails early with an error that names the file, the record and the field; nothing is half-written."""

import json
import os

import pytest
from data_fixtures import data_config, official_item, record_row, write_json, write_jsonl_rows

from taskexpert.data.checks import check_no_test_leak, check_unique_ids
from taskexpert.data.loading import load_splits
from taskexpert.data.readers import read_ground_truth, read_hf_rows, read_official, read_records
from taskexpert.errors import ConfigError, DataError
from taskexpert.records import QARecord, read_jsonl, write_jsonl
from taskexpert.utils.atomic import atomic_write_json, atomic_write_text


def assert_names(error, *parts):
    message = str(error)
    for part in parts:
        assert str(part) in message, f"{part!r} not in {message!r}"


def small_official(tmp_path, n=12, **changes):
    """A small official file; `changes` maps a PMID to the item to put there instead."""
    items = {str(1000 + i): official_item(label=("yes", "no", "maybe")[i % 3]) for i in range(n)}
    items.update(changes)
    return write_json(tmp_path / "ori_pqal.json", items)


def small_config(path, **overrides):
    """drllama 6/3/3 in file order; with `small_official`, 1000..1005 train, 1006..1008 val, 1009..1011 test."""
    overrides.setdefault("split", {"name": "drllama", "train_size": 6, "val_size": 3, "test_size": 3})
    return data_config(path=str(path), format="auto", **overrides)


# --- missing files and broken JSON ---------------------------------------------------------------


@pytest.mark.parametrize("reader", [read_official, read_ground_truth, read_hf_rows, read_jsonl, read_records])
def test_missing_file(tmp_path, reader):
    path = tmp_path / "absent" / "ori_pqal.json"
    with pytest.raises(DataError, match="does not exist") as caught:
        reader(path)
    assert_names(caught.value, path)


def test_missing_file_through_config(tmp_path):
    path = tmp_path / "nowhere.json"
    with pytest.raises(DataError, match="does not exist") as caught:
        load_splits(small_config(path))
    assert_names(caught.value, path)


def test_unset_data_path_is_config_error():
    with pytest.raises(ConfigError, match="data.path"):
        load_splits(data_config(path=None))


def test_invalid_json_in_official_file_names_line(tmp_path):
    path = tmp_path / "ori_pqal.json"
    path.write_text('{\n "1": {"QUESTION": "Q?",\n  "CONTEXTS": [,]\n }\n}\n', encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON") as caught:
        read_official(path)
    assert_names(caught.value, f"{path}, line 3")


def test_official_file_that_is_not_an_object(tmp_path):
    path = write_json(tmp_path / "ori_pqal.json", [official_item()])
    with pytest.raises(DataError, match="keyed by PMID") as caught:
        read_official(path)
    assert_names(caught.value, path)


def test_invalid_json_line_in_own_jsonl(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps(record_row(1)) + "\n\n" + '{"id": "2", "question": \n', encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON") as caught:
        read_jsonl(path)
    assert_names(caught.value, f"{path}, line 3")


def test_invalid_json_line_in_hf_rows(tmp_path):
    path = tmp_path / "rows.jsonl"
    row = {"pubid": 1, "question": "Q?", "context": {"contexts": ["C."]}, "final_decision": "yes"}
    path.write_text(json.dumps(row) + "\n" + "{'pubid': 2}\n", encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON") as caught:
        read_hf_rows(path)
    assert_names(caught.value, f"{path}, line 2")


# --- missing and bad fields ----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["QUESTION", "CONTEXTS", "final_decision"])
def test_official_missing_field(tmp_path, field):
    item = official_item()
    del item[field]
    path = small_official(tmp_path, **{"5550001": item})
    with pytest.raises(DataError, match="is missing") as caught:
        read_official(path)
    assert_names(caught.value, path, "record 5550001", f"field '{field}'")
    assert caught.value.field == field


@pytest.mark.parametrize("field", ["id", "question", "context", "label"])
def test_own_jsonl_missing_field(tmp_path, field):
    bad = record_row(2)
    del bad[field]
    path = write_jsonl_rows(tmp_path / "records.jsonl", [record_row(1), bad])
    with pytest.raises(DataError, match="is missing") as caught:
        read_jsonl(path)
    assert_names(caught.value, f"{path}, line 2", f"field '{field}'")


def test_own_jsonl_unknown_field(tmp_path):
    path = write_jsonl_rows(tmp_path / "records.jsonl", [record_row(1, answer="yes")])
    with pytest.raises(DataError, match="not a record field") as caught:
        read_jsonl(path)
    assert_names(caught.value, f"{path}, line 1", "field 'answer'")


def test_hf_rows_missing_field(tmp_path):
    rows = [{"pubid": 9, "context": {"contexts": ["C."]}, "final_decision": "yes"}]
    path = write_jsonl_rows(tmp_path / "rows.jsonl", rows)
    with pytest.raises(DataError, match="is missing") as caught:
        read_hf_rows(path)
    assert_names(caught.value, f"{path}, line 1", "field 'question'")


def test_official_unknown_label(tmp_path):
    path = small_official(tmp_path, **{"5550002": official_item(label="perhaps")})
    with pytest.raises(DataError, match="unknown label 'perhaps'") as caught:
        read_official(path)
    assert_names(caught.value, path, "record 5550002", "field 'final_decision'")


def test_own_jsonl_unknown_label(tmp_path):
    path = write_jsonl_rows(tmp_path / "records.jsonl", [record_row(1), record_row(2, label="probably")])
    with pytest.raises(DataError, match="unknown label 'probably'") as caught:
        read_jsonl(path)
    assert_names(caught.value, f"{path}, line 2", "field 'label'")


def test_hf_rows_unknown_label_names_the_rows_own_field(tmp_path):
    rows = [{"pubid": 77, "question": "Q?", "context": {"contexts": ["C."]}, "final_decision": "unsure"}]
    path = write_jsonl_rows(tmp_path / "rows.jsonl", rows)
    with pytest.raises(DataError, match="unknown label 'unsure'") as caught:
        read_hf_rows(path)
    assert_names(caught.value, f"{path}, line 1", "field 'final_decision'")


def test_own_jsonl_unknown_source(tmp_path):
    path = write_jsonl_rows(tmp_path / "records.jsonl", [record_row(1, source="dreamed")])
    with pytest.raises(DataError, match="unknown source 'dreamed'") as caught:
        read_jsonl(path)
    assert_names(caught.value, f"{path}, line 1", "field 'source'")


@pytest.mark.parametrize("question", ["", "   \n "])
def test_official_empty_question(tmp_path, question):
    path = small_official(tmp_path, **{"5550003": official_item(question=question)})
    with pytest.raises(DataError, match="is empty") as caught:
        read_official(path)
    assert_names(caught.value, path, "record 5550003", "field 'QUESTION'")


@pytest.mark.parametrize("contexts", [[], ["", "  "]])
def test_official_empty_context(tmp_path, contexts):
    path = small_official(tmp_path, **{"5550004": official_item(contexts=contexts)})
    with pytest.raises(DataError, match="is empty") as caught:
        read_official(path)
    assert_names(caught.value, path, "record 5550004", "field 'CONTEXTS'")


def test_official_contexts_not_a_list(tmp_path):
    item = official_item()
    item["CONTEXTS"] = "one string instead of a list"
    path = small_official(tmp_path, **{"5550005": item})
    with pytest.raises(DataError, match="not a list") as caught:
        read_official(path)
    assert_names(caught.value, path, "record 5550005", "field 'CONTEXTS'")


def test_own_jsonl_empty_context(tmp_path):
    path = write_jsonl_rows(tmp_path / "records.jsonl", [record_row(1), record_row(2, context=" ")])
    # record_row treats "" as "use the default", so a blank string stands in for an empty context
    with pytest.raises(DataError, match="is empty") as caught:
        read_jsonl(path)
    assert_names(caught.value, f"{path}, line 2", "field 'context'")


def test_hf_rows_empty_question(tmp_path):
    rows = [{"pubid": 5, "question": " ", "context": {"contexts": ["C."]}, "final_decision": "no"}]
    path = write_jsonl_rows(tmp_path / "rows.jsonl", rows)
    with pytest.raises(DataError, match="is empty") as caught:
        read_hf_rows(path)
    assert_names(caught.value, f"{path}, line 1", "field 'question'")


# --- duplicates ----------------------------------------------------------------------------------


def test_check_unique_ids_names_the_duplicate():
    records = [QARecord(id=i, question="Q?", context="C.", label="yes") for i in ("a", "b", "a")]
    with pytest.raises(DataError, match="duplicate") as caught:
        check_unique_ids(records, "somefile.jsonl")
    assert_names(caught.value, "somefile.jsonl, record a", "field 'id'")
    check_unique_ids(records[:2], "somefile.jsonl")  # no error without the duplicate


def test_duplicate_ids_in_main_jsonl(tmp_path):
    rows = [record_row(i, label=("yes", "no", "maybe")[i % 3]) for i in range(12)]
    rows[9] = record_row(4)
    path = write_jsonl_rows(tmp_path / "records.jsonl", rows)
    with pytest.raises(DataError, match="duplicate") as caught:
        load_splits(small_config(path))
    assert_names(caught.value, path, "record 4", "field 'id'")


def test_duplicate_pmid_keys_in_official_file(tmp_path):
    # json.loads keeps the last of two equal keys silently: the reader must notice the duplicate instead
    path = tmp_path / "ori_pqal.json"
    item = json.dumps(official_item())
    path.write_text(f'{{"111": {item}, "222": {item}, "111": {item}}}', encoding="utf-8")
    with pytest.raises(DataError, match="more than once") as caught:
        load_splits(
            small_config(path, split={"name": "drllama", "train_size": 1, "val_size": 1, "test_size": 1})
        )
    assert_names(caught.value, path, "record 111", "field 'id'")


def test_duplicate_pmid_keys_in_ground_truth(tmp_path):
    path = tmp_path / "test_ground_truth.json"
    path.write_text('{"1": "yes", "2": "no", "1": "no"}', encoding="utf-8")
    with pytest.raises(DataError, match="more than once") as caught:
        read_ground_truth(path)
    assert_names(caught.value, path, "record 1")


def test_duplicate_ids_inside_extra_train(tmp_path):
    extra = write_jsonl_rows(tmp_path / "extra.jsonl", [record_row("x1"), record_row("x2"), record_row("x1")])
    with pytest.raises(DataError, match="duplicate") as caught:
        load_splits(small_config(small_official(tmp_path), extra_train=[str(extra)]))
    assert_names(caught.value, extra, "record x1", "field 'id'")


def test_extra_train_repeating_a_train_id(tmp_path):
    extra = write_jsonl_rows(tmp_path / "extra.jsonl", [record_row("1002", label="maybe")])
    with pytest.raises(DataError, match="duplicate") as caught:
        load_splits(small_config(small_official(tmp_path), extra_train=[str(extra)]))
    assert_names(caught.value, "record 1002", "field 'id'", "extra_train")


# --- test items leaking into training ------------------------------------------------------------


def test_clean_extra_train_is_mixed_in(tmp_path):
    # positive control for the leak tests below: a file derived from a train item is accepted
    extra = write_jsonl_rows(tmp_path / "extra.jsonl", [record_row("r1", source="rewrite", parent_id="1000")])
    splits = load_splits(small_config(small_official(tmp_path), extra_train=[str(extra)]))
    assert [r.id for r in splits.train] == [str(1000 + i) for i in range(6)] + ["r1"]
    assert splits.train[-1].parent_id == "1000"


def test_extra_train_with_a_test_id(tmp_path):
    test_id = "1011"  # drllama 6/3/3 over 12 records: 1009..1011 are test
    extra = write_jsonl_rows(tmp_path / "extra.jsonl", [record_row("r1"), record_row(test_id)])
    with pytest.raises(
        DataError, match=r"evaluation \(validation/test\) item inside the training data"
    ) as caught:
        load_splits(small_config(small_official(tmp_path), extra_train=[str(extra)]))
    assert_names(caught.value, extra, f"record {test_id}", "field 'id'")


def test_extra_train_derived_from_a_test_item(tmp_path):
    rows = [
        record_row("r1", source="rewrite", parent_id="1001"),
        record_row("r2", source="new", parent_id="1010"),
    ]
    extra = write_jsonl_rows(tmp_path / "extra.jsonl", rows)
    with pytest.raises(DataError, match=r"derives from evaluation \(validation/test\) item 1010") as caught:
        load_splits(small_config(small_official(tmp_path), extra_train=[str(extra)]))
    assert_names(caught.value, extra, "record r2", "field 'parent_id'")


def test_extra_train_derived_from_a_validation_item(tmp_path):
    extra = write_jsonl_rows(tmp_path / "extra.jsonl", [record_row("r1", source="rewrite", parent_id="1007")])
    with pytest.raises(DataError, match=r"derives from evaluation \(validation/test\) item 1007"):
        load_splits(small_config(small_official(tmp_path), extra_train=[str(extra)]))


def test_check_no_test_leak_directly():
    train = [QARecord(id="t1", question="Q?", context="C.", label="no", parent_id=None)]
    check_no_test_leak(train, {"t9"}, "extra.jsonl")  # no leak, no error
    with pytest.raises(DataError) as caught:
        check_no_test_leak(train, {"t1"}, "extra.jsonl")
    assert_names(caught.value, "extra.jsonl, record t1", "field 'id'")


def test_unknown_split_name_is_config_error(tmp_path):
    config = small_config(small_official(tmp_path))
    config.split.name = "random"
    with pytest.raises(ConfigError, match="random"):
        load_splits(config)


# --- nothing is written half-way -----------------------------------------------------------------


def leftovers(directory, keep):
    return sorted(p.name for p in directory.iterdir() if p.name != keep)


def test_atomic_write_replaces_and_cleans_up(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old", encoding="utf-8")
    assert atomic_write_text(path, "new ✓") == path
    assert path.read_text(encoding="utf-8") == "new ✓"
    assert leftovers(tmp_path, "out.txt") == []
    atomic_write_json(tmp_path / "sub" / "m.json", {"acc": 0.5, "label": "ja"})
    assert json.loads((tmp_path / "sub" / "m.json").read_text(encoding="utf-8")) == {
        "acc": 0.5,
        "label": "ja",
    }


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old content", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "a" * 100_000 + "\ud800")  # a lone surrogate cannot be written as UTF-8
    assert path.read_text(encoding="utf-8") == "old content"
    assert leftovers(tmp_path, "out.txt") == []


def test_atomic_write_keeps_old_file_when_rename_fails(tmp_path, monkeypatch):
    # A mock is unavoidable here: there is no portable way to make the final rename fail for real.
    path = tmp_path / "out.txt"
    path.write_text("old content", encoding="utf-8")

    def failing_replace(source, target):
        raise OSError("disk vanished")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk vanished"):
        atomic_write_text(path, "new content")
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == "old content"
    assert leftovers(tmp_path, "out.txt") == []


def test_write_jsonl_keeps_old_file_when_records_fail(tmp_path):
    path = tmp_path / "records.jsonl"
    good = [QARecord(id="1", question="Q?", context="C.", label="yes")]
    write_jsonl(good, path)

    def records_then_crash():
        yield QARecord(id="2", question="Q?", context="C.", label="no")
        raise RuntimeError("generator crashed")

    with pytest.raises(RuntimeError, match="generator crashed"):
        write_jsonl(records_then_crash(), path)
    assert read_jsonl(path) == good
    assert leftovers(tmp_path, "records.jsonl") == []


# --- bytes that are not UTF-8, a file that is not Parquet, a directory ------------------------------------


def with_latin1_byte(path, after: str):
    """Replace the first `after` text in the file by itself plus a Latin-1 'é' (0xe9, not valid UTF-8);
    returns (line, byte offset) of that byte."""
    data = path.read_bytes()
    offset = data.index(after.encode()) + len(after.encode())
    path.write_bytes(data[:offset] + b"\xe9" + data[offset:])
    return data.count(b"\n", 0, offset) + 1, offset


def assert_not_utf8(error, path, line, offset):
    assert str(error).startswith(f"{path}, line {line}, byte offset {offset}: is not UTF-8 text (byte 0xe9)")
    assert "iconv" in str(error) and "\n" not in str(error)


def test_non_utf8_official_file_names_line_and_offset(tmp_path):
    path = small_official(tmp_path)
    line, offset = with_latin1_byte(path, '"1004": {\n  "QUESTION": "')
    with pytest.raises(DataError) as caught:
        load_splits(small_config(path))
    assert_not_utf8(caught.value, path, line, offset)


def test_non_utf8_ground_truth_file(tmp_path):
    path = write_json(tmp_path / "test_ground_truth.json", {"1": "yes", "2": "no"})
    line, offset = with_latin1_byte(path, '"2": "n')
    with pytest.raises(DataError) as caught:
        read_ground_truth(path)
    assert_not_utf8(caught.value, path, line, offset)


@pytest.mark.parametrize("shape", ["records", "hf_rows"])
def test_non_utf8_jsonl_names_line_and_offset(tmp_path, shape):
    rows = [record_row(i) for i in range(1, 5)]
    if shape == "hf_rows":
        rows = [{"pubid": r["id"], "question": r["question"], "context": {"contexts": [r["context"]]},
                 "final_decision": r["label"]} for r in rows]  # fmt: skip
    path = write_jsonl_rows(tmp_path / "rows.jsonl", rows)
    line, offset = with_latin1_byte(path, '"question": "')  # on the first line: format detection reads it
    with pytest.raises(DataError) as caught:
        read_records(path)
    assert_not_utf8(caught.value, path, line, offset)
    path.write_bytes(path.read_bytes().replace(b"\xe9", b""))
    line, offset = with_latin1_byte(path, f'"{"pubid" if shape == "hf_rows" else "id"}": "3", ')
    with pytest.raises(DataError) as caught:
        read_records(path)
    assert line == 3 and offset > 0
    assert_not_utf8(caught.value, path, line, offset)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_non_utf8_corpus_names_line_and_offset(tmp_path, suffix):
    from taskexpert.retrieval.corpus_readers import read_rows

    path = tmp_path / f"corpus{suffix}"
    if suffix == ".csv":
        path.write_text(
            'id,text\n1,"first passage"\n2,"second\npassage, two lines"\n3,third\n', encoding="utf-8"
        )
        after = "passage, two"
    else:
        path.write_text("".join(json.dumps({"id": i, "text": f"passage {i}"}) + "\n" for i in range(3)))
        after = "passage 2"
    line, offset = with_latin1_byte(path, after)
    with pytest.raises(DataError) as caught:
        list(read_rows(path, "auto", ["id", "text"]))
    assert_not_utf8(caught.value, path, line, offset)


def test_a_file_named_parquet_that_is_not_parquet(tmp_path):
    path = write_jsonl_rows(tmp_path / "pqa_labeled.parquet", [record_row(1)])
    with pytest.raises(DataError) as caught:
        load_splits(small_config(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: is not a readable Parquet file (")
    assert "rename a JSON-lines file to .jsonl" in message and "\n" not in message


def test_a_directory_as_data_path_is_named_as_one(tmp_path):
    small_official(tmp_path)
    with pytest.raises(DataError) as caught:
        load_splits(small_config(tmp_path))
    message = str(caught.value)
    assert message.startswith(
        f"{tmp_path}: is a directory, not a file (hint: point data.path at a file in it: "
    )
    assert "ori_pqal.json (the official PubMedQA file)" in message and ".parquet" in message
    assert message.endswith("; it holds ori_pqal.json)")
    for reader in (
        read_official,
        read_jsonl,
        read_hf_rows,
    ):  # named the same way when a reader is called alone
        with pytest.raises(DataError, match="is a directory, not a file"):
            reader(tmp_path)
