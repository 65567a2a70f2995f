"""A tiny Hydra app for the sweeper tests: a known objective of x and y, no model.

Switches (config keys): `fail_at_x` raises for that x, `nan_at_x` returns NaN for it. With the environment
variable OPTUNA_APP_KILL_AT_TRIAL=N the process SIGKILLs itself when it runs trial N (the sweeper dies with it,
as it would on a node failure). Each job writes result.json in its directory and refuses a directory that has one.
"""

import json
import os
import signal
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    trial_number = cfg.optuna_trial.number
    kill_at = os.environ.get("OPTUNA_APP_KILL_AT_TRIAL")
    if kill_at is not None and trial_number == int(kill_at):
        os.kill(os.getpid(), signal.SIGKILL)
    job_dir = Path(HydraConfig.get().runtime.output_dir)
    result_file = job_dir / "result.json"
    if result_file.exists():
        raise RuntimeError(f"job directory {job_dir} was used before")
    if cfg.fail_at_x is not None and cfg.x == cfg.fail_at_x:
        raise RuntimeError(f"boom at x={cfg.x}")
    value = (
        float("nan")
        if cfg.nan_at_x is not None and cfg.x == cfg.nan_at_x
        else -((cfg.x - 2) ** 2) - (cfg.y - 1) ** 2
    )
    result_file.write_text(
        json.dumps({"trial": trial_number, "pid": os.getpid(), "x": cfg.x, "y": cfg.y, "value": value})
    )
    return value


if __name__ == "__main__":
    main()
