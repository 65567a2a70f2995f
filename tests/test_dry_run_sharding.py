"""The dry run's per-GPU memory: DDP replicates the model and its optimizer state, FSDP shards them and gathers
one unit at a time: the units of the trainer's wrap policy, checked against those torch's FSDP makes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, compose_config
from omegaconf import OmegaConf

from taskexpert.models.sizing import GIB
from taskexpert.training.dry_run import dry_run, layout_of

# torch's FSDP wraps the tiny LLaMA (one process, gloo) with the trainer config's policy and prints the parameters
# of each unit it made, read from its flat parameters (what it gathers), not from the module tree.
WRAP_FOR_REAL = """
import json, sys
import torch, torch.distributed as dist
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
from taskexpert.models.adapters import apply_adapter
from taskexpert.models.loading import load_model_and_tokenizer
cfg = OmegaConf.create(json.loads(sys.argv[1]))
dist.init_process_group("gloo", init_method="tcp://127.0.0.1:0", rank=0, world_size=1)
model = apply_adapter(load_model_and_tokenizer(cfg.model)[0], cfg.peft)
policy = instantiate(cfg.policy) if cfg.policy else None
root = FSDP(model, auto_wrap_policy=policy, device_id=torch.device("cpu"), use_orig_params=True)
print(json.dumps([sum(unit._handle.flat_param._numels) for unit in FSDP.fsdp_modules(root) if unit._handle]))
dist.destroy_process_group()
"""


def units_fsdp_makes(cfg) -> list[int]:
    plain = {
        key: OmegaConf.to_container(node, resolve=True) if node is not None else None
        for key, node in (
            ("model", cfg.model),
            ("peft", cfg.peft),
            ("policy", cfg.trainer.strategy.auto_wrap_policy),
        )
    }
    command = [sys.executable, "-c", WRAP_FOR_REAL, json.dumps(plain)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("peft", ["none", "lora"])
@pytest.mark.parametrize("policy", ["decoder layers", "none"])
def test_fsdp_gathers_the_largest_unit_the_wrap_policy_makes(peft, policy, tmp_path, capsys):
    overrides = [
        "model=tiny_llama",
        f"peft={peft}",
        "trainer=fsdp",
        "trainer.devices=2",
        "trainer.precision=32-true",
    ]
    if policy == "none":
        overrides.append("trainer.strategy.auto_wrap_policy=null")
    cfg = compose_config(overrides, tmp_path)
    units = units_fsdp_makes(cfg)
    summary = dry_run(cfg)
    assert len(units) == (1 if policy == "none" else 3)  # the root unit, and one per decoder layer (2)
    assert summary["fsdp/units"] == len(units)
    assert summary["fsdp/largest_unit_parameters"] == max(units)
    assert summary["memory/gathered_gib"] == pytest.approx(
        max(units) * 4 / GIB, abs=1e-6
    )  # fp32 under 32-true
    out = capsys.readouterr().out
    if policy == "none":
        assert max(units) == summary["params/total"]
        assert "the whole model gathered at once" in out


def test_fsdp_full_shard_divides_weights_gradients_and_optimizer_state_over_every_gpu(tmp_path, capsys):
    cfg = compose_config(
        ["model=llama_7b", "peft=none", "trainer=fsdp", "trainer.devices=4", "trainer.num_nodes=2"], tmp_path
    )
    summary = dry_run(cfg)
    assert summary["devices"] == 8
    assert summary["fsdp/units"] == 33  # LLaMA-7b's 32 decoder layers and the root unit
    assert summary["memory/per_device_gib"] < summary["memory/training_estimate_gib"] / 4
    assert "per GPU, FSDP FULL_SHARD over 8 GPUs (4 devices x 2 nodes)" in capsys.readouterr().out


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
