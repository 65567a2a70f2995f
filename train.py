"""Fine-tune and evaluate a task-expert model: `python train.py [group=option ...] [key=value ...]`."""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from taskexpert.config_checks import preflight
from taskexpert.console import quiet_console
from taskexpert.entry import prepare_command_line, run_training

CONF_DIR = Path(__file__).resolve().parent / "conf"


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    return run_training(cfg)


if __name__ == "__main__":
    sys.argv = prepare_command_line(sys.argv, str(CONF_DIR))
    quiet_console(sys.argv)  # known third-party chatter off unless --verbose
    sys.argv = preflight(sys.argv, str(CONF_DIR), "train")  # a mistake stops here, in one line naming the fix
    main()
