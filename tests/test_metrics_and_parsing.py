"""Metrics match scikit-learn; the generate-and-parse label reader handles its edge cases (on PubMedQA's labels
and answer phrase, read from conf/task/pubmedqa.yaml)."""

import random

import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from taskexpert.metrics import classification_metrics
from taskexpert.tasks import load_task
from taskexpert.tasks.kinds.classification import parse_label

TASK = load_task("pubmedqa")
LABELS = list(TASK.labels)
ANSWER_PHRASE = TASK.generate.answer_phrase
assert LABELS == ["yes", "no", "maybe"] and TASK.generate.default_label == "maybe"


def parse_answer(text, phrase=ANSWER_PHRASE, window=40, default="maybe"):
    return parse_label(text, LABELS, phrase, window, default)


def metrics_of(gold, pred, prefix=""):
    return classification_metrics(gold, pred, LABELS, prefix)


def sklearn_reference(gold, pred):
    per_class = f1_score(gold, pred, labels=LABELS, average=None, zero_division=0)
    return {
        "acc": accuracy_score(gold, pred),
        "macro_f1": f1_score(gold, pred, labels=LABELS, average="macro", zero_division=0),
        **{f"f1_{label}": per_class[i] for i, label in enumerate(LABELS)},
        "confusion": confusion_matrix(gold, pred, labels=LABELS).tolist(),
    }


def assert_matches_sklearn(gold, pred, prefix=""):
    ours = metrics_of(gold, pred, prefix=prefix)
    reference = sklearn_reference(gold, pred)
    assert set(ours) == {prefix + key for key in reference}
    for key, value in reference.items():
        if key == "confusion":
            assert ours[prefix + key] == value
        else:
            assert isinstance(ours[prefix + key], float)
            assert ours[prefix + key] == pytest.approx(value, abs=1e-12)


# --- metrics -------------------------------------------------------------------------------------


def test_metrics_by_hand():
    gold = ["yes", "yes", "yes", "no", "no", "maybe"]
    pred = ["yes", "yes", "no", "no", "maybe", "maybe"]
    metrics = metrics_of(gold, pred)
    assert metrics["acc"] == pytest.approx(4 / 6)
    # yes: P=2/2 R=2/3 -> 0.8; no: P=1/2 R=1/2 -> 0.5; maybe: P=1/2 R=1/1 -> 2/3
    assert metrics["f1_yes"] == pytest.approx(0.8)
    assert metrics["f1_no"] == pytest.approx(0.5)
    assert metrics["f1_maybe"] == pytest.approx(2 / 3)
    assert metrics["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    # rows gold, columns predicted, in the order yes, no, maybe
    assert metrics["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert_matches_sklearn(gold, pred)


def test_metrics_fixed_cases_match_sklearn():
    assert_matches_sklearn(["yes", "no", "maybe"], ["yes", "no", "maybe"])  # perfect
    assert_matches_sklearn(["yes", "no", "maybe"], ["no", "maybe", "yes"])  # all wrong
    assert_matches_sklearn(["yes", "yes", "no", "no"], ["yes", "no", "no", "no"])  # no maybe anywhere
    assert_matches_sklearn(["yes"] * 5, ["maybe"] * 5)


def test_absent_class_counts_as_zero_in_macro_f1():
    # 'maybe' never occurs: macro-F1 still averages over all three labels
    metrics = metrics_of(["yes", "no"], ["yes", "no"])
    assert metrics["f1_maybe"] == 0.0
    assert metrics["macro_f1"] == pytest.approx(2 / 3)
    assert metrics["confusion"] == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]


@pytest.mark.parametrize("seed", range(6))
def test_metrics_random_predictions_match_sklearn(seed):
    rng = random.Random(seed)
    size = rng.randint(5, 400)
    gold = rng.choices(LABELS, weights=[55, 34, 11], k=size)
    pred = [label if rng.random() < 0.6 else rng.choice(LABELS) for label in gold]
    assert_matches_sklearn(gold, pred, prefix="val/")
    assert sum(map(sum, metrics_of(gold, pred)["confusion"])) == size


def test_metrics_prefix():
    metrics = metrics_of(["yes"], ["yes"], prefix="test/")
    assert set(metrics) == {
        "test/acc",
        "test/macro_f1",
        "test/f1_yes",
        "test/f1_no",
        "test/f1_maybe",
        "test/confusion",
    }


# --- answer parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize("label", LABELS)
def test_parse_each_label(label):
    assert parse_answer(f"Some reasoning first. {ANSWER_PHRASE} {label}.") == (label, True)


def test_parse_is_case_insensitive():
    assert parse_answer("THE ANSWER TO THE QUESTION GIVEN THE CONTEXT IS No.") == ("no", True)
    assert parse_answer("The Answer To The Question Given The Context Is YES!") == ("yes", True)


def test_missing_phrase_gives_maybe_unparsed():
    assert parse_answer("yes, definitely yes") == ("maybe", False)
    assert parse_answer("") == ("maybe", False)
    assert parse_answer("the answer to the question is yes") == ("maybe", False)


def test_phrase_without_label_word_gives_default():
    assert parse_answer(f"{ANSWER_PHRASE} unclear from these data.") == ("maybe", False)
    assert parse_answer(ANSWER_PHRASE) == ("maybe", False)


def test_label_word_just_inside_the_window_is_taken():
    # the window counts characters after the phrase: 37 spaces + 'yes' ends exactly at character 40
    assert parse_answer(ANSWER_PHRASE + " " * 37 + "yes") == ("yes", True)
    assert parse_answer(ANSWER_PHRASE + " " * 35 + "maybe", window=40) == ("maybe", True)


@pytest.mark.parametrize("padding", [38, 40, 41, 80])
def test_label_word_beyond_the_window_is_not_taken(padding):
    assert parse_answer(ANSWER_PHRASE + " " * padding + "yes") == ("maybe", False)


@pytest.mark.parametrize("word", ["yesterday", "nothing", "maybelline"])
def test_word_cut_by_the_window_edge_is_not_a_label(word):
    # the first letters of the word fit in the window; the rest of the word runs past its edge
    label = next(label for label in LABELS if word.startswith(label))
    text = ANSWER_PHRASE + " " * (40 - len(label)) + word + " and then no"
    assert parse_answer(text) == ("maybe", False)


def test_custom_window():
    text = f"{ANSWER_PHRASE} after a long and careful weighing of it all: no"
    assert parse_answer(text) == ("maybe", False)
    assert parse_answer(text, window=100) == ("no", True)


def test_first_label_word_wins():
    assert parse_answer(f"{ANSWER_PHRASE} no, not yes, maybe") == ("no", True)
    assert parse_answer(f"{ANSWER_PHRASE} maybe yes") == ("maybe", True)


def test_only_text_after_the_first_phrase_counts():
    text = f"yes yes yes. {ANSWER_PHRASE} no. {ANSWER_PHRASE} yes."
    assert parse_answer(text) == ("no", True)


@pytest.mark.parametrize("text", ["nothing is certain", "yesterday it was", "nobody knows", "maybes"])
def test_word_boundaries(text):
    assert parse_answer(f"{ANSWER_PHRASE} {text}") == ("maybe", False)


def test_word_boundaries_find_the_later_whole_word():
    assert parse_answer(f"{ANSWER_PHRASE} nothing but yes") == ("yes", True)
    assert parse_answer(f"{ANSWER_PHRASE} yesterday's data say no.") == ("no", True)
    assert parse_answer(f"{ANSWER_PHRASE}: yes-or-no? maybe") == ("yes", True)


def test_custom_default_and_phrase():
    assert parse_answer("no phrase here", default="no") == ("no", False)
    assert parse_answer(f"{ANSWER_PHRASE} unclear", default="yes") == ("yes", False)
    assert parse_answer("Final decision: Maybe.", phrase="final decision:") == ("maybe", True)
