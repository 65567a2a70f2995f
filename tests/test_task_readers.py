"""Readers of each dataset's original file format (tasks/readers), on small invented files in those formats,
and the GSM8K-style answer rules (tasks/answers)."""

from __future__ import annotations

import csv
import json
import logging
from contextlib import contextmanager
from pathlib import Path

import pytest

from taskexpert.errors import ConfigError, DataError
from taskexpert.tasks.answers import final_answer, last_number, normalise_number
from taskexpert.tasks.readers import READERS, read_dataset, register

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "taskexpert" / "data" / "sample"


def read(name: str, path: Path, **options):
    return read_dataset(name, path, options)


def assert_well_formed(splits: dict) -> None:
    """Every example has exactly the contract's keys and types."""
    for examples in splits.values():
        for item in examples:
            assert set(item) == {"id", "inputs", "target", "reference", "meta"}
            assert isinstance(item["id"], str) and item["id"]
            assert item["inputs"] and all(isinstance(v, str) and v for v in item["inputs"].values())
            assert isinstance(item["target"], str) and item["target"]
            assert isinstance(item["reference"], str) and isinstance(item["meta"], dict)


@contextmanager
def raises_data_error(*parts: str, field: str | None = None):
    """Assert a one-line DataError whose message holds every part (and whose field is `field`)."""
    with pytest.raises(DataError) as info:
        yield info
    message = str(info.value)
    assert "\n" not in message, message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    if field is not None:
        assert info.value.field == field, message


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def write_json(path: Path, payload) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return path


def write_table(path: Path, header: list[str], rows: list[list], delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if delimiter == "\t":  # GLUE style: no quoting at all, quotes are plain text
        return write_lines(path, ["\t".join(map(str, row)) for row in [header, *rows]])
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


# --- GSM8K ------------------------------------------------------------------------------------------------


def gsm8k_line(question: str, steps: str, answer: str) -> str:
    return json.dumps({"question": question, "answer": f"{steps}\n#### {answer}"})


@pytest.fixture
def gsm8k_dir(tmp_path):
    write_lines(
        tmp_path / "train.jsonl",
        [
            gsm8k_line("A crate holds 30 pears; 6 crates?", "6 crates * 30 = <<6*30=180>>180 pears", "180"),
            "",
            gsm8k_line(
                "A lamp costs $1,250 and a rug $50. Total?", "1250 + 50 = <<1250+50=1300>>1300", "$1,300"
            ),
        ],
    )
    write_lines(tmp_path / "test.jsonl", [gsm8k_line("Half of 17?", "17 / 2 = <<17/2=8.5>>8.5", "8.50")])
    return tmp_path


def test_gsm8k_reads_question_normalised_answer_and_worked_solution(gsm8k_dir):
    splits = read("gsm8k", gsm8k_dir)
    assert_well_formed(splits)
    assert [e["id"] for e in splits["train"]] == [
        "train.jsonl:1",
        "train.jsonl:3",
    ]  # the blank line 2 is skipped
    assert [e["target"] for e in splits["train"]] == ["180", "1300"]
    assert splits["train"][0]["inputs"] == {"question": "A crate holds 30 pears; 6 crates?"}
    assert (
        splits["train"][1]["reference"].endswith("#### $1,300")
        and "<<1250+50=1300>>" in splits["train"][1]["reference"]
    )
    assert splits["test"][0]["target"] == "8.50"


def test_gsm8k_cut_json_names_file_and_line(gsm8k_dir):
    with (gsm8k_dir / "test.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"question": "How many legs do 3 stools')
    with raises_data_error("test.jsonl, line 2", "not valid JSON"):
        read("gsm8k", gsm8k_dir)


def test_gsm8k_answer_without_final_number_names_the_field(gsm8k_dir):
    write_lines(
        gsm8k_dir / "test.jsonl", [json.dumps({"question": "Count the birds.", "answer": "There are some."})]
    )
    with raises_data_error("test.jsonl, line 1", "####", field="answer"):
        read("gsm8k", gsm8k_dir)


def test_gsm8k_missing_question_names_the_field(gsm8k_dir):
    write_lines(gsm8k_dir / "test.jsonl", [json.dumps({"answer": "2 + 2 = 4\n#### 4"})])
    with raises_data_error("test.jsonl, line 1", "is missing", field="question"):
        read("gsm8k", gsm8k_dir)


def test_folder_without_the_dataset_file_names_lists_them(tmp_path):
    write_lines(tmp_path / "gsm8k_train.jsonl", [gsm8k_line("One plus one?", "1 + 1 = 2", "2")])
    with raises_data_error(str(tmp_path), "train.jsonl, test.jsonl", "found: gsm8k_train.jsonl"):
        read("gsm8k", tmp_path)


def test_file_for_a_folder_dataset_lists_the_expected_names(gsm8k_dir):
    with raises_data_error("train.jsonl", "is a file", "train.jsonl, test.jsonl"):
        read("gsm8k", gsm8k_dir / "train.jsonl")


def test_missing_path_is_reported(tmp_path):
    with raises_data_error(str(tmp_path / "nowhere"), "does not exist"):
        read("gsm8k", tmp_path / "nowhere")


# --- TREC -------------------------------------------------------------------------------------------------


@pytest.fixture
def trec_dir(tmp_path):
    train = (
        "NUM:date When was the glass bridge of Velmor opened ?\nHUM:ind Who painted the caf\xe9 murals ?\n"
    )
    (tmp_path / "train_5500.label").write_bytes(train.encode("latin-1"))
    (tmp_path / "TREC_10.label").write_bytes(b"LOC:city What city hosts the lantern fair ?\n\n")
    return tmp_path


def test_trec_reads_latin1_lines_into_coarse_targets_with_fine_labels(trec_dir):
    splits = read("trec", trec_dir)
    assert_well_formed(splits)
    assert [(e["target"], e["meta"]["fine"]) for e in splits["train"]] == [("NUM", "date"), ("HUM", "ind")]
    assert splits["train"][1]["inputs"]["question"] == "Who painted the café murals ?"
    assert [e["id"] for e in splits["test"]] == ["TREC_10.label:1"]


def test_trec_with_utf8_forced_reports_the_byte_offset(trec_dir):
    offset = len("NUM:date When was the glass bridge of Velmor opened ?\nHUM:ind Who painted the caf")
    with raises_data_error("train_5500.label, line 2", f"byte offset {offset}", "0xe9", "encoding"):
        read("trec", trec_dir, encoding="utf-8")


def test_trec_unknown_coarse_label_names_line_and_field(trec_dir):
    write_lines(
        trec_dir / "TREC_10.label", ["LOC:city Where is the fair ?", "PLACE:city Where is the pier ?"]
    )
    with raises_data_error("TREC_10.label, line 2", "PLACE", field="label"):
        read("trec", trec_dir)


def test_trec_line_without_label_names_line_and_field(trec_dir):
    write_lines(trec_dir / "TREC_10.label", ["Where is the fair ?"])
    with raises_data_error("TREC_10.label, line 1", "COARSE:fine", field="label"):
        read("trec", trec_dir)


# --- SST-2 ------------------------------------------------------------------------------------------------


@pytest.fixture
def sst2_dir(tmp_path):
    rows = [['a warm , "quietly" funny tale', 1], ["the plot wanders and stalls", 0]]
    write_table(tmp_path / "train.tsv", ["sentence", "label"], rows, "\t")
    write_table(tmp_path / "dev.tsv", ["sentence", "label"], [['" a bright little film', 1]], "\t")
    return tmp_path


def test_sst2_maps_label_ids_to_names_and_dev_is_test(sst2_dir):
    splits = read("sst2", sst2_dir)
    assert_well_formed(splits)
    assert [e["target"] for e in splits["train"]] == ["positive", "negative"]
    assert splits["train"][0]["inputs"]["sentence"] == 'a warm , "quietly" funny tale'
    assert splits["test"][0]["inputs"]["sentence"] == '" a bright little film'  # bare quotes are text in GLUE
    assert [e["id"] for e in splits["train"]] == ["train.tsv:2", "train.tsv:3"]
    mapped = read("sst2", sst2_dir, label_names={0: "bad", "1": "good"})
    assert [e["target"] for e in mapped["train"]] == ["good", "bad"]


def test_sst2_bad_label_id_names_line_field_and_known_ids(sst2_dir):
    write_table(sst2_dir / "dev.tsv", ["sentence", "label"], [["fine", 1], ["odd", 2]], "\t")
    with raises_data_error("dev.tsv, line 3", "'2'", "0, 1", field="label"):
        read("sst2", sst2_dir)


def test_sst2_missing_column_names_it_and_the_file_columns(sst2_dir):
    write_table(sst2_dir / "dev.tsv", ["text", "label"], [["fine", 1]], "\t")
    with raises_data_error("dev.tsv, line 1", "the file's columns: text, label", field="sentence"):
        read("sst2", sst2_dir)


# --- SNIPS ------------------------------------------------------------------------------------------------

SNIPS_INTENTS = [
    "AddToPlaylist",
    "BookRestaurant",
    "GetWeather",
    "PlayMusic",
    "RateBook",
    "SearchCreativeWork",
    "SearchScreeningEvent",
]


def snips_utterance(*pieces):
    return {"data": [{"text": p} if isinstance(p, str) else {"text": p[0], "entity": p[1]} for p in pieces]}


@pytest.fixture
def snips_dir(tmp_path):
    for intent in SNIPS_INTENTS:
        train = [
            snips_utterance("please ", (intent.lower(), "thing"), " now"),
            snips_utterance(f"do {intent} once"),
        ]
        write_json(tmp_path / intent / f"train_{intent}_full.json", {intent: train})
        write_json(
            tmp_path / intent / f"validate_{intent}.json", {intent: [snips_utterance(f"{intent} again")]}
        )
    write_json(
        tmp_path / "PlayMusic" / "train_PlayMusic_full.json",
        {"PlayMusic": [snips_utterance("put on ", ("slow harp", "genre"), " from ", ("1987", "year"), " ")]},
    )
    return tmp_path


def test_snips_joins_pieces_keeps_entities_and_uses_validate_as_test(snips_dir):
    splits = read("snips", snips_dir)
    assert_well_formed(splits)
    assert len(splits["train"]) == 13 and len(splits["test"]) == 7
    music = next(e for e in splits["train"] if e["target"] == "PlayMusic")
    assert music["inputs"] == {"text": "put on slow harp from 1987"}
    assert music["meta"]["entities"] == [["genre", "slow harp"], ["year", "1987"]]
    assert music["id"] == "train_PlayMusic_full.json:1"
    assert {e["target"] for e in splits["test"]} == set(SNIPS_INTENTS)


def test_snips_missing_validate_file_lists_the_expected_names(snips_dir):
    (snips_dir / "RateBook" / "validate_RateBook.json").unlink()
    with raises_data_error("RateBook/validate_RateBook.json", "AddToPlaylist/train_AddToPlaylist_full.json"):
        read("snips", snips_dir)


def test_snips_piece_without_text_names_record_and_field(snips_dir):
    write_json(
        snips_dir / "GetWeather" / "validate_GetWeather.json", {"GetWeather": [{"data": [{"entity": "x"}]}]}
    )
    with raises_data_error("validate_GetWeather.json, record 1", field="data[0].text"):
        read("snips", snips_dir)


def test_snips_file_keyed_by_another_intent_names_the_key(snips_dir):
    write_json(snips_dir / "GetWeather" / "validate_GetWeather.json", {"Weather": []})
    with raises_data_error("validate_GetWeather.json", field="GetWeather"):
        read("snips", snips_dir)


# --- MNLI -------------------------------------------------------------------------------------------------

MNLI_TRAIN = [
    "index",
    "promptID",
    "pairID",
    "genre",
    "sentence1_binary_parse",
    "sentence2_binary_parse",
    "sentence1_parse",
]
MNLI_TRAIN += ["sentence2_parse", "sentence1", "sentence2", "label1", "gold_label"]
MNLI_DEV = MNLI_TRAIN[:-1] + ["label2", "label3", "label4", "label5", "gold_label"]


def mnli_row(index, pair, genre, premise, hypothesis, labels, gold):
    return [
        index,
        pair[:-1],
        pair,
        genre,
        "( x )",
        "( y )",
        "(S x)",
        "(S y)",
        premise,
        hypothesis,
        *labels,
        gold,
    ]


@pytest.fixture
def mnli_dir(tmp_path):
    write_table(
        tmp_path / "train.tsv",
        MNLI_TRAIN,
        [
            mnli_row(
                0,
                "501e",
                "fiction",
                "The ferry left at dawn.",
                "A boat departed early.",
                ["entailment"],
                "entailment",
            ),
            mnli_row(
                1,
                "502c",
                "travel",
                "The museum is free.",
                'Entry costs "ten" coins.',
                ["contradiction"],
                "contradiction",
            ),
        ],
        "\t",
    )
    labels = ["neutral", "neutral", "entailment", "contradiction", "entailment"]
    rows = [
        mnli_row(0, "601n", "slate", "Mira baked bread.", "Mira sells bread.", labels, "neutral"),
        mnli_row(
            1, "602e", "telephone", "It rained.", "The ground got wet.", labels[1:] + ["contradiction"], "-"
        ),
    ]
    write_table(tmp_path / "dev_matched.tsv", MNLI_DEV, rows, "\t")
    return tmp_path


def test_mnli_reads_pairs_skips_no_majority_rows_and_logs_the_count(mnli_dir, caplog):
    with caplog.at_level(logging.INFO, logger="taskexpert.tasks.readers.mnli"):
        splits = read("mnli", mnli_dir)
    assert_well_formed(splits)
    assert splits["train"][1]["inputs"] == {
        "premise": "The museum is free.",
        "hypothesis": 'Entry costs "ten" coins.',
    }
    assert [e["target"] for e in splits["train"]] == ["entailment", "contradiction"]
    assert [(e["id"], e["meta"]) for e in splits["test"]] == [("dev_matched.tsv:601n", {"genre": "slate"})]
    assert "skipped 1 rows" in caplog.text


def test_mnli_unknown_gold_label_names_line_and_field(mnli_dir):
    row = mnli_row(2, "503n", "fiction", "A.", "B.", ["neutral"], "maybe")
    with (mnli_dir / "train.tsv").open("a", encoding="utf-8") as handle:
        handle.write("\t".join(map(str, row)) + "\n")
    with raises_data_error("train.tsv, line 4", "'maybe'", field="gold_label"):
        read("mnli", mnli_dir)


def test_mnli_short_row_names_the_missing_field(mnli_dir):
    with (mnli_dir / "train.tsv").open("a", encoding="utf-8") as handle:
        handle.write("\t".join(map(str, mnli_row(2, "503n", "fiction", "A.", "B.", [], "x")[:9])) + "\n")
    with raises_data_error("train.tsv, line 4", "fewer fields", field="sentence2"):
        read("mnli", mnli_dir)


# --- CaseHOLD ---------------------------------------------------------------------------------------------

CASEHOLD = [
    "example_id",
    "citing_prompt",
    "holding_0",
    "holding_1",
    "holding_2",
    "holding_3",
    "holding_4",
    "label",
]


def casehold_row(example_id, label, prompt="The court, citing Reed, held the lease void (<HOLDING>)."):
    return [example_id, prompt, *(f"holding that clause {n} binds, unless waived" for n in range(5)), label]


@pytest.fixture
def casehold_dir(tmp_path):
    write_table(tmp_path / "train.csv", CASEHOLD, [casehold_row(0, 3), casehold_row(1, 0)])
    write_table(tmp_path / "test.csv", CASEHOLD, [casehold_row(0, 4)])
    return tmp_path


def test_casehold_reads_prompt_five_holdings_and_letter_target(casehold_dir):
    splits = read("casehold", casehold_dir)
    assert_well_formed(splits)
    assert list(splits) == ["train", "test"]
    first = splits["train"][0]
    assert first["target"] == "D" and first["meta"] == {"label_index": 3}
    assert sorted(first["inputs"]) == [
        "citing_prompt",
        "holding_0",
        "holding_1",
        "holding_2",
        "holding_3",
        "holding_4",
    ]
    assert first["inputs"]["holding_2"] == "holding that clause 2 binds, unless waived"  # a quoted comma
    assert [e["id"] for e in splits["train"]] == ["train.csv:0", "train.csv:1"]
    write_table(casehold_dir / "dev.csv", CASEHOLD, [casehold_row(7, 1)])
    assert [e["target"] for e in read("casehold", casehold_dir)["validation"]] == ["B"]


def test_casehold_label_out_of_range_names_line_and_field(casehold_dir):
    write_table(casehold_dir / "test.csv", CASEHOLD, [casehold_row(0, 1), casehold_row(1, 5)])
    with raises_data_error("test.csv, line 3", "'5'", field="label"):
        read("casehold", casehold_dir)


def test_casehold_prompt_without_marker_names_the_field(casehold_dir):
    write_table(casehold_dir / "test.csv", CASEHOLD, [casehold_row(0, 1, prompt="No marker in this text.")])
    with raises_data_error("test.csv, line 2", "<HOLDING>", field="citing_prompt"):
        read("casehold", casehold_dir)


# --- SQuAD ------------------------------------------------------------------------------------------------


def squad_file(path: Path, questions: list[tuple[str, str, list[str]]], context: str) -> Path:
    qas = [
        {
            "id": qid,
            "question": q,
            "answers": [{"answer_start": context.index(a), "text": a} for a in answers],
        }
        for qid, q, answers in questions
    ]
    payload = {
        "version": "1.1",
        "data": [{"title": "Lake_Orrin", "paragraphs": [{"context": context, "qas": qas}]}],
    }
    return write_json(path, payload)


ORRIN = "Lake Orrin lies north of the salt flats. Its ferry was built in 1911 by the Hale brothers."


@pytest.fixture
def squad_dir(tmp_path):
    squad_file(
        tmp_path / "train-v1.1.json", [("q1", "Where is Lake Orrin?", ["north of the salt flats"])], ORRIN
    )
    squad_file(
        tmp_path / "dev-v1.1.json",
        [("q2", "Who built the ferry?", ["the Hale brothers", "Hale brothers"])],
        ORRIN,
    )
    return tmp_path


def test_squad_reads_context_question_first_answer_and_all_answers(squad_dir):
    splits = read("squad", squad_dir)
    assert_well_formed(splits)
    test = splits["test"][0]
    assert test["id"] == "q2" and test["target"] == "the Hale brothers"
    assert test["inputs"] == {"context": ORRIN, "question": "Who built the ferry?"}
    assert test["meta"] == {"answers": ["the Hale brothers", "Hale brothers"], "title": "Lake_Orrin"}


def test_squad_answer_not_at_its_offset_names_record_and_field(squad_dir):
    payload = json.loads((squad_dir / "dev-v1.1.json").read_text(encoding="utf-8"))
    payload["data"][0]["paragraphs"][0]["qas"][0]["answers"][1]["answer_start"] += 1
    write_json(squad_dir / "dev-v1.1.json", payload)
    with raises_data_error("dev-v1.1.json, record q2", "check_answer_start", field="answers[1].answer_start"):
        read("squad", squad_dir)
    assert (
        read("squad", squad_dir, check_answer_start=False)["test"][0]["meta"]["answers"][1] == "Hale brothers"
    )


def test_squad_cut_json_names_the_line(squad_dir):
    text = json.dumps(json.loads((squad_dir / "train-v1.1.json").read_text(encoding="utf-8")), indent=1)
    (squad_dir / "train-v1.1.json").write_text(text[: len(text) // 2], encoding="utf-8")
    with raises_data_error("train-v1.1.json, line ", "not valid JSON"):
        read("squad", squad_dir)


def test_squad_question_without_answers_names_record_and_field(squad_dir):
    payload = {
        "data": [
            {"title": "T", "paragraphs": [{"context": ORRIN, "qas": [{"id": "q9", "question": "Why?"}]}]}
        ]
    }
    write_json(squad_dir / "dev-v1.1.json", payload)
    with raises_data_error("dev-v1.1.json, record q9", "is missing", field="answers"):
        read("squad", squad_dir)


# --- BBH --------------------------------------------------------------------------------------------------


@pytest.fixture
def bbh_dir(tmp_path):
    bools = [
        {"input": f"not ( {b} ) and True is", "target": str(not b)} for b in [True, False, True, False, True]
    ]
    words = [
        {"input": f"Sort the words: plum {w} axe", "target": f"axe {w} plum"} for w in ["kite", "moss", "oak"]
    ]
    write_json(tmp_path / "boolean_expressions.json", {"canary": "invented test file", "examples": bools})
    write_json(tmp_path / "word_sorting.json", {"canary": "invented test file", "examples": words})
    return tmp_path


def test_bbh_first_examples_of_each_subtask_are_train(bbh_dir):
    splits = read("bbh", bbh_dir, train_per_subtask=2)
    assert_well_formed(splits)
    assert [e["id"] for e in splits["train"]] == [
        "boolean_expressions:1",
        "boolean_expressions:2",
        "word_sorting:1",
        "word_sorting:2",
    ]
    assert len(splits["test"]) == 4 and splits["test"][-1]["meta"] == {"subtask": "word_sorting"}
    assert splits["train"][0]["target"] == "False"
    default = read("bbh", bbh_dir)
    assert (len(default["train"]), len(default["test"])) == (6, 2)
    assert len(read("bbh", bbh_dir / "word_sorting.json", train_per_subtask=1)["test"]) == 2
    assert {e["meta"]["subtask"] for e in read("bbh", bbh_dir, subtasks=["word_sorting"])["train"]} == {
        "word_sorting"
    }


def test_bbh_example_without_target_names_record_and_field(bbh_dir):
    write_json(bbh_dir / "word_sorting.json", {"examples": [{"input": "Sort: b a"}, {"input": "Sort: d c"}]})
    with raises_data_error("word_sorting.json, record 1", field="target"):
        read("bbh", bbh_dir)


def test_bbh_folder_without_subtask_files_says_what_it_expects(tmp_path):
    write_lines(tmp_path / "notes.txt", ["nothing here"])
    with raises_data_error(str(tmp_path), "<subtask>.json"):
        read("bbh", tmp_path)
    with raises_data_error("date_understanding.json", "expected: date_understanding.json"):
        read("bbh", tmp_path, subtasks=["date_understanding"])


# --- MCoNaLa ----------------------------------------------------------------------------------------------


def mconala_items(count: int, start: int = 100) -> list[dict]:
    return [
        {
            "question_id": start + n,
            "intent": f"リスト`items`の{n}番目の要素を取り出す",
            "rewritten_intent": None if n % 2 else f"リスト`items`から要素{n}を得る",
            "snippet": f"items[{n}]",
        }
        for n in range(4)
    ]


def test_mconala_first_items_form_train_without_a_train_file(tmp_path):
    write_json(tmp_path / "ja_test.json", mconala_items(4))
    splits = read("mconala", tmp_path, train_size=1)
    assert_well_formed(splits)
    assert [e["id"] for e in splits["train"]] == ["ja_test.json:100"]
    assert [e["target"] for e in splits["test"]] == ["items[1]", "items[2]", "items[3]"]
    assert splits["test"][0]["meta"] == {"question_id": 101}
    assert splits["test"][0]["inputs"]["intent"] == "リスト`items`の1番目の要素を取り出す"
    rewritten = read("mconala", tmp_path / "ja_test.json", intent_field="rewritten_intent", train_size=0)
    assert [e["inputs"]["intent"] for e in rewritten["test"]][:2] == [
        "リスト`items`から要素0を得る",
        "リスト`items`の1番目の要素を取り出す",
    ]


def test_mconala_reads_a_train_file_when_present(tmp_path):
    write_json(tmp_path / "ja_test.json", mconala_items(4))
    write_json(tmp_path / "ja_train.json", mconala_items(4, start=500))
    splits = read("mconala", tmp_path)
    assert (len(splits["train"]), len(splits["test"])) == (4, 4)
    assert splits["train"][0]["id"] == "ja_train.json:500"


def test_mconala_missing_snippet_names_record_and_field(tmp_path):
    items = mconala_items(2)
    del items[1]["snippet"]
    write_json(tmp_path / "ja_test.json", items)
    with raises_data_error("ja_test.json, record 101", field="snippet"):
        read("mconala", tmp_path)


def test_mconala_unknown_intent_field_is_a_config_error(tmp_path):
    write_json(tmp_path / "ja_test.json", mconala_items(2))
    with pytest.raises(ConfigError, match="intent_field"):
        read("mconala", tmp_path, intent_field="title")


def test_non_utf8_json_names_line_and_byte_offset(tmp_path):
    data = b'[\n{"question_id": 1, "intent": "\xff", "snippet": "x"}]'
    (tmp_path / "ja_test.json").write_bytes(data)
    with raises_data_error("ja_test.json, line 2", f"byte offset {data.index(0xFF)}", "0xff"):
        read("mconala", tmp_path)


# --- generic ----------------------------------------------------------------------------------------------

REVIEW_COLUMNS = {"text": "review", "target": "stars"}


def test_generic_csv_maps_columns_and_label_ids(tmp_path):
    file = write_table(
        tmp_path / "reviews.csv", ["review", "stars"], [["Soft seats, cold tea.", 0], ["Lovely view", 1]]
    )
    splits = read("generic", file, columns=REVIEW_COLUMNS, label_names=["bad", "good"])
    assert_well_formed(splits)
    assert list(splits) == ["train"]
    assert [(e["id"], e["inputs"]["text"], e["target"]) for e in splits["train"]] == [
        ("reviews.csv:2", "Soft seats, cold tea.", "bad"),
        ("reviews.csv:3", "Lovely view", "good"),
    ]


def test_generic_split_files_in_every_format(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_lines(tmp_path / "a.jsonl", [json.dumps({"uid": "r1", "body": "Too loud", "y": 2, "why": "noise"})])
    write_table(
        tmp_path / "b.tsv", ["uid", "body", "y", "why"], [["r2", "Quiet and clean", "1", "calm"]], "\t"
    )
    pq.write_table(
        pa.table({"uid": ["r3"], "body": ["Fine"], "y": [2], "why": ["ok"]}), tmp_path / "c.parquet"
    )
    columns = {"text": "body", "target": "y", "id": "uid", "reference": "why"}
    splits = read(
        "generic", tmp_path, columns=columns, label_names={1: "calm", "2": "loud"},
        split_files={"train": "a.jsonl", "validation": "b.tsv", "test": "c.parquet"},
    )  # fmt: skip
    assert_well_formed(splits)
    flat = [(s, e["id"], e["target"], e["reference"]) for s, items in splits.items() for e in items]
    assert flat == [
        ("train", "r1", "loud", "noise"),
        ("validation", "r2", "calm", "calm"),
        ("test", "r3", "loud", "ok"),
    ]


def test_generic_missing_column_names_it_and_the_columns_the_file_has(tmp_path):
    file = write_table(tmp_path / "reviews.csv", ["comment", "stars"], [["Nice", 1]])
    with raises_data_error(
        "reviews.csv, line 1", "the file's columns: comment, stars", "columns.<field>", field="review"
    ):
        read("generic", file, columns=REVIEW_COLUMNS)
    rows = write_lines(
        tmp_path / "rows.jsonl", [json.dumps({"review": "ok", "stars": 1}), json.dumps({"review": "x"})]
    )
    with raises_data_error(
        "rows.jsonl, line 2", "the file's columns: review", "columns.target", field="stars"
    ):
        read("generic", rows, columns=REVIEW_COLUMNS)


def test_generic_bad_label_id_names_row_and_column(tmp_path):
    file = write_table(tmp_path / "reviews.csv", ["review", "stars"], [["Nice", 1], ["Meh", 3]])
    with raises_data_error("reviews.csv, line 3", "'3'", field="stars"):
        read("generic", file, columns=REVIEW_COLUMNS, label_names=["bad", "good"])


def test_generic_non_utf8_csv_names_line_and_byte_offset(tmp_path):
    (tmp_path / "reviews.csv").write_bytes(b"review,stars\nna\xefve charm,1\n")
    with raises_data_error("reviews.csv, line 2", "byte offset 15", "0xef"):
        read("generic", tmp_path / "reviews.csv", columns=REVIEW_COLUMNS)
    latin = read("generic", tmp_path / "reviews.csv", columns=REVIEW_COLUMNS, encoding="latin-1")
    assert latin["train"][0]["inputs"]["text"] == "naïve charm"


def test_generic_needs_a_target_and_an_input_column(tmp_path):
    file = write_table(tmp_path / "reviews.csv", ["review", "stars"], [["Nice", 1]])
    with pytest.raises(ConfigError, match="columns"):
        read("generic", file, columns={"text": "review"})
    with pytest.raises(ConfigError, match="input field"):
        read("generic", file, columns={"target": "stars"})


def test_generic_hub_reads_a_local_dataset_folder_with_datasets(tmp_path):
    data = tmp_path / "hub_like"
    write_table(data / "train.csv", ["review", "stars"], [["Good bread", 1], ["Stale", 0]])
    write_table(data / "test.csv", ["review", "stars"], [["Warm soup", 1]])
    splits = read(
        "generic",
        data,
        format="hub",
        columns=REVIEW_COLUMNS,
        label_names=["bad", "good"],
        cache_dir=str(tmp_path / "cache"),
    )
    assert_well_formed(splits)
    assert {s: [e["target"] for e in items] for s, items in splits.items()} == {
        "train": ["good", "bad"],
        "test": ["good"],
    }
    assert splits["test"][0]["id"] == "test:1"
    with raises_data_error(str(data), "no split 'dev'"):
        read(
            "generic",
            data,
            format="hub",
            columns=REVIEW_COLUMNS,
            split_files={"test": "dev"},
            cache_dir=str(tmp_path / "cache"),
        )


# --- registry ---------------------------------------------------------------------------------------------


def test_registry_holds_every_dataset_reader():
    expected = {"gsm8k", "trec", "sst2", "snips", "mnli", "casehold", "squad", "bbh", "mconala", "generic"}
    assert expected <= set(READERS)


def test_unknown_reader_is_a_config_error_listing_the_names():
    with pytest.raises(ConfigError, match="gsm8k"):
        read_dataset("nosuch", Path("."))


def test_a_new_reader_is_one_decorated_function_and_ids_must_be_unique(tmp_path):
    @register("twice_the_same_id")
    def twice(path, options):
        item = {"id": "x", "inputs": {"text": "a"}, "target": "b", "reference": "", "meta": {}}
        return {"train": [item], "test": [dict(item)]}

    try:
        assert READERS["twice_the_same_id"] is twice
        with raises_data_error("record x", "appears more than once", field="id"):
            read_dataset("twice_the_same_id", tmp_path)
        with pytest.raises(ValueError, match="registered twice"):
            register("twice_the_same_id")(twice)
    finally:
        del READERS["twice_the_same_id"]


# --- bundled samples (written by us in each original format) ----------------------------------------------

SAMPLE_SIZES = {
    "gsm8k": {"train": 40, "test": 20},
    "trec": {"train": 48, "test": 24},
    "sst2": {"train": 40, "test": 20},
    "snips": {"train": 35, "test": 21},
    "mnli": {"train": 30, "test": 15},
    "casehold": {"train": 24, "test": 12},
    "squad": {"train": 30, "test": 15},
    "bbh": {"train": 9, "test": 27},
    "mconala": {"train": 10, "test": 20},
}


@pytest.mark.parametrize("task", sorted(SAMPLE_SIZES))
def test_bundled_sample_reads_with_its_reader(task):
    folder = SAMPLES / task
    if not folder.is_dir():
        pytest.skip(f"no bundled sample at {folder} in this checkout")
    splits = read(task, folder)
    assert_well_formed(splits)
    assert {split: len(items) for split, items in splits.items()} == SAMPLE_SIZES[task]


# --- GSM8K-style answers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "strict", "flexible"),
    [
        ("4 * 3 = <<4*3=12>>12 apples\n#### 12", "12", "12"),
        ("The total is $1,250.00.\n#### $1,250.00", "1250", "1250"),
        ("#### -7.0", "-7", "-7"),
        ("#### 2.50", "2.50", "2.50"),
        ("So she has 18 left. #### 18.\nQuestion: 3 more? #### 21", "18", "21"),
        ("She keeps 9, then gives away 4, so 5.", None, "5"),
        ("#### about nine", None, None),
        ("no numbers here", None, None),
    ],
)
def test_strict_and_flexible_answer_rules(text, strict, flexible):
    assert final_answer(text) == strict
    assert last_number(text) == flexible


def test_normalise_number_rejects_non_numbers():
    assert normalise_number("1,000") == "1000"
    assert normalise_number("$3.00") == "3"
    assert normalise_number("3 apples") is None
