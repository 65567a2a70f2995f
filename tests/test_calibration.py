"""Calibrated decisions on label scores we build by hand: the offset search, its guard, content-free priors,
saving and reloading, and any label set."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from taskexpert.errors import ConfigError
from taskexpert.models.calibration import (
    CalibrationPlan,
    CalibrationSettings,
    calibrate_rows,
    calibrated_results,
    content_free_prior,
    decision_metric,
    fit_bias,
    fit_content_free,
)
from taskexpert.models.calibration_file import load_calibration, save_calibration
from taskexpert.models.offset_search import metric_values

LABELS = ("yes", "no", "maybe")
OPEN = CalibrationSettings(method="bias", min_examples=1, min_per_class=0)  # no guard


def imbalanced_rows(n=90, seed=0, labels=LABELS, prior=(1.0, 0.0, -2.5), shares=(0.5, 0.3, 0.2)):
    """Rows whose scores carry the right label's signal plus a prior that buries the last label: it is never
    the argmax, though its items score it higher than the other items do."""
    rng = np.random.default_rng(seed)
    gold = rng.choice(len(labels), size=n, p=shares)
    scores = rng.normal(0, 0.6, size=(n, len(labels))) + np.array(prior)[None, :]
    scores[np.arange(n), gold] += 1.5
    return [
        {
            "id": f"r{i}",
            "gold": labels[g],
            "pred": labels[int(np.argmax(s))],
            "scores": dict(zip(labels, s, strict=True)),
        }
        for i, (g, s) in enumerate(zip(gold, scores.tolist(), strict=True))
    ]


def macro_f1(rows, labels=LABELS) -> float:
    return f1_score(
        [r["gold"] for r in rows], [r["pred"] for r in rows], labels=list(labels), average="macro"
    )


def test_decision_metrics_equal_scikit_learns():
    rng = np.random.default_rng(3)
    gold = rng.integers(0, 3, size=40)
    gold[gold == 2] = 0  # a label absent from gold: its F1 follows scikit-learn's zero_division=0
    predictions = rng.integers(0, 3, size=(5, 40))
    accuracy, macro = (metric_values(gold, predictions, 3, name, LABELS) for name in ("acc", "macro_f1"))
    f1_no, f1_maybe = (metric_values(gold, predictions, 3, name, LABELS) for name in ("f1_no", "f1_maybe"))
    for index, row in enumerate(predictions):
        expected = f1_score(gold, row, labels=[0, 1, 2], average=None, zero_division=0)
        assert accuracy[index] == pytest.approx(accuracy_score(gold, row))
        assert macro[index] == pytest.approx(expected.mean())
        assert [f1_no[index], f1_maybe[index]] == pytest.approx(expected[1:])


def test_a_label_never_predicted_is_recovered_and_validation_macro_f1_rises():
    rows = imbalanced_rows()
    assert all(row["pred"] != "maybe" for row in rows)  # before: never the argmax
    calibration = fit_bias(rows, LABELS, OPEN)
    calibrated = calibrate_rows(rows, calibration)
    assert calibration.applied and calibration.offsets["maybe"] > 0
    assert sum(row["pred"] == "maybe" for row in calibrated) > 0
    assert macro_f1(calibrated) > macro_f1(rows) + 0.1
    assert calibration.fit["after_macro_f1"] == pytest.approx(macro_f1(calibrated))
    assert calibration.fit["before_macro_f1"] == pytest.approx(macro_f1(rows))
    assert sum(calibration.offsets.values()) == pytest.approx(
        0.0, abs=1e-9
    )  # centred: only differences count
    # and it carries over to new rows drawn the same way
    held_out = imbalanced_rows(seed=1)
    assert macro_f1(calibrate_rows(held_out, calibration)) > macro_f1(held_out) + 0.1


def test_the_search_maximises_the_metric_it_is_given_and_is_deterministic():
    rows = imbalanced_rows(seed=5)
    by_accuracy = fit_bias(rows, LABELS, CalibrationSettings(metric="acc", min_examples=1, min_per_class=0))
    by_f1 = fit_bias(rows, LABELS, OPEN)
    assert by_accuracy.fit["metric"] == "acc" and by_f1.fit["metric"] == "macro_f1"
    assert by_accuracy.fit["after_acc"] >= by_f1.fit["after_acc"]
    assert by_f1.fit["after_macro_f1"] >= by_accuracy.fit.get("after_macro_f1", 0.0)
    reordered = list(reversed(rows))
    assert fit_bias(reordered, LABELS, OPEN).offsets == fit_bias(rows, LABELS, OPEN).offsets


def test_nothing_moves_without_a_gain():
    rows = imbalanced_rows(prior=(0.0, 0.0, 0.0))
    perfect = [{**row, "scores": {label: float(label == row["gold"]) for label in LABELS}} for row in rows]
    calibration = fit_bias(perfect, LABELS, OPEN)
    assert not calibration.applied and "no offsets raise" in calibration.note
    assert calibration.offsets == {"yes": 0.0, "no": 0.0, "maybe": 0.0}


def test_the_guard_turns_calibration_off_on_a_small_validation_split_and_says_so():
    rows = imbalanced_rows(n=20)
    small = fit_bias(rows, LABELS, CalibrationSettings(min_examples=30, min_per_class=1))
    assert not small.applied and "20 items" in small.note and "min_examples=30" in small.note
    assert calibrate_rows(rows, small) and [r["pred"] for r in calibrate_rows(rows, small)] == [
        r["pred"] for r in rows
    ]  # off means zero offsets: the same decisions
    no_maybe = [row for row in imbalanced_rows(n=120) if row["gold"] != "maybe"]
    scarce = fit_bias(no_maybe, LABELS, CalibrationSettings(min_examples=30, min_per_class=1))
    assert not scarce.applied and "0 'maybe' items" in scarce.note
    assert (
        scarce.summary()["calibration/applied"] == 0.0
        and "min_per_class" in scarce.summary()["calibration/note"]
    )


def test_shrinkage_pulls_the_offsets_towards_zero():
    rows = imbalanced_rows()
    full = fit_bias(rows, LABELS, OPEN)
    shrunk = fit_bias(rows, LABELS, CalibrationSettings(min_examples=1, min_per_class=0, shrinkage=90))
    assert shrunk.fit["shrink_factor"] == pytest.approx(0.5)
    for label in LABELS:
        assert shrunk.offsets[label] == pytest.approx(full.offsets[label] / 2)


def test_offsets_saved_and_reloaded_give_identical_predictions(tmp_path):
    rows = imbalanced_rows()
    calibration = fit_bias(rows, LABELS, OPEN)
    save_calibration(tmp_path, calibration)
    reloaded = load_calibration(tmp_path, LABELS)
    assert reloaded == calibration
    assert calibrate_rows(rows, reloaded) == calibrate_rows(rows, calibration)
    assert json.loads((tmp_path / "calibration.json").read_text())["labels"] == list(LABELS)
    assert load_calibration(tmp_path / "elsewhere", LABELS) is None
    with pytest.raises(ConfigError, match="labels"):
        load_calibration(tmp_path, ("positive", "negative"))


def test_calibrated_rows_keep_the_raw_scores_and_the_argmax():
    rows = imbalanced_rows()
    calibration = fit_bias(rows, LABELS, OPEN)
    for before, after in zip(rows, calibrate_rows(rows, calibration), strict=True):
        assert after["scores"] == before["scores"] and after["pred_uncalibrated"] == before["pred"]
        adjusted = after["calibrated_scores"]
        assert after["pred"] == max(LABELS, key=adjusted.get)


def test_metrics_name_the_calibrated_and_the_uncalibrated_decisions():
    rows = imbalanced_rows()
    calibration = fit_bias(rows, LABELS, OPEN)

    def metrics_of(rows, prefix):
        return {f"{prefix}macro_f1": macro_f1(rows)}

    calibrated, metrics = calibrated_results(rows, calibration, metrics_of, "test/")
    assert metrics["test/uncalibrated/macro_f1"] == pytest.approx(macro_f1(rows))
    assert metrics["test/macro_f1"] == pytest.approx(macro_f1(calibrated))
    assert metrics["test/macro_f1"] > metrics["test/uncalibrated/macro_f1"]


def test_content_free_prior_is_divided_out():
    # two content-free inputs whose label distributions average to (0.6, 0.3, 0.1)
    distributions = np.array([[0.7, 0.2, 0.1], [0.5, 0.4, 0.1]])
    scores = np.log(distributions) - 3.0  # log-probabilities over a vocabulary: a constant per row
    assert content_free_prior(scores) == pytest.approx([0.6, 0.3, 0.1])
    calibration = fit_content_free(scores, LABELS, CalibrationSettings(method="content_free"))
    assert calibration.applied and calibration.method == "content_free"
    # adjusted scores of the prior itself are equal: the content-free answer becomes uniform (Zhao et al.)
    adjusted = calibration.adjusted(dict(zip(LABELS, np.log([0.6, 0.3, 0.1]), strict=True)))
    assert max(adjusted.values()) - min(adjusted.values()) == pytest.approx(0.0, abs=1e-9)
    assert calibration.offsets["maybe"] - calibration.offsets["yes"] == pytest.approx(np.log(6))


def test_content_free_fitting_reads_no_label_and_the_plan_scores_its_batch():
    seen = []

    def score_batch(batch):
        seen.append(batch)
        return [[-1.0, -2.0, -3.0]]

    settings = CalibrationSettings(method="content_free", content_free_inputs=("N/A",))
    plan = CalibrationPlan(settings, LABELS, True, {"ids": ["content-free-0"]})
    calibration = plan.fit([], score_batch)  # no validation rows at all
    assert seen == [{"ids": ["content-free-0"]}] and calibration.applied
    assert calibration.fit["seconds"] >= 0


def test_generate_mode_has_nothing_to_calibrate():
    plan = CalibrationPlan(CalibrationSettings(method="bias"), LABELS, scores_exist=False)
    calibration = plan.fit(imbalanced_rows(), lambda batch: [])
    assert not calibration.applied and "eval.mode=generate" in calibration.note


def test_any_label_set():
    labels = ("entailment", "neutral", "contradiction", "unrelated")
    rows = imbalanced_rows(n=160, labels=labels, prior=(1.0, 0.5, 0.0, -3.0), shares=(0.4, 0.3, 0.2, 0.1))
    assert all(row["pred"] != "unrelated" for row in rows)
    calibration = fit_bias(rows, labels, OPEN)
    assert calibration.labels == labels and set(calibration.offsets) == set(labels)
    assert macro_f1(calibrate_rows(rows, calibration), labels) > macro_f1(rows, labels)


def test_the_decision_metric_follows_optimized_metric():
    assert decision_metric("val/macro_f1", LABELS) == ("macro_f1", None)
    assert decision_metric("val/acc", LABELS) == ("acc", None)
    assert decision_metric("val/f1_maybe", LABELS) == ("f1_maybe", None)
    metric, note = decision_metric("val/loss", LABELS)
    assert metric == "macro_f1" and "val/loss" in note


def test_unknown_method_is_a_config_error():
    with pytest.raises(ConfigError, match="eval.calibration='platt'"):
        CalibrationSettings(method="platt")
