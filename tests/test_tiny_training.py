"""Train and test the tiny models of both architectures with each PEFT method, through the real pipeline."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import FAST

from taskexpert.training.pipeline import train

PEFT_CASES = {
    "lora": ["peft=lora"],
    "prefix32": ["peft=prefix", "peft.num_virtual_tokens=32"],
    "prefix256": ["peft=prefix", "peft.num_virtual_tokens=256"],
    "none": ["peft=none"],
}


@pytest.mark.parametrize("peft_case", list(PEFT_CASES))
@pytest.mark.parametrize("model", ["tiny_llama", "tiny_biogpt"])
def test_train_and_test_a_few_steps(model, peft_case, make_config, tmp_path):
    cfg = make_config(f"model={model}", *PEFT_CASES[peft_case], *FAST, "trainer.max_steps=2")
    metrics = train(cfg)
    run_dir = tmp_path / "run"

    assert metrics["global_step"] == 2
    assert 0 < metrics["params/trainable"] <= metrics["params/total"]
    if peft_case == "none":
        assert metrics["params/trainable"] == metrics["params/total"]
    if peft_case.startswith("prefix"):
        key_value_width = {"tiny_llama": 32, "tiny_biogpt": 64}[
            model
        ]  # the tiny LLaMA has 2 of 4 heads for k/v
        tokens = int(peft_case.removeprefix("prefix"))
        assert (
            metrics["params/trainable"] == tokens * 2 * 2 * key_value_width
        )  # tokens x layers x (k, v) x width
    written = json.loads((run_dir / "metrics.json").read_text())
    for key in ("val/acc", "val/macro_f1", "test/acc", "test/macro_f1", "test/f1_maybe", "test/confusion"):
        assert key in written
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert {row["split"] for row in rows} == {"val", "test"}
    test_rows = [row for row in rows if row["split"] == "test"]
    assert written["test/acc"] == sum(row["gold"] == row["pred"] for row in test_rows) / len(test_rows)
    assert all(
        row["pred"] in ("yes", "no", "maybe") and set(row["scores"]) == {"yes", "no", "maybe"} for row in rows
    )
    splits = json.loads((run_dir / "splits.json").read_text())
    assert [len(splits[name]) for name in ("train", "validation", "test")] == [36, 8, 16]
    exported = run_dir / ("model" if peft_case == "none" else "adapter")
    assert (
        exported / ("model.safetensors" if peft_case == "none" else "adapter_model.safetensors")
    ).is_file()


def test_generate_mode_reports_parse_failures(make_config):
    cfg = make_config(
        "model=tiny_llama", *FAST, "trainer.max_steps=1", "eval.mode=generate", "eval.max_new_tokens=4"
    )
    metrics = train(cfg)
    # An untrained tiny model cannot write the answer phrase in 4 tokens: every parse fails, "maybe" is the default.
    assert metrics["test/parse_failure_rate"] == 1.0
    assert metrics["val/parse_failure_rate"] == 1.0


def test_prefix_with_gradient_checkpointing_is_refused_up_front(make_config):
    from taskexpert.errors import ConfigError

    cfg = make_config("model=tiny_llama", "peft=prefix", "model.gradient_checkpointing=true", *FAST)
    with pytest.raises(ConfigError, match="gradient checkpointing"):
        train(cfg)


def test_training_split_can_be_scored_and_an_adapter_continued(make_config, tmp_path):
    """What LLM2LLM needs: which training examples the student gets wrong, and continuing from an adapter."""
    first = train(
        make_config(
            "model=tiny_llama",
            *FAST,
            "trainer.max_steps=2",
            "eval.train=true",
            "trainer.limit_test_batches=null",
        )
    )
    run_dir = tmp_path / "run"
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    train_rows = [row for row in rows if row["split"] == "train"]
    splits = json.loads((run_dir / "splits.json").read_text())
    assert [row["id"] for row in train_rows] == splits["train"]
    assert first["train/acc"] == sum(row["gold"] == row["pred"] for row in train_rows) / len(train_rows)

    from safetensors.torch import load_file

    before = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    continued = train(
        make_config(
            "model=tiny_llama",
            *FAST,
            "trainer.max_steps=1",
            f"init_adapter={run_dir / 'adapter'}",
            run_dir=tmp_path / "next",
        )
    )
    after = load_file(tmp_path / "next" / "adapter" / "adapter_model.safetensors")
    assert continued["params/trainable"] == first["params/trainable"]
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # it trained on
    # and it started from the saved weights, not from a fresh adapter (whose B matrices are zero)
    assert all(after[k].abs().sum() > 0 for k in after if "lora_B" in k)
