"""Launching the augmentation study (`train.py -m sweep=augmentation`) as a user does, and reading what it left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT
from servers.fault_server import FaultServer, deterministic_answer, usage

STUDENT = ["model=tiny_llama", "trainer=fast", "logger=csv"]
SEEDS_ASKED = 6  # seed records each method sends to the teacher (method.max_seeds)
QUIET = ["progress=false", "diversity.embeddings=false"]
FEW_SEEDS = f"method.max_seeds={SEEDS_ASKED}"  # the Dr. LLaMA methods' and ReBase's key
TINY_TEACHER = [
    "teacher=hf",
    "teacher.source=tiny",
    "teacher.tiny_architecture=llama",
    "teacher.model=tiny-llama",
    "teacher.structured=schema",
    "method.rewrite.max_new_tokens=64",
]


def augment_overrides(items: list[str]) -> str:
    """`augment.overrides=[...]` as written on a command line (each override quoted: they hold `=`)."""
    return "augment.overrides=[" + ",".join(json.dumps(item) for item in items) + "]"


def fault_teacher(server: FaultServer, *extra: str, max_seeds: bool = True) -> list[str]:
    return [
        "teacher=openai",
        f"teacher.base_url={server.base_url}",
        "teacher.model=fault-model",
        "teacher.api_key_env=null",
        "teacher.max_retries=0",
        *QUIET,
        *([FEW_SEEDS] if max_seeds else []),
        *extra,
    ]


def study_command(output_root: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "train.py",
        "-m",
        "sweep=augmentation",
        *STUDENT,
        *args,
        f"paths.output_root={output_root}",
    ]


def run_study(output_root: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    command = study_command(output_root, *args)
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def start_study(output_root: Path, *args: str) -> subprocess.Popen:
    """The study in its own process group, so a kill ends it as a preemption ends a whole job."""
    return subprocess.Popen(
        study_command(output_root, *args),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_when(process: subprocess.Popen, condition, timeout: float = 240) -> None:
    """SIGKILL the study's process group once `condition()` holds; fail if it ended first."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, "the study ended before the kill"
        assert time.monotonic() < deadline, "the kill's moment never came"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def study_dir(output_root: Path, task: str = "pubmedqa") -> Path:
    return output_root / "studies" / f"augmentation_{task}"


def job_dirs(directory: Path) -> dict[str, Path]:
    """`<arm>/<seed>` -> job directory, from each job's own config."""
    import yaml

    jobs = {}
    for config in directory.glob("*/.hydra/config.yaml"):
        values = yaml.safe_load(config.read_text())
        jobs[f"{values['data_arm']['name']}/{values['seed']}"] = config.parent.parent
    return jobs


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def server_tokens(server: FaultServer) -> tuple[int, int]:
    """The prompt and completion tokens the server reported in `usage`, over every request it answered."""
    counts = [usage(entry["body"], deterministic_answer(entry["body"])) for entry in server.requests]
    return sum(c["prompt_tokens"] for c in counts), sum(c["completion_tokens"] for c in counts)


def train_ids(job_dir: Path) -> list[str]:
    return read_json(job_dir / "splits.json")["train"]


def lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def report_files(directory: Path, draws: int = 200) -> dict[str, str]:
    """`python -m taskexpert.report DIRECTORY` as a user runs it: its summary.csv and what it printed (the
    study's directory written as <study>, so two studies in two places compare)."""
    command = [sys.executable, "-m", "taskexpert.report", str(directory), "--bootstrap", str(draws)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = " ".join(
        result.stdout.replace(str(directory), "<study>").split()
    )  # wrapped to the path's length
    return {"summary.csv": (directory / "summary.csv").read_text(), "printed": printed}
