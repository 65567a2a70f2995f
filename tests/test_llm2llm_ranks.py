"""LLM2LLM with a multi-process student: Lightning's real `ddp` (2 CPU processes, gloo) and two SLURM tasks
(the variables SLURM sets for each task of `srun --ntasks-per-node=2`) make the same teacher calls, write each
output as often, and keep the same records as one process. The second process only trains the students."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from servers.augment_setup import ROOT, data_overrides, write_seed_file
from servers.fault_server import FaultServer
from test_llm2llm import N_TRAIN, SERVER_LIFETIME, answer_with_requested_label

from taskexpert.augment.llm2llm_ranks import follower_rank
from taskexpert.augment.llm2llm_state import HISTORY_FILE
from taskexpert.records import read_jsonl

AUDIT_PATH = ROOT / "tests" / "servers" / "write_audit"
# untrained students (max_steps=0): one process and two score every record alike (see test_ddp_evaluation.py)
STUDENT = ["trainer.max_steps=0", "trainer.limit_val_batches=null", "trainer.enable_progress_bar=false"]
ONE_PROCESS = ["trainer=fast", *STUDENT]
TWO_PROCESSES = [
    "trainer=ddp",
    "trainer.accelerator=cpu",
    "trainer.devices=2",
    "trainer.precision=32-true",
    *STUDENT,
]
TIMING = ("train_seconds", "teacher_seconds")
FOLLOWER_LINE = "so this process trains the students only"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def arguments(server: FaultServer, work: Path, trainer: list[str]) -> list[str]:
    seeds = write_seed_file(work, N_TRAIN + 4)
    return [
        "method=llm2llm",
        "method.iterations=2",
        "model=tiny_llama",
        "logger=csv",
        "checkpoint.enabled=false",
        "teacher=openai",
        f"teacher.base_url={server.base_url}",
        "teacher.model=fault-model",
        "teacher.api_key_env=null",
        f"cache.path={work / 'cache.sqlite'}",
        "progress=false",
        "diversity.embeddings=false",
        *data_overrides(seeds, train=N_TRAIN, val=2, test=2),
        *trainer,
        f"hydra.run.dir={work / 'run'}",
    ]


def audited_environment(work: Path, **variables: str) -> dict[str, str]:
    (work / "writes").mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join([str(AUDIT_PATH), os.environ.get("PYTHONPATH", "")])
    return {
        **os.environ,
        "PYTHONPATH": path,
        "WRITE_AUDIT_ROOT": str(work / "run"),
        "WRITE_AUDIT_DIR": str(work / "writes"),
        **variables,
    }


def outputs_written(work: Path) -> dict[int, Counter]:
    """pid -> how often it wrote each file of the run directory (Hydra's own files and the logs aside)."""
    written = {}
    for record in (work / "writes").glob("*.txt"):
        paths = [line for line in record.read_text().splitlines() if not line.startswith(".hydra")]
        written[int(record.stem)] = Counter(path for path in paths if not path.endswith(".log"))
    return {pid: counts for pid, counts in written.items() if counts}


def summary(work: Path, server: FaultServer) -> dict:
    run_dir = work / "run"
    history = json.loads((run_dir / HISTORY_FILE).read_text())["iterations"]
    return {
        "teacher_requests": len(server.requests),
        "kept": read_jsonl(run_dir / "augmented.jsonl"),
        "history": [{k: v for k, v in entry.items() if k not in TIMING} for entry in history],
        "writes": sum(outputs_written(work).values(), Counter()),
    }


def run_augment(work: Path, trainer: list[str]) -> tuple[subprocess.CompletedProcess, dict]:
    with FaultServer(answer=answer_with_requested_label, lifetime=SERVER_LIFETIME) as server:
        finished = subprocess.run(
            [sys.executable, "augment.py", *arguments(server, work, trainer)],
            cwd=ROOT,
            env=audited_environment(work),
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert finished.returncode == 0, finished.stderr[-3000:]
        return finished, summary(work, server)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> dict:
    _, result = run_augment(tmp_path_factory.mktemp("one"), ONE_PROCESS)
    assert result["teacher_requests"] > 0 and result["kept"]  # the students got some seeds wrong
    return result


@pytest.mark.timeout(600)
def test_two_process_ddp_student_augments_once(one_process, tmp_path):
    finished, two = run_augment(tmp_path, TWO_PROCESSES)
    assert two == one_process  # the same calls, records, history and writes
    assert len(outputs_written(tmp_path)) == 1  # ... all by one process
    follower_log = (tmp_path / "run" / "train_ddp_process_1.log").read_text()
    assert FOLLOWER_LINE in follower_log
    assert "llm2llm iteration" not in follower_log


def slurm_task(rank: int, port: int) -> dict[str, str]:
    """What SLURM sets for task `rank` of `srun --nodes=1 --ntasks-per-node=2` (those Lightning reads)."""
    return {
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "llm2llm",
        "SLURM_NTASKS": "2",
        "SLURM_NTASKS_PER_NODE": "2",
        "SLURM_NNODES": "1",
        "SLURM_NODEID": "0",
        "SLURM_NODELIST": "localhost",
        "SLURM_PROCID": str(rank),
        "SLURM_LOCALID": str(rank),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
    }


@pytest.mark.timeout(600)
def test_second_slurm_task_only_trains_the_students(one_process, tmp_path):
    port = free_port()
    with FaultServer(answer=answer_with_requested_label, lifetime=SERVER_LIFETIME) as server:
        command = [sys.executable, "augment.py", *arguments(server, tmp_path, TWO_PROCESSES)]
        tasks = [
            subprocess.Popen(
                command,
                cwd=ROOT,
                env=audited_environment(tmp_path, **slurm_task(rank, port)),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for rank in (0, 1)
        ]
        outputs = [task.communicate(timeout=400)[0] for task in tasks]
        for task, output in zip(tasks, outputs, strict=True):
            assert task.returncode == 0, output[-3000:]
        assert summary(tmp_path, server) == one_process
    assert set(outputs_written(tmp_path)) == {tasks[0].pid}  # the second task wrote nothing
    assert FOLLOWER_LINE in outputs[1] and FOLLOWER_LINE not in outputs[0]


def test_the_first_process_is_the_one_without_a_rank():
    assert follower_rank({}) is None
    assert follower_rank({"SLURM_PROCID": "0", "LOCAL_RANK": "0", "NODE_RANK": "0"}) is None
    assert follower_rank({"SLURM_PROCID": "1"}) == "SLURM_PROCID=1"
    assert follower_rank({"LOCAL_RANK": "1", "SLURM_PROCID": "0"}) == "LOCAL_RANK=1"  # Lightning's rank 1
    assert follower_rank({"NODE_RANK": "1", "LOCAL_RANK": "0"}) == "NODE_RANK=1"
