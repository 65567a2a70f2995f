"""The bundled task samples keep their datasets' original layouts and are internally correct.

Standard library only (no readers, no models): these files are what the readers and the end-to-end task tests
run on, so a broken sum, a shifted answer_start or a lopsided label set would be found here first.
"""

import ast
import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "taskexpert" / "data" / "sample"


def balanced(counts: Counter, labels) -> bool:
    """Every label present and no label more than one item ahead of another."""
    values = [counts[label] for label in labels]
    return min(values) > 0 and max(values) - min(values) <= 1 and set(counts) <= set(labels)


# --- GSM8K ---------------------------------------------------------------------------------------------------

ANNOTATION = re.compile(r"<<([^=<>]+)=([^<>]+)>>")
FINAL = re.compile(r"^#### (\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")


def gsm8k_rows(name):
    lines = (SAMPLE / "gsm8k" / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize(("name", "size"), [("train.jsonl", 40), ("test.jsonl", 20)])
def test_gsm8k_answers_end_in_a_number_and_every_calculation_is_right(name, size):
    rows = gsm8k_rows(name)
    assert len(rows) == size
    for row in rows:
        assert set(row) == {"question", "answer"}
        *steps, last = row["answer"].split("\n")
        assert steps and FINAL.match(last), last
        annotations = ANNOTATION.findall(row["answer"])
        assert annotations, row["question"]
        for expression, result in annotations:
            assert re.fullmatch(r"[\d.+\-*/() ]+", expression), expression
            assert eval(expression) == pytest.approx(float(result)), f"{expression}={result}"


def test_gsm8k_has_dollar_questions_and_comma_answers():
    rows = gsm8k_rows("train.jsonl") + gsm8k_rows("test.jsonl")
    assert sum("$" in row["question"] for row in rows) >= 5
    assert sum("," in row["answer"].rsplit("#### ", 1)[1] for row in rows) >= 3
    assert len({row["question"] for row in rows}) == len(rows)


# --- TREC ----------------------------------------------------------------------------------------------------

TREC_COARSE = {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}


@pytest.mark.parametrize(("name", "size"), [("train_5500.label", 48), ("TREC_10.label", 24)])
def test_trec_lines_are_label_then_question_with_every_coarse_class(name, size):
    lines = (SAMPLE / "trec" / name).read_text(encoding="utf-8").splitlines()
    assert len(lines) == size
    for line in lines:
        assert re.match(r"^[A-Z]+:\w+ ", line), line
        assert line.endswith(" ?"), line
    coarse = Counter(line.split(":", 1)[0] for line in lines)
    assert balanced(coarse, TREC_COARSE), coarse
    assert all(count >= 3 for count in coarse.values())


# --- SST-2 ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "size"), [("train.tsv", 40), ("dev.tsv", 20)])
def test_sst2_is_lower_cased_balanced_glue_tsv(name, size):
    lines = (SAMPLE / "sst2" / name).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "sentence\tlabel"
    rows = [line.split("\t") for line in lines[1:]]
    assert len(rows) == size and all(len(row) == 2 for row in rows)
    assert all(sentence == sentence.lower() and sentence.strip() for sentence, _ in rows)
    assert balanced(Counter(label for _, label in rows), ["0", "1"])


# --- SNIPS ---------------------------------------------------------------------------------------------------

SNIPS_INTENTS = [
    "AddToPlaylist",
    "BookRestaurant",
    "GetWeather",
    "PlayMusic",
    "RateBook",
    "SearchCreativeWork",
    "SearchScreeningEvent",
]


@pytest.mark.parametrize("intent", SNIPS_INTENTS)
def test_snips_intent_folders_hold_entity_annotated_pieces(intent):
    folder = SAMPLE / "snips" / intent
    for name, size in ((f"train_{intent}_full.json", 5), (f"validate_{intent}.json", 3)):
        document = json.loads((folder / name).read_text(encoding="utf-8"))
        assert list(document) == [intent]
        utterances = document[intent]
        assert len(utterances) == size
        for utterance in utterances:
            pieces = utterance["data"]
            assert all(set(piece) in ({"text"}, {"text", "entity"}) and piece["text"] for piece in pieces)
            assert any("entity" in piece for piece in pieces)
            assert "".join(piece["text"] for piece in pieces).strip()


def test_snips_has_exactly_the_seven_intents():
    assert sorted(p.name for p in (SAMPLE / "snips").iterdir() if p.is_dir()) == SNIPS_INTENTS


# --- MNLI ----------------------------------------------------------------------------------------------------

MNLI_LABELS = ["entailment", "neutral", "contradiction"]
MNLI_COLUMNS = [
    "index",
    "promptID",
    "pairID",
    "genre",
    "sentence1_binary_parse",
    "sentence2_binary_parse",
    "sentence1_parse",
    "sentence2_parse",
    "sentence1",
    "sentence2",
    "label1",
]


def mnli_rows(name):
    header, *lines = (SAMPLE / "mnli" / name).read_text(encoding="utf-8").splitlines()
    columns = header.split("\t")
    rows = [dict(zip(columns, line.split("\t"), strict=True)) for line in lines]
    return columns, rows


def test_mnli_train_has_glue_columns_and_balanced_labels():
    columns, rows = mnli_rows("train.tsv")
    assert columns == [*MNLI_COLUMNS, "gold_label"]
    assert len(rows) == 30
    assert balanced(Counter(row["gold_label"] for row in rows), MNLI_LABELS)
    assert {row["genre"] for row in rows} == {"fiction", "government", "slate", "telephone", "travel"}
    assert all(row["pairID"].startswith(row["promptID"]) for row in rows)


def test_mnli_dev_gold_labels_are_the_annotators_majority_or_dash():
    columns, rows = mnli_rows("dev_matched.tsv")
    assert columns == [*MNLI_COLUMNS, "label2", "label3", "label4", "label5", "gold_label"]
    labelled = [row for row in rows if row["gold_label"] != "-"]
    assert len(labelled) == 15 and len(rows) - len(labelled) >= 2
    assert balanced(Counter(row["gold_label"] for row in labelled), MNLI_LABELS)
    for row in rows:
        votes = Counter(row[f"label{k}"] for k in range(1, 6))
        label, count = votes.most_common(1)[0]
        assert set(votes) <= set(MNLI_LABELS)
        assert row["gold_label"] == (label if count >= 3 else "-"), row["pairID"]


# --- CaseHOLD ------------------------------------------------------------------------------------------------

CASEHOLD_COLUMNS = ["example_id", "citing_prompt", *(f"holding_{k}" for k in range(5)), "label"]


@pytest.mark.parametrize(("name", "size"), [("train.csv", 24), ("test.csv", 12)])
def test_casehold_prompts_mark_the_holding_and_labels_spread_over_five_options(name, size):
    with (SAMPLE / "casehold" / name).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == CASEHOLD_COLUMNS
        rows = list(reader)
    assert len(rows) == size
    for row in rows:
        assert row["citing_prompt"].count("(<HOLDING>)") == 1
        holdings = [row[f"holding_{k}"] for k in range(5)]
        assert all(h.startswith("holding that ") for h in holdings) and len(set(holdings)) == 5
    assert balanced(Counter(row["label"] for row in rows), [str(k) for k in range(5)])
    assert len({row["example_id"] for row in rows}) == size


# --- SQuAD ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "size", "answers"), [("train-v1.1.json", 30, (1, 1)), ("dev-v1.1.json", 15, (2, 3))]
)
def test_squad_answers_sit_at_their_answer_start(name, size, answers):
    document = json.loads((SAMPLE / "squad" / name).read_text(encoding="utf-8"))
    assert document["version"] == "1.1"
    ids = []
    for article in document["data"]:
        assert article["title"]
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                ids.append(qa["id"])
                assert qa["question"].endswith("?")
                assert answers[0] <= len(qa["answers"]) <= answers[1], qa["id"]
                for answer in qa["answers"]:
                    start = answer["answer_start"]
                    assert context[start : start + len(answer["text"])] == answer["text"], qa["id"]
    assert len(ids) == size and len(set(ids)) == size


# --- BBH -----------------------------------------------------------------------------------------------------


def bbh(subtask):
    document = json.loads((SAMPLE / "bbh" / f"{subtask}.json").read_text(encoding="utf-8"))
    assert set(document) == {"canary", "examples"} and document["canary"]
    assert len(document["examples"]) == 12
    assert all(set(example) == {"input", "target"} for example in document["examples"])
    return document["examples"]


def test_bbh_boolean_targets_are_what_the_expressions_evaluate_to():
    examples = bbh("boolean_expressions")
    for example in examples:
        expression = example["input"].removesuffix(" is")
        assert set(expression.split()) <= {"True", "False", "not", "and", "or", "(", ")"}, expression
        assert str(eval(expression)) == example["target"], expression
    assert balanced(Counter(example["target"] for example in examples), ["True", "False"])


def test_bbh_date_targets_name_one_of_six_dated_options():
    for example in bbh("date_understanding"):
        question, options = example["input"].split("\nOptions:\n")
        assert question.endswith("in MM/DD/YYYY?")
        letters = [
            re.fullmatch(r"\(([A-F])\) \d\d/\d\d/\d{4}", line).group(1) for line in options.split("\n")
        ]
        assert letters == list("ABCDEF")
        assert re.fullmatch(r"\([A-F]\)", example["target"])
        assert len(set(options.split("\n"))) == 6


def test_bbh_word_sorting_targets_are_the_listed_words_sorted():
    for example in bbh("word_sorting"):
        prefix = "Sort the following words alphabetically: List: "
        assert example["input"].startswith(prefix)
        assert example["target"] == " ".join(sorted(example["input"].removeprefix(prefix).split()))


# --- MCoNaLa -------------------------------------------------------------------------------------------------


def test_mconala_has_japanese_intents_and_python_snippets_that_parse():
    items = json.loads((SAMPLE / "mconala" / "ja_test.json").read_text(encoding="utf-8"))
    assert len(items) == 30
    assert len({item["question_id"] for item in items}) == 30
    for item in items:
        assert set(item) == {"question_id", "intent", "rewritten_intent", "snippet"}
        assert isinstance(item["question_id"], int)
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", item["intent"]), item["intent"]
        assert item["rewritten_intent"] is None or item["rewritten_intent"].strip()
        ast.parse(item["snippet"])
    assert any(item["rewritten_intent"] is None for item in items)
