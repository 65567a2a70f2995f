"""Run benchmark tasks as subprocesses, interleaved round by round, and collect their results.

Each task runs in a fresh `python -m taskexpert.bench.child` process; its peak resident memory comes from
the kernel's accounting of that child (`os.wait4`), and the load average is noted before each run, since
the machine may be shared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from taskexpert.bench.settings import BenchSettings
from taskexpert.bench.tasks import (
    MATMUL_TASK,
    eval_tasks,
    precision_arms,
    scaling_points,
    scaling_task,
    training_arms,
)

CHILD_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
}
PARTS = ("training", "eval", "scaling", "precision")


class BenchError(RuntimeError):
    pass


@dataclass
class TaskRun:
    task: str
    round: int
    result: dict
    peak_rss_mb: float  # the child's peak resident memory, from the kernel
    wall_seconds: float
    load_before: float  # 1-minute load average when the run started
    load_after: float


class Runner:
    """`isolate=False` runs tasks inside this process (smoke tests: no per-task start-up); the peak memory is
    then the task's own reading since its setup, not the child's whole-life peak."""

    def __init__(
        self,
        settings: BenchSettings,
        work_dir: Path,
        say: Callable[[str], None] = print,
        isolate: bool = True,
    ) -> None:
        self.settings = settings
        self.work_dir = work_dir
        self.say = say
        self.isolate = isolate
        work_dir.mkdir(parents=True, exist_ok=True)
        self.settings_path = work_dir / "settings.json"
        settings.save(self.settings_path)
        self.runs: list[TaskRun] = []
        # OpenMP threads spin at barriers: on a busy machine fewer threads than cores degrade less
        self.thread_env = {"OMP_NUM_THREADS": str(settings.threads)} if settings.threads else {}

    def run(self, task: str, round_number: int) -> TaskRun:
        stem = f"{task.replace(':', '-')}-{round_number}"
        result_path, log_path = self.work_dir / f"{stem}.json", self.work_dir / f"{stem}.log"
        load_before = os.getloadavg()[0]
        self.say(f"[bench] round {round_number + 1}: {task} (load {load_before:.2f})")
        start = time.perf_counter()
        if not self.isolate:
            from taskexpert.bench.child import run_task

            result = {"task": task} | run_task(self.settings, task)
            return self._record(
                task, round_number, result, result.get("peak_rss_training_mb", 0.0), start, load_before
            )
        with log_path.open("w", encoding="utf-8") as log:
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "taskexpert.bench.child",
                    task,
                    str(self.settings_path),
                    str(result_path),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ | CHILD_ENV | self.thread_env,
            )
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            tail = "".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines(True)[-15:])
            raise BenchError(
                f"benchmark task {task} failed (exit {child.returncode}); log {log_path}:\n{tail}"
            )
        result = json.loads(result_path.read_text(encoding="utf-8"))
        return self._record(
            task, round_number, result, usage.ru_maxrss / 1024, start, load_before
        )  # KiB on Linux

    def _record(
        self, task: str, round_number: int, result: dict, peak_rss_mb: float, start: float, load_before: float
    ) -> TaskRun:
        run = TaskRun(
            task=task,
            round=round_number,
            result=result,
            peak_rss_mb=peak_rss_mb,
            wall_seconds=time.perf_counter() - start,
            load_before=load_before,
            load_after=os.getloadavg()[0],
        )
        self.runs.append(run)
        return run


def bf16_is_worth_measuring(settings: BenchSettings, matmul: dict) -> bool:
    """bf16 arms only where bf16 matmuls are native: CPUs without AVX512-BF16/AMX emulate them slowly."""
    if settings.bf16 != "auto":
        return settings.bf16 == "always"
    return matmul["bf16_flops"] > matmul["fp32_flops"]


def run_benchmark(
    settings: BenchSettings, work_dir: Path, parts: tuple[str, ...] = PARTS, say=print, isolate: bool = True
) -> dict:
    """Every part's tasks, interleaved a, b, c, a, b, c, ... so contention hits all arms alike."""
    runner = Runner(settings, work_dir, say, isolate)
    with_bf16 = False
    for round_number in range(settings.repeats):
        matmul = runner.run(MATMUL_TASK, round_number).result
        if round_number == 0:
            with_bf16 = bf16_is_worth_measuring(settings, matmul)
        tasks: list[str] = []
        if "training" in parts:
            tasks += [arm.name for arm in training_arms(with_bf16)]
        if "precision" in parts:
            tasks += [arm.name for arm in precision_arms(with_bf16)]
        if "scaling" in parts:
            tasks += [scaling_task(batch, length) for batch, length in scaling_points(settings)]
        for task in dict.fromkeys(tasks):  # parts share arms: each runs once per round
            runner.run(task, round_number)
    evaluations: list[str] = []
    if "eval" in parts:
        evaluations += eval_tasks(with_bf16)
    if "precision" in parts:
        evaluations += eval_tasks(with_bf16, ("lora",))
    for task in dict.fromkeys(evaluations):  # each repeats and interleaves its methods and precisions inside
        runner.run(task, 0)
    results = {
        "settings": asdict(settings),
        "parts": list(parts),
        "bf16_measured": with_bf16,
        "isolated": isolate,
        "runs": [asdict(run) for run in runner.runs],
    }
    (work_dir / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    return results
