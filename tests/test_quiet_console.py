"""The console of a tiny training: our lines, then our table; third-party chatter only with --verbose."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT, compose_config

from taskexpert.models.tiny import tiny_model_dir

# Lines of ours a run may print before its results table: the parameter counts, and each evaluated split's
# summary (models/module.py).
OUR_LINES = (
    "precision: ",
    "parameters: ",
    "calibration (",
    "val: ",
    "test: ",
    "train: ",
    "validation: ",
    "max_length ",
)
QUIETING_VARIABLES = ("WANDB_SILENT", "HF_HUB_DISABLE_PROGRESS_BARS")  # the test must not set what we set


def run_merged(args: list[str], tmp_path) -> list[str]:
    """stdout and stderr in the order a terminal shows them."""
    env = {key: value for key, value in os.environ.items() if key not in QUIETING_VARIABLES}
    env.update(HF_HUB_OFFLINE="1", WANDB_MODE="offline")
    result = subprocess.run(
        [sys.executable, "train.py", *args, f"paths.output_root={tmp_path / 'outputs'}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    return [line for line in result.stdout.splitlines() if line.strip()]


def test_a_tiny_training_prints_only_our_lines_before_its_table(tmp_path):
    """W&B offline and checkpoints on, as by default: the run that used to print ~8 lines of notices first."""
    lines = run_merged(["model=tiny_llama", "trainer=fast", "logger=wandb"], tmp_path)
    title = next(index for index, line in enumerate(lines) if "tiny_llama + lora" in line)
    before = lines[:title]
    assert [line for line in before if not line.startswith(OUR_LINES)] == [], "\n".join(before)
    assert len(before) <= 8
    after = lines[title:]
    assert any(line.startswith("Run directory:") for line in after)
    assert not any(line.startswith("wandb:") for line in after)


def test_verbose_dry_run_of_a_local_model_directory(tmp_path):
    """One command, three promises: `model=local model.path=DIR` is sized from DIR/config.json exactly as the
    real model counts; a dry run writes nothing but Hydra's files under dry_runs/; and --verbose shows what the
    quiet console hides (transformers' deprecation notice, met while PEFT wraps the model)."""
    from taskexpert.models.adapters import apply_adapter, count_parameters
    from taskexpert.models.loading import load_model_and_tokenizer

    model_dir = tiny_model_dir("llama")
    cfg = compose_config(["model=local", f"model.path={model_dir}"], tmp_path / "unused")
    trainable, total = count_parameters(
        apply_adapter(load_model_and_tokenizer(cfg.model)[0], cfg.peft, False)
    )
    lines = run_merged(["model=local", f"model.path={model_dir}", "dry_run=true", "--verbose"], tmp_path)
    assert f"  total parameters:     {total:,}" in lines
    assert any(line.startswith(f"  trainable parameters: {trainable:,} ") for line in lines)
    import peft
    from packaging.version import Version

    if Version(peft.__version__) < Version("0.22"):  # peft 0.22 no longer reads the deprecated property
        assert any("`is_gradient_checkpointing` is deprecated" in line for line in lines), "\n".join(lines)
    assert [path.name for path in (tmp_path / "outputs").iterdir()] == ["dry_runs"]
