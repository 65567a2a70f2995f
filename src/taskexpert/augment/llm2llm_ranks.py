"""Which process of a multi-process student runs the LLM2LLM loop, and how the other processes follow it.

Under a multi-process trainer (`trainer=ddp`, `trainer=fsdp`) every rank runs `augment.py`: Lightning starts
ranks 1.. by running the same command again, and SLURM starts one task per rank. Only the first process runs
the loop: the teacher, the filters and every output file are its alone. The others (the followers) train each
iteration's student beside it from what the first process wrote: they wait for the iteration's training data
before training and for its history entry after it, and write nothing. A follower stops with an error when the
first process wrote that it stopped (`llm2llm_stopped.json`) or when its parent process is gone.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from taskexpert.augment.llm2llm_state import added_path, current_extra, load_added, load_history
from taskexpert.augment.llm2llm_student import train_student, training_data_ready, training_files
from taskexpert.errors import TaskExpertError
from taskexpert.records import read_jsonl
from taskexpert.utils.atomic import atomic_write_json

log = logging.getLogger(__name__)

# Set by torchrun (RANK), by Lightning for the ranks it starts (LOCAL_RANK, NODE_RANK) and by SLURM per task
# (SLURM_PROCID): the first process of a run has none of them above 0.
RANK_VARIABLES = ("RANK", "NODE_RANK", "LOCAL_RANK", "SLURM_PROCID")
STOPPED_FILE = "llm2llm_stopped.json"
POLL_SECONDS = 0.2


class FirstProcessStopped(TaskExpertError):
    """The process that runs the loop stopped before writing what a follower waits for."""


def follower_rank(environ: Mapping[str, str] = os.environ) -> str | None:
    """`NAME=value` of the first rank variable above 0 (this process follows the first one), else None."""
    for name in RANK_VARIABLES:
        value = environ.get(name, "").strip()
        if value and value.lstrip("-").isdigit() and int(value) > 0:
            return f"{name}={value}"
    return None


def clear_stopped(run_dir: Path) -> None:
    """The first process starts: a stop written by an earlier run of this directory no longer holds."""
    (run_dir / STOPPED_FILE).unlink(missing_ok=True)


def write_stopped(run_dir: Path, iteration: int, error: BaseException) -> None:
    """Tell the followers that the loop stopped in `iteration`, so they stop too instead of waiting."""
    reason = f"{type(error).__name__}: {error}"[:500]
    atomic_write_json(run_dir / STOPPED_FILE, {"iteration": iteration, "reason": reason, "pid": os.getpid()})


class FirstProcessWatch:
    """Waits for files the first process writes, and notices when it stopped."""

    def __init__(self, run_dir: Path, poll_seconds: float = POLL_SECONDS) -> None:
        self.run_dir = run_dir
        self.poll_seconds = poll_seconds
        self.started = time.time()  # a stop file older than this follower is an earlier run's
        self.parent = os.getppid()

    def _stopped(self) -> str | None:
        marker = self.run_dir / STOPPED_FILE
        try:
            if marker.stat().st_mtime >= self.started:
                return f"the first process stopped ({marker.read_text(encoding='utf-8').strip()})"
        except FileNotFoundError:
            pass
        if os.getppid() != self.parent:
            return f"the parent process {self.parent} is gone"
        return None

    def wait(self, ready: Callable[[], bool], what: str) -> None:
        """Return once `ready()` holds; raise FirstProcessStopped when it can no longer come."""
        logged = False
        while not ready():
            stopped = self._stopped()
            if stopped:
                raise FirstProcessStopped(
                    f"llm2llm: waited for {what} in {self.run_dir}, but {stopped}; see the first process's log"
                )
            if not logged:
                log.info("llm2llm: waiting for %s from the first process", what)
                logged = True
            time.sleep(self.poll_seconds)


def follow_llm2llm(
    cfg: DictConfig,
    settings: dict[str, Any],
    run_dir: Path,
    user_extra: list[str],
    rank: str,
) -> dict[str, Any]:
    """A follower's loop: train every remaining iteration's student beside the first process, write nothing.
    Returns the counts of the final dataset (the first process writes and reports the stats)."""
    log.info("llm2llm: %s, so this process trains the students only; the first one runs the loop", rank)
    watch = FirstProcessWatch(run_dir)
    done = min(len(load_history(run_dir, settings)), settings["iterations"])
    added = load_added(run_dir, done)
    for iteration in range(done + 1, settings["iterations"] + 1):
        extra = current_extra(added, settings["accumulate"])
        watch.wait(partial(training_data_ready, run_dir, iteration, extra), f"iteration {iteration}'s data")
        files = training_files(run_dir, iteration, user_extra, extra)
        train_student(cfg, run_dir, iteration, files, settings["from_scratch"])
        watch.wait(partial(_finished, run_dir, settings, iteration), f"iteration {iteration}'s records")
        added.append(read_jsonl(added_path(run_dir, iteration)))
    final = current_extra(added, settings["accumulate"])
    return {"method": "llm2llm", "kept": len(final), "added_total": sum(map(len, added)), "failed": 0}


def _finished(run_dir: Path, settings: dict[str, Any], iteration: int) -> bool:
    """Iteration `iteration` has its history entry: all its files are on disk."""
    return len(load_history(run_dir, settings)) >= iteration
