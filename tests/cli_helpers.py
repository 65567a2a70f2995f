"""Running train.py / augment.py as a user would, and reading their one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def run_entry(
    script: str, args: list[str], output_root: Path, timeout: int = 600
) -> subprocess.CompletedProcess:
    command = [sys.executable, script, *args, f"paths.output_root={output_root}"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def assert_one_line_error(result: subprocess.CompletedProcess, *fix: str) -> str:
    """Exit status 2 and exactly one line on stderr, `error: ...`, containing each of `fix`."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for part in fix:
        assert part in lines[0], lines[0]
    return lines[0]
