"""Adapter-only checkpoints: small, reloadable, and a resumed run continues the step count."""

from __future__ import annotations

import csv
import json

import torch
from conftest import compose_config
from peft import PeftModel

from taskexpert.models.loading import load_model_and_tokenizer
from taskexpert.training.pipeline import train

CHECKPOINTED = [
    "model=tiny_llama",
    "trainer=fast",
    "logger=csv",
    "trainer.limit_train_batches=4",
    "trainer.val_check_interval=2",
    "trainer.max_epochs=5",
    "optimizer.scheduler=constant",  # a rate that does not depend on max_steps: these runs extend earlier ones
    "optimizer.warmup_ratio=0",
]


def test_checkpoint_holds_the_adapter_only_and_resumes(tmp_path):
    run_dir = tmp_path / "run"
    first = train(compose_config([*CHECKPOINTED, "trainer.max_steps=4"], run_dir))
    assert first["global_step"] == 4
    last = run_dir / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    weights = checkpoint["state_dict"]
    assert weights and all("lora_" in name for name in weights)
    base_weights = (compose_config(["model=tiny_llama"], tmp_path).model, None)[0]
    model, _ = load_model_and_tokenizer(base_weights)
    base_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    adapter_bytes = sum(t.numel() * t.element_size() for t in weights.values())
    assert adapter_bytes < 0.05 * base_bytes
    assert checkpoint["optimizer_states"], "optimizer state travels with the adapter"
    assert checkpoint["global_step"] == 4

    resumed = train(compose_config([*CHECKPOINTED, "trainer.max_steps=6", "ckpt_path=last"], run_dir))
    assert resumed["global_step"] == 6
    with (run_dir / "csv" / "metrics.csv").open() as handle:  # columns by name: their order is alphabetical
        log_steps = [int(row["step"]) for row in csv.DictReader(handle)]
    assert max(log_steps) >= 5  # the second run logged steps past the first one's end


def test_exported_adapter_loads_with_peft(tmp_path):
    run_dir = tmp_path / "run"
    train(
        compose_config(
            ["model=tiny_llama", "trainer=fast", "logger=csv", "checkpoint.enabled=false"], run_dir
        )
    )
    cfg = compose_config(["model=tiny_llama"], tmp_path)
    base, tokenizer = load_model_and_tokenizer(cfg.model)
    reloaded = PeftModel.from_pretrained(base, run_dir / "adapter")
    config = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["lora_alpha"] == 32
    lora_weights = [p for name, p in reloaded.named_parameters() if "lora_B" in name]
    assert lora_weights and any(p.abs().sum() > 0 for p in lora_weights)  # trained B is no longer zero


def test_resume_from_a_checkpoint_in_a_fresh_run_dir_with_explicit_path(tmp_path):
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    train(compose_config([*CHECKPOINTED, "trainer.max_steps=2"], first_dir))
    checkpoint = first_dir / "checkpoints" / "last.ckpt"
    resumed = train(
        compose_config([*CHECKPOINTED, "trainer.max_steps=3", f"ckpt_path={checkpoint}"], second_dir)
    )
    assert resumed["global_step"] == 3
