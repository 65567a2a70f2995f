"""Shared fixtures: compose the real Hydra configs and shrink them for CPU tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The tests' tiny models run faster on one thread than on two, which mostly wait on each other
# (measured: the agreement test 26 s vs 51 s); subprocesses (train.py -m, augment.py) inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

FAST = ["trainer=fast", "logger=csv", "checkpoint.enabled=false"]


def compose_config(
    overrides: list[str], run_dir: Path | None = None, config_name: str = "train"
) -> DictConfig:
    """The config `python train.py OVERRIDES` (or `augment.py`, with config_name="augment") would run,
    with Hydra's runtime fields set."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    if run_dir is not None:
        with open_dict(cfg):
            cfg.paths.run_dir = str(run_dir)
    return cfg


@pytest.fixture
def make_config(tmp_path):
    """Compose a config whose run directory is a fresh temporary directory."""

    def make(*overrides: str, run_dir: Path | None = None) -> DictConfig:
        return compose_config(list(overrides), run_dir or tmp_path / "run")

    return make
