"""Teacher-driven augmentation (Dr. LLaMA rewrite/new): `python augment.py [method=...] [teacher=...] [key=value ...]`."""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from taskexpert.augment.cli import run_augmentation
from taskexpert.config_checks import preflight
from taskexpert.console import quiet_console
from taskexpert.entry import prepare_command_line

CONF_DIR = Path(__file__).resolve().parent / "conf"


@hydra.main(version_base="1.3", config_path="conf", config_name="augment")
def main(cfg: DictConfig) -> float:
    return run_augmentation(cfg)


if __name__ == "__main__":
    sys.argv = prepare_command_line(sys.argv, str(CONF_DIR))
    quiet_console(sys.argv)  # known third-party chatter off unless --verbose
    sys.argv = preflight(sys.argv, str(CONF_DIR), "augment")  # a mistake stops here, in one line
    main()
