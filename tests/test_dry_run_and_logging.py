"""The weight-free size check from the command line, and what loggers receive."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, compose_config

from taskexpert.models.sizing import estimate_size
from taskexpert.training.config_logging import REDACTED, redact


def run_cli(*overrides: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "train.py", *overrides],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_llama_7b_lora_dry_run_from_the_command_line(tmp_path):
    out = run_cli("model=llama_7b", "peft=lora", "dry_run=true", f"paths.output_root={tmp_path}")
    assert "trainable parameters: 4,194,304" in out
    assert "total parameters:     6,742,609,920" in out  # LLaMA-7b's 6,738,415,616 plus the adapter
    assert "training memory" in out


@pytest.mark.parametrize(
    ("model", "peft", "expected"),
    [
        ("biogpt_large", ["peft=lora"], 48 * 4 * (1600 * 4 + 4 * 1600)),  # layers x (q,k,v,out) x (A + B)
        ("biogpt_large", ["peft=prefix"], 32 * 48 * 2 * 1600),  # virtual tokens x layers x (k, v) x hidden
        ("llama_7b", ["peft=prefix", "peft.num_virtual_tokens=256"], 256 * 32 * 2 * 4096),
    ],
)
def test_dry_run_counts_equal_peft_and_arithmetic(model, peft, expected, tmp_path):
    from peft import get_peft_model

    from taskexpert.models.adapters import build_peft_config
    from taskexpert.models.sizing import meta_model

    cfg = compose_config([f"model={model}", *peft], tmp_path)
    size = estimate_size(cfg.model, cfg.peft, 1, 128)
    assert size.trainable_parameters == expected
    peft_model = get_peft_model(meta_model(cfg.model)[0], build_peft_config(cfg.peft), low_cpu_mem_usage=True)
    assert (size.trainable_parameters, size.total_parameters) == peft_model.get_nb_trainable_parameters()


def test_secrets_are_redacted_but_env_var_names_kept():
    config = {
        "teacher": {
            "api_key": "placeholder-credential-0123456789",
            "api_key_env": "OPENAI_API_KEY",
            "model": "m",
        },
        "token": None,
    }
    cleaned = redact(config)
    assert cleaned["teacher"]["api_key"] == REDACTED
    assert cleaned["teacher"]["api_key_env"] == "OPENAI_API_KEY"
    assert cleaned["teacher"]["model"] == "m"
    assert "placeholder-credential" not in json.dumps(cleaned)


def test_wandb_offline_run_gets_config_and_metrics(tmp_path):
    """A real (offline) W&B run: one run per job, the resolved config and the parameter counts inside."""
    from taskexpert.training.pipeline import train

    cfg = compose_config(
        ["model=tiny_llama", "trainer=fast", "logger=wandb", "checkpoint.enabled=false", "tags=[unit]"],
        tmp_path / "run",
    )
    train(cfg)
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    files = list(runs[0].glob("*.wandb"))
    assert files and files[0].stat().st_size > 0
    raw = files[0].read_bytes()
    assert b"params/trainable" in raw and b"val/macro_f1" in raw and b"tiny_llama" in raw
