"""Running `train.py -m` in a subprocess, as a user would, and reading what the jobs left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

TINY_JOB = ["model=tiny_llama", "trainer=fast", "logger=csv", "checkpoint.enabled=false"]


def run_train(args: list[str], output_root: Path, env: dict[str, str] | None = None, timeout: int = 600):
    command = [sys.executable, "train.py", *args, f"paths.output_root={output_root}"]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def sweep_dir(output_root: Path) -> Path:
    (directory,) = (output_root / "multirun").iterdir()
    return directory


def job_metrics(directory: Path) -> dict[int, dict]:
    return {int(path.parent.name): json.loads(path.read_text()) for path in directory.glob("*/metrics.json")}
