"""Calibration through the training pipeline (tiny LLaMA): fitted on validation rows only, never on a test label;
saved beside the adapter and reused by a later evaluation of it; content-free priors from the model's own scores.
The sample's validation split has 8 items, under the guard's default minimum, so these runs lower the guard."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from conftest import FAST

from taskexpert.data.lengths import length_setting
from taskexpert.data.loading import load_splits
from taskexpert.models import calibration as calibration_module
from taskexpert.training.pipeline import train

LABELS = ("yes", "no", "maybe")  # the default task's labels

UNGUARDED = ["eval.calibration_guard.min_examples=1", "eval.calibration_guard.min_per_class=0"]
RUN = ["model=tiny_llama", *FAST, "trainer.max_steps=2", "trainer.limit_test_batches=null"]
SAMPLE = Path(__file__).parents[1] / "src" / "taskexpert" / "data" / "sample" / "ori_pqal.json"


def rows_of(run_dir, split=None):
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    return [row for row in rows if split is None or row["split"] == split]


def poisoned_sample(tmp_path, test_ids):
    """The bundled sample with every test item's gold label changed (yes -> no -> maybe -> yes)."""
    items = json.loads(SAMPLE.read_text())
    turn = {"yes": "no", "no": "maybe", "maybe": "yes"}
    for pmid in test_ids:
        items[pmid]["final_decision"] = turn[items[pmid]["final_decision"]]
    path = tmp_path / "poisoned" / "ori_pqal.json"
    path.parent.mkdir()
    path.write_text(json.dumps(items))
    return path


def test_offsets_are_fitted_on_validation_rows_alone(make_config, tmp_path, monkeypatch):
    """The fit receives the validation rows and nothing else; poisoning every test label changes the test
    metrics but not one offset. The training split is scored with the calibrated decision (what LLM2LLM reads)."""
    received = []
    fit_bias = calibration_module.fit_bias

    def spy(rows, labels, settings):
        received.append([row["id"] for row in rows])
        return fit_bias(rows, labels, settings)

    monkeypatch.setattr(calibration_module, "fit_bias", spy)
    clean_cfg = make_config(*RUN, *UNGUARDED, "eval.train=true", run_dir=tmp_path / "clean")
    clean = train(clean_cfg)
    splits = json.loads((tmp_path / "clean" / "splits.json").read_text())
    assert received == [splits["validation"]]

    stored = json.loads((tmp_path / "clean" / "adapter" / "calibration.json").read_text())
    assert stored["applied"] and stored["method"] == "bias" and stored["fit"]["examples"] == 8
    assert clean["calibration/applied"] == 1.0
    train_rows = rows_of(tmp_path / "clean", "train")
    assert any(row["pred"] != row["pred_uncalibrated"] for row in train_rows)
    assert clean["train/acc"] == sum(row["pred"] == row["gold"] for row in train_rows) / len(train_rows)
    for split in ("val", "test", "train"):  # both decisions reported
        rows = rows_of(tmp_path / "clean", split)
        uncalibrated = sum(row["pred_uncalibrated"] == row["gold"] for row in rows) / len(rows)
        assert clean[f"{split}/uncalibrated/acc"] == pytest.approx(uncalibrated)

    test_ids = load_splits(clean_cfg.data).ids()["test"]
    poisoned = train(
        make_config(
            *RUN, *UNGUARDED, f"data.path={poisoned_sample(tmp_path, test_ids)}", run_dir=tmp_path / "p"
        )
    )
    assert (
        json.loads((tmp_path / "p" / "adapter" / "calibration.json").read_text())["offsets"]
        == stored["offsets"]
    )
    assert (
        poisoned["test/uncalibrated/acc"] != clean["test/uncalibrated/acc"]
    )  # the poison did reach the test
    assert poisoned["val/macro_f1"] == clean["val/macro_f1"]


@pytest.mark.parametrize("method", ["bias", "content_free"])
def test_a_saved_adapter_decides_with_its_saved_offsets(method, make_config, tmp_path, caplog):
    """Evaluating the adapter again (init_adapter, no training) reuses calibration.json: same predictions."""
    first = train(make_config(*RUN, *UNGUARDED, f"eval.calibration={method}", run_dir=tmp_path / "first"))
    assert first["calibration/applied"] == 1.0
    adapter = tmp_path / "first" / "adapter"
    with caplog.at_level(logging.INFO, logger="taskexpert.training.calibration_setup"):
        again = train(
            make_config(
                *RUN,
                f"eval.calibration={method}",
                "trainer.max_steps=0",
                f"init_adapter={adapter}",
                run_dir=tmp_path / "again",
            )  # fmt: skip
        )
    assert "saved with init_adapter" in caplog.text  # reused, not refitted (the guard is at its default here)
    assert [(r["id"], r["pred"], r["pred_uncalibrated"]) for r in rows_of(tmp_path / "again")] == [
        (r["id"], r["pred"], r["pred_uncalibrated"]) for r in rows_of(tmp_path / "first")
    ]
    for key in ("test/acc", "test/macro_f1", "test/uncalibrated/macro_f1", f"calibration/offset_{LABELS[2]}"):
        assert again[key] == pytest.approx(first[key], abs=1e-6), key
    saved = json.loads((tmp_path / "again" / "adapter" / "calibration.json").read_text())
    assert saved["offsets"] == json.loads((adapter / "calibration.json").read_text())["offsets"]


def test_content_free_offsets_are_the_models_prior_on_empty_inputs(make_config, tmp_path):
    """The offsets equal -log of the label distribution the trained adapter gives "N/A" and empty inputs,
    scored here by hand outside the pipeline."""
    from peft import PeftModel

    from taskexpert.data.encoding import ExampleEncoder
    from taskexpert.models.label_sequences import score_task_labels
    from taskexpert.models.loading import load_model_and_tokenizer
    from taskexpert.tasks import build_task
    from taskexpert.training.calibration_setup import content_free_batch

    cfg = make_config(*RUN, "eval.calibration=content_free", "eval.content_free_inputs=[N/A,'']")
    metrics = train(cfg)
    base, tokenizer = load_model_and_tokenizer(cfg.model)
    model = PeftModel.from_pretrained(base, str(tmp_path / "run" / "adapter")).eval()
    encoder = ExampleEncoder(tokenizer, build_task(cfg.task), length_setting(cfg.data), "label")
    batch = content_free_batch(encoder, ["N/A", ""], LABELS)
    assert batch["lengths"][0] > batch["lengths"][1]  # "N/A" in both fields, then nothing in them
    scores = score_task_labels(model, batch, encoder.label_tokens, tokenizer.pad_token_id)
    by_hand = calibration_module.fit_content_free(
        scores.tolist(), LABELS, calibration_module.CalibrationSettings(method="content_free")
    )
    for label in LABELS:
        assert metrics[f"calibration/offset_{label}"] == pytest.approx(by_hand.offsets[label], abs=1e-5)


def test_generate_mode_says_calibration_does_not_apply(make_config, caplog):
    with caplog.at_level(logging.INFO, logger="taskexpert.models.module"):
        metrics = train(make_config(*RUN, "eval.mode=generate", "eval.max_new_tokens=2"))
    assert metrics["calibration/applied"] == 0.0 and "eval.mode=generate" in metrics["calibration/note"]
    assert "eval.mode=generate gives no label scores" in caplog.text
    assert not any("uncalibrated" in key for key in metrics)


def test_any_task_with_labels_is_calibrated_over_its_own_labels(make_config, tmp_path):
    """TREC's six classes (the task layer supplies them); a task without labels says calibration does not apply."""
    trec = train(make_config("task=trec", *RUN, *UNGUARDED, run_dir=tmp_path / "trec"))
    labels = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    stored = json.loads((tmp_path / "trec" / "adapter" / "calibration.json").read_text())
    assert stored["labels"] == labels and set(stored["offsets"]) == set(labels)
    assert all(f"calibration/offset_{label}" in trec for label in labels)
    assert "test/uncalibrated/macro_f1" in trec and "val/uncalibrated/acc" in trec

    answers = train(make_config("task=gsm8k", *RUN, "eval.max_new_tokens=2", run_dir=tmp_path / "gsm8k"))
    assert answers["calibration/applied"] == 0.0 and "no labels" in answers["calibration/note"]
    assert not (tmp_path / "gsm8k" / "adapter" / "calibration.json").exists()
    assert not any("uncalibrated" in key for key in answers)
