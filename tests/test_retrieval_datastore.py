"""Datastore: the four corpus readers agree, passages keep provenance, bad input gives clear errors."""

from __future__ import annotations

import json

import pytest
from test_retrieval_support import write_corpus

from taskexpert.errors import ConfigError, DataError
from taskexpert.retrieval import CorpusConfig, Datastore
from taskexpert.retrieval.datastore import read_corpus
from taskexpert.retrieval.passages import split_words

ROWS = [
    {"doc": "d1", "title": "Salt and blood pressure", "abstract": " ".join(f"w{i}" for i in range(30))},
    {"doc": "d2", "title": "Walking after stroke", "abstract": "Short abstract about early walking."},
    {"doc": "d3", "title": "Untitled record", "abstract": ""},  # empty text: skipped, not an error
]
SUFFIXES = {"jsonl": "corpus.jsonl", "csv": "corpus.csv", "parquet": "corpus.parquet", "hf_disk": "corpus_hf"}


def corpus_at(path, **settings) -> CorpusConfig:
    values = {
        "text_fields": ("title", "abstract"),
        "id_field": "doc",
        "passage_words": 12,
        "passage_overlap": 4,
    }
    return CorpusConfig(name="docs", path=str(path), **{**values, **settings})


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "hf_disk"])
def test_every_format_gives_the_same_passages(tmp_path, fmt):
    reference = Datastore.from_corpora([corpus_at(write_corpus(ROWS, tmp_path / "ref.jsonl", "jsonl"))])
    path = write_corpus(ROWS, tmp_path / SUFFIXES[fmt], fmt)
    store = Datastore.from_corpora([corpus_at(path)])
    assert store.passages == reference.passages
    assert store.fingerprint == reference.fingerprint  # content, not file format or path
    assert store.stats["docs"].rows == 3 and store.stats["docs"].empty_fields == 1


def test_passages_keep_their_provenance(tmp_path):
    store = Datastore.from_corpora([corpus_at(write_corpus(ROWS, tmp_path / "c.jsonl", "jsonl"))])
    long_pieces = [p for p in store.passages if p.row == 0 and p.field == "abstract"]
    assert [p.passage for p in long_pieces] == [0, 1, 2, 3]  # 30 words, windows of 12 with step 8
    assert long_pieces[0].text.split()[-4:] == long_pieces[1].text.split()[:4]  # the overlap
    assert {p.row_id for p in store.passages} == {"d1", "d2", "d3"}
    title = next(p for p in store.passages if p.row == 2)
    assert (title.field, title.text, title.provenance()["corpus"]) == ("title", "Untitled record", "docs")
    assert title.key == "docs:2:title:0"


def test_field_level_and_joined_fields(tmp_path):
    path = write_corpus(ROWS, tmp_path / "c.jsonl", "jsonl")
    per_field = Datastore.from_corpora([corpus_at(path, unit="field")])
    assert len(per_field) == 5  # two fields of two rows, the title of the third
    joined = Datastore.from_corpora([corpus_at(path, unit="field", join_fields=True)])
    assert [p.field for p in joined.passages] == ["title+abstract"] * 3
    assert joined[1].text == "Walking after stroke Short abstract about early walking."
    assert per_field.fingerprint != joined.fingerprint


def test_split_words_covers_every_word_once_per_window():
    words = [f"w{i}" for i in range(23)]
    windows = split_words(" ".join(words), 10, 3)
    assert [len(w.split()) for w in windows] == [10, 10, 9]
    assert windows[-1].split()[-1] == "w22"
    assert split_words("  a   b  ", 10, 3) == ["a b"]
    assert split_words("", 10, 3) == []


def test_fingerprint_follows_content_and_chunking_not_path(tmp_path):
    first = write_corpus(ROWS, tmp_path / "a.jsonl", "jsonl")
    second = write_corpus(ROWS, tmp_path / "b.jsonl", "jsonl")
    base = Datastore.from_corpora([corpus_at(first)]).fingerprint
    assert Datastore.from_corpora([corpus_at(second)]).fingerprint == base
    assert Datastore.from_corpora([corpus_at(first, passage_words=20)]).fingerprint != base
    changed = [dict(ROWS[0], abstract=ROWS[0]["abstract"] + " extra"), *ROWS[1:]]
    assert (
        Datastore.from_corpora([corpus_at(write_corpus(changed, tmp_path / "c.jsonl", "jsonl"))]).fingerprint
        != base
    )


def test_list_valued_text_fields_are_joined(tmp_path):
    rows = [{"doc": "p1", "title": "T", "abstract": ["Background text.", "Methods text."]}]
    store = Datastore.from_corpora(
        [corpus_at(write_corpus(rows, tmp_path / "c.jsonl", "jsonl"), unit="field")]
    )
    assert store[1].text == "Background text. Methods text."


def test_hf_dataset_dict_needs_a_split_when_it_has_several(tmp_path):
    import datasets

    path = tmp_path / "dd"
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS), "extra": datasets.Dataset.from_list(ROWS[:1])}
    ).save_to_disk(str(path))
    with pytest.raises(DataError, match=r"split.*train, extra|extra, train"):
        Datastore.from_corpora([corpus_at(path)])
    assert len(Datastore.from_corpora([corpus_at(path, split="extra")])) == 5  # title + 4 windows


def test_the_bundled_corpus_loads_with_its_config_settings():
    corpus = CorpusConfig(
        name="sample",
        path="sample:corpus/passages.jsonl",
        text_fields=("title", "text"),
        id_field="id",
        join_fields=True,
    )
    store = Datastore.from_corpora([corpus])
    ids = [p.row_id for p in store.passages]
    assert len(store) == len(set(ids)) >= 150
    assert sum(i.startswith("ot-") for i in ids) >= 10  # off-topic passages to reject
    assert all(60 <= len(p.text.split()) <= 170 for p in store.passages)  # title + 60-150 word text


# --- bad input ---------------------------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match=r"nowhere\.jsonl: does not exist"):
        Datastore.from_corpora([corpus_at(tmp_path / "nowhere.jsonl")])


@pytest.mark.parametrize("fmt", ["csv", "parquet", "hf_disk"])
def test_missing_text_column_names_field_and_columns(tmp_path, fmt):
    path = write_corpus(ROWS, tmp_path / SUFFIXES[fmt], fmt)
    with pytest.raises(DataError) as caught:
        Datastore.from_corpora([corpus_at(path, text_fields=("body",))])
    assert caught.value.field == "body"
    assert str(path) in str(caught.value) and "available columns: doc, title, abstract" in str(caught.value)


def test_jsonl_row_without_the_field_names_line_row_and_field(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n\n" + json.dumps({"doc": "x", "title": "no abstract"}) + "\n")
    with pytest.raises(DataError, match=r"c\.jsonl, line 3 \(row 1\): field 'abstract' is missing"):
        Datastore.from_corpora([corpus_at(path)])


def test_invalid_json_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n{not json\n")
    with pytest.raises(DataError, match=r"c.jsonl, line 2: is not valid JSON"):
        Datastore.from_corpora([corpus_at(path)])


def test_non_text_value_names_row_and_field(tmp_path):
    path = write_corpus([ROWS[0], {"doc": "d9", "title": "T", "abstract": 42}], tmp_path / "c.jsonl", "jsonl")
    with pytest.raises(DataError, match=r"row 1\): field 'abstract' holds a int"):
        Datastore.from_corpora([corpus_at(path)])


@pytest.mark.parametrize("content", ["", '{"doc": "a", "title": "", "abstract": null}\n'])
def test_empty_corpus_is_an_error(tmp_path, content):
    path = tmp_path / "empty.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=r"empty\.jsonl: gave no passages"):
        Datastore.from_corpora([corpus_at(path)])


def test_unknown_format_and_suffix(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("text\n")
    with pytest.raises(DataError, match="unknown suffix '.txt'"):
        Datastore.from_corpora([corpus_at(path)])
    with pytest.raises(DataError, match="unknown corpus format 'xml'"):
        read_corpus(corpus_at(path, format="xml"), str(path))


def test_bad_corpus_settings_are_config_errors():
    with pytest.raises(ConfigError, match="passage_overlap"):
        CorpusConfig(name="c", path="x.jsonl", text_fields=("t",), passage_words=10, passage_overlap=10)
    with pytest.raises(ConfigError, match="unit='sentence'"):
        CorpusConfig(name="c", path="x.jsonl", text_fields=("t",), unit="sentence")
    with pytest.raises(ConfigError, match=r"retrieval\.corpora\.c\.text_feilds is not a corpus setting"):
        CorpusConfig.from_mapping("c", {"path": "x.jsonl", "text_feilds": ["t"]})
    with pytest.raises(ConfigError, match="duplicate names"):
        Datastore.from_corpora([CorpusConfig(name="c", path="x", text_fields=("t",))] * 2)
