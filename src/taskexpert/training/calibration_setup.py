"""The run's side of calibrated decisions: settings from the config, what the final validation fits (or which
saved offsets it reuses), and the content-free inputs of "Calibrate Before Use"."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from taskexpert.data.collate import EvalCollator
from taskexpert.data.encoding import ExampleEncoder
from taskexpert.models.calibration import CalibrationPlan, CalibrationSettings, decision_metric, describe
from taskexpert.models.calibration_file import CALIBRATION_FILE, load_calibration, save_calibration
from taskexpert.records import Record

log = logging.getLogger(__name__)

EVAL_KEYS = (
    "calibration",
    "calibration_guard",
    "content_free_inputs",
)  # eval.* keys read here, not by the module


def calibration_settings(cfg: DictConfig, labels: Sequence[str]) -> CalibrationSettings:
    evaluation = cfg.eval
    guard = OmegaConf.to_container(evaluation.get("calibration_guard") or {}, resolve=True)
    metric, note = decision_metric(str(cfg.optimized_metric), labels)
    method = str(evaluation.get("calibration") or "none")
    if note and method == "bias" and labels:  # a task without labels has nothing to calibrate: no warning
        log.warning("calibration: %s", note)
    inputs = evaluation.get("content_free_inputs")
    return CalibrationSettings(
        method=method,
        metric=metric,
        content_free_inputs=tuple(str(text) for text in inputs)
        if inputs is not None
        else ("N/A", "", "[MASK]"),
        **{
            key: value
            for key, value in guard.items()
            if key in ("min_examples", "min_per_class", "shrinkage")
        },
    )


def content_free_batch(
    encoder: ExampleEncoder, texts: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """The content-free inputs as one evaluation batch: every input field holds the same text ("N/A", "")."""
    records = [
        Record(
            id=f"content-free-{index}",
            inputs={name: text for name in encoder.task.input_fields},
            target=labels[0],
        )
        for index, text in enumerate(texts)
    ]
    examples = encoder.encode(records, "the content-free inputs")
    return EvalCollator(encoder.tokenizer.pad_token_id)(examples)


def prepare_calibration(
    cfg: DictConfig, module, encoder: ExampleEncoder, labels: Sequence[str], trained: bool
) -> None:
    """Before the final validation: reuse the offsets saved with `init_adapter` when this run did not train it
    further (they belong to those weights), else have the final validation fit them per `eval.calibration`."""
    settings = calibration_settings(cfg, labels)
    labels = tuple(labels)
    if cfg.get("init_adapter") and not trained and settings.method != "none":
        stored = load_calibration(cfg.init_adapter, labels)
        if stored is not None and stored.method == settings.method:
            module.calibration, module.calibration_plan = stored, None
            log.info("%s (saved with init_adapter %s)", describe(stored), cfg.init_adapter)
            return
    scores_exist = module.eval_settings.mode == "label" and bool(labels)  # the mode the task resolved
    batch = None
    if settings.method == "content_free" and scores_exist:
        batch = content_free_batch(encoder, settings.content_free_inputs, labels)
    module.calibration_plan = CalibrationPlan(settings, labels, scores_exist, batch)


def save_beside_adapter(module, export_dir: Path) -> None:
    """calibration.json beside the exported adapter, so every later use decides as this run did."""
    calibration = module.calibration
    if calibration is not None and calibration.method != "none" and calibration.labels:
        save_calibration(export_dir, calibration)
    else:  # a file left by an earlier run in this directory would decide for weights it was not fitted to
        (export_dir / CALIBRATION_FILE).unlink(missing_ok=True)
