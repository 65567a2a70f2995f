"""The dry run's per-GPU memory: DDP replicates the model and its optimizer state, FSDP shards them."""

from __future__ import annotations

import pytest
from conftest import compose_config

from taskexpert.data.lengths import length_setting
from taskexpert.models.sizing import estimate_size
from taskexpert.training.dry_run import dry_run, layout_of


def test_fsdp_full_shard_divides_weights_gradients_and_optimizer_state_over_every_gpu(tmp_path, capsys):
    cfg = compose_config(
        ["model=llama_7b", "peft=none", "trainer=fsdp", "trainer.devices=4", "trainer.num_nodes=2"], tmp_path
    )
    summary = dry_run(cfg)
    size = estimate_size(cfg.model, cfg.peft, cfg.data.batch_size, length_setting(cfg.data))
    gathered = size.weights_gib / 32  # one of LLaMA-7b's 32 blocks at full size while it computes
    expected = (size.weights_gib + size.gradients_and_optimizer_gib) / 8 + size.activations_gib + gathered
    assert summary["devices"] == 8
    assert summary["memory/per_device_gib"] == pytest.approx(expected, abs=1e-3)
    assert summary["memory/per_device_gib"] < summary["memory/training_estimate_gib"] / 4
    out = capsys.readouterr().out
    assert "per GPU, FSDP FULL_SHARD over 8 GPUs (4 devices x 2 nodes)" in out


def test_ddp_replicates_the_whole_run_on_every_gpu(tmp_path, capsys):
    cfg = compose_config(["model=llama_7b", "peft=lora", "trainer=ddp", "trainer.devices=4"], tmp_path)
    summary = dry_run(cfg)
    assert summary["devices"] == 4
    assert summary["memory/per_device_gib"] == pytest.approx(
        summary["memory/training_estimate_gib"], abs=1e-3
    )
    assert "per GPU, DDP over 4 GPUs" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("strategy", "shards"),
    [("SHARD_GRAD_OP", (1, 8)), ("HYBRID_SHARD", (4, 4)), ("NO_SHARD", (1, 1))],
)
def test_fsdp_sharding_strategies_divide_what_they_shard(strategy, shards, tmp_path):
    cfg = compose_config(
        [
            "trainer=fsdp",
            "trainer.devices=4",
            "trainer.num_nodes=2",
            f"trainer.strategy.sharding_strategy={strategy}",
        ],
        tmp_path,
    )
    layout = layout_of(cfg.trainer)
    assert (layout.shard_weights, layout.shard_states) == shards
