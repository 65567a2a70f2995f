"""The kinds' readers and metrics: final answers (GSM8K's `####`, BBH's answer phrase), SQuAD's exact match and
F1 with the official normalisation, BLEU by sacrebleu, and classification over any label set."""

from __future__ import annotations

import pytest
import sacrebleu

from taskexpert.records import Record
from taskexpert.tasks import build_task
from taskexpert.tasks.kinds.answer import normalise_answer
from taskexpert.tasks.kinds.classification import parse_label
from taskexpert.tasks.kinds.span import exact_match, normalize_answer, token_f1


def task_of(kind, **overrides):
    config = {
        "name": "t",
        "kind": kind,
        "inputs": ["question"],
        "prompt": {"input": "Q: {question}\nA:", "decision": " {answer}"},
        "targets": {"answer": ["decision"], "solution": ["reference"]},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return build_task(config)


def rows(pairs):
    return [
        {"id": str(i), "gold": golds[0], "golds": list(golds), "pred": pred, "parsed": bool(pred)}
        for i, (pred, golds) in enumerate(pairs)
    ]


# --- answer --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "text", "expected"),
    [
        ("final_answer", "She has 48/2 = <<48/2=24>>24 left.\n#### 1,200", ("1200", True)),
        ("final_answer", "#### $18.00 dollars", ("18", True)),
        ("final_answer", "The answer is 72.", ("", False)),
        ("last_number", "3 apples and 4 pears make 7.", ("7", True)),
        ("last_number", "no number here", ("", False)),
        ("final_answer_or_last_number", "so 5 + 2 = 7 #### 7", ("7", True)),
        ("final_answer_or_last_number", "so 5 + 2 = 7", ("7", True)),
    ],
)
def test_number_rules(rule, text, expected):
    task = task_of("answer", generate={"answer_rule": rule})
    assert task.kind.read_generated(task, text) == expected


def test_the_after_phrase_rule_reads_text_answers():
    task = task_of("answer", generate={"answer_rule": "after_phrase", "answer_phrase": "So the answer is"})
    assert task.kind.read_generated(task, "Let's think. So the answer is (B).\nMore text") == ("(B)", True)
    assert task.kind.read_generated(task, "so THE ANSWER IS  True") == ("True", True)
    assert task.kind.read_generated(task, "I am not sure.") == ("", False)


def test_exact_match_compares_normalised_answers_and_counts_parse_failures():
    task = task_of("answer")
    assert normalise_answer("72.0") == normalise_answer("72") == "72"
    assert normalise_answer(" (A). ") == "(A)"
    metrics = task.kind.metrics(
        task, rows([("72.0", ["72"]), ("", ["5"]), ("6", ["7"]), ("1200", ["1,200"])]), "test/"
    )
    assert metrics == {"test/exact_match": 0.5, "test/parse_failure_rate": 0.25}
    assert task.is_correct("1,200", ["1200"]) and not task.is_correct("", ["0"])


# --- span ----------------------------------------------------------------------------------------


def test_squad_normalisation_and_scores_by_hand():
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert normalize_answer("An apple a day") == "apple day"
    assert exact_match("the Eiffel Tower.", "Eiffel tower") == 1.0
    # "big cat" against "cat": precision 1/2, recall 1, F1 2/3
    assert token_f1("the big cat", "a cat") == pytest.approx(2 / 3)
    assert token_f1("dog", "cat") == 0.0
    assert token_f1("", "cat") == 0.0  # as the v1.1 script


def test_span_metrics_take_the_best_gold_answer():
    task = task_of("span")
    pairs = [
        ("Denver Broncos", ["Broncos", "Denver Broncos"]),
        ("in 1990", ["1991", "the year 1990"]),
        ("", ["x"]),
    ]
    metrics = task.kind.metrics(task, rows(pairs), "val/")
    # EM: 1, 0, 0; F1: 1, max(0, 2*(1/2*1/2)/(1/2+1/2)=1/2), 0
    assert metrics["val/exact_match"] == pytest.approx(1 / 3)
    assert metrics["val/f1"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert metrics["val/parse_failure_rate"] == pytest.approx(1 / 3)


def test_span_golds_are_every_answer_of_the_record():
    task = task_of("span")
    record = Record(
        id="q", inputs={"question": "Q?"}, target="Denver", meta={"answers": ["Denver", "the Broncos"]}
    )
    assert task.golds(record) == ("Denver", "the Broncos")


def test_bleu_is_sacrebleus_corpus_bleu():
    task = task_of("span", metrics=["bleu", "exact_match"])
    predictions = ["print(x)", "return sorted(a, key=len)", "os.remove(path)"]
    references = ["print(x)", "return sorted(a, key=lambda s: len(s))", "os.unlink(path)"]
    metrics = task.kind.metrics(task, rows(zip(predictions, [[r] for r in references], strict=True)), "test/")
    expected = sacrebleu.corpus_bleu(predictions, [references]).score
    assert metrics["test/bleu"] == pytest.approx(expected) and 0 < expected < 100
    assert metrics["test/exact_match"] == pytest.approx(1 / 3)
    assert "test/f1" not in metrics


def test_span_reader_stops_at_the_line_break_and_drops_the_closing_text():
    task = task_of(
        "span",
        prompt={"input": "Q: {question}\nA:", "decision": " The answer is {answer}."},
        generate={"answer_phrase": "The answer is"},
    )
    assert task.kind.read_generated(task, " The answer is Denver Broncos.\nQ: next") == (
        "Denver Broncos",
        True,
    )
    assert task.kind.read_generated(task, "I do not know") == ("", False)
    code = task_of("span", generate={"stop_at_newline": False})
    assert code.kind.read_generated(code, " for x in a:\n    print(x)") == ("for x in a:\n    print(x)", True)


# --- classification over any labels --------------------------------------------------------------


def test_label_words_of_any_task_are_found_whole_and_longest_first():
    labels = ["entailment", "neutral", "contradiction"]
    assert parse_label("It is Neutral, I think", labels, None, 100, None) == ("neutral", True)
    assert parse_label("contradictions abound; entailment", labels, None, 100, None) == ("entailment", True)
    letters = ["(A)", "(B)", "(C)"]
    assert parse_label("the answer is (B).", letters, "the answer is", 10, None) == ("(B)", True)
    assert parse_label("no phrase here (A)", letters, "the answer is", 10, "(C)") == ("(C)", False)
    assert parse_label("the answer is nothing", ["no", "nothing"], "the answer is", 20, None) == (
        "nothing",
        True,
    )
