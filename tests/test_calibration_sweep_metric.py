"""What a sweeper ranks trials by when calibration is on: bias offsets are fitted on the validation items
themselves, so the calibrated validation metric is optimistic and the sweeper gets the plain argmax's instead."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import FAST

from taskexpert.entry import run_training
from taskexpert.training.results import sweep_metric_name

# 30 validation items: the calibration guard's default minimum, so the offsets are fitted and applied
THIRTY_FOR_VALIDATION = ["data.split.train_size=14", "data.split.val_size=30", "data.split.test_size=16"]


def test_the_sweeper_gets_the_uncalibrated_validation_metric(make_config):
    cfg = make_config(
        "model=tiny_llama",
        *FAST,
        "trainer.max_steps=1",
        "trainer.limit_val_batches=null",
        "eval.calibration=bias",
        *THIRTY_FOR_VALIDATION,
    )
    returned = run_training(cfg)
    metrics = json.loads((Path(cfg.paths.run_dir) / "metrics.json").read_text())
    assert cfg.optimized_metric == "val/macro_f1"
    assert metrics["calibration/applied"] == 1.0, metrics["calibration/note"]
    # the fit raised the calibrated metric above the plain argmax's: what the sweeper must not see
    assert metrics["val/macro_f1"] > metrics["val/uncalibrated/macro_f1"]
    assert returned == metrics["val/uncalibrated/macro_f1"]


def test_only_offsets_fitted_on_validation_labels_are_set_aside():
    calibrated = {"val/acc": 0.9, "val/uncalibrated/acc": 0.6, "test/acc": 0.7, "test/uncalibrated/acc": 0.5}
    bias = {**calibrated, "calibration/applied": 1.0, "calibration/method": "bias"}
    assert sweep_metric_name("val/acc", bias) == "val/uncalibrated/acc"
    assert sweep_metric_name("test/acc", bias) == "test/acc"  # the offsets never saw a test label
    content_free = {**calibrated, "calibration/applied": 1.0, "calibration/method": "content_free"}
    assert sweep_metric_name("val/acc", content_free) == "val/acc"  # fitted on no validation label
    assert sweep_metric_name("val/acc", {**bias, "calibration/applied": 0.0}) == "val/acc"
    assert sweep_metric_name("val/loss", bias) == "val/loss"  # no uncalibrated twin: the loss has no decision
