"""The SLURM launcher asks for the host memory the dry run estimates: under FSDP one copy of the weights per
node (the first process loads them), plus each process's own; the whole model once per GPU when every process
loads it."""

from __future__ import annotations

import math

from conftest import compose_config

from taskexpert.training.dry_run import MIN_MEMORY_REQUEST_GB, dry_run

FSDP_7B = ["hydra/launcher=slurm", "model=llama_7b", "peft=none", "trainer=fsdp", "trainer.devices=8"]


def test_the_slurm_memory_request_follows_the_dry_run(tmp_path):
    cfg = compose_config(FSDP_7B, tmp_path)
    host = dry_run(cfg)["memory/host_per_node_gib"]
    assert cfg.hydra.launcher.mem_gb == math.ceil(host) > MIN_MEMORY_REQUEST_GB
    weights = dry_run(cfg)["memory/weights_gib"]
    assert host < 2 * weights + 8 * 4  # one copy of the weights on the node, not eight

    every_process_loads = compose_config([*FSDP_7B, "trainer.strategy.sync_module_states=false"], tmp_path)
    assert every_process_loads.hydra.launcher.mem_gb >= math.ceil(8 * weights)


def test_a_small_run_keeps_the_minimum_request(tmp_path):
    cfg = compose_config(["hydra/launcher=slurm", "model=tiny_llama"], tmp_path)
    assert cfg.hydra.launcher.mem_gb == MIN_MEMORY_REQUEST_GB
