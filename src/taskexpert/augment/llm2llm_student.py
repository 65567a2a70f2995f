"""One LLM2LLM iteration's student: its training data on disk, its config, and its training run.

The first process writes the data (`iter_<k>/train_extra.jsonl` and the split it was guarded against); every
process of a multi-process trainer then trains on it together (see llm2llm_ranks.py).
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from taskexpert.augment.contamination import write_guard_meta
from taskexpert.augment.llm2llm_state import iteration_dir, training_finished, write_if_changed
from taskexpert.data.split_meta import read_split_meta
from taskexpert.data.splits import Splits
from taskexpert.records import Record, iter_json_lines

EXTRA_FILE = "train_extra.jsonl"  # the generated records an iteration trains on besides the seeds


def training_files(run_dir: Path, iteration: int, user_extra: list[str], extra: list[Record]) -> list[str]:
    """`data.extra_train` of iteration `iteration`: the user's files, then the generated records (if any)."""
    files = list(user_extra)
    if extra:
        files.append(str(iteration_dir(run_dir, iteration) / EXTRA_FILE))
    return files


def write_training_data(
    cfg: DictConfig, splits: Splits, run_dir: Path, iteration: int, extra: list[Record]
) -> None:
    """The generated records of iteration `iteration` and the split they were guarded against (first process)."""
    iteration_dir(run_dir, iteration).mkdir(parents=True, exist_ok=True)
    if extra:
        path = write_if_changed(iteration_dir(run_dir, iteration) / EXTRA_FILE, extra)
        write_guard_meta(cfg, splits, path, len(extra))


def training_data_ready(run_dir: Path, iteration: int, extra: list[Record]) -> bool:
    """The first process has written exactly `extra` for iteration `iteration`, with its guard record."""
    if not extra:
        return True
    path = iteration_dir(run_dir, iteration) / EXTRA_FILE
    try:
        same = path.read_text(encoding="utf-8") == "".join(iter_json_lines(extra))
    except FileNotFoundError:
        return False
    meta = read_split_meta(path) if same else None
    return bool(meta) and meta.get("records") == len(extra)


def iteration_config(
    cfg: DictConfig, run_dir: Path, extra_files: list[str], init_adapter: str | None
) -> DictConfig:
    """The training config of one iteration: its own run directory, the current data, the train split scored."""
    iteration_cfg = copy.deepcopy(cfg)
    with open_dict(iteration_cfg):
        iteration_cfg.paths.run_dir = str(run_dir)
        iteration_cfg.data.extra_train = extra_files
        iteration_cfg.eval.train = True
        iteration_cfg.trainer.limit_test_batches = None  # every training example must be scored
        iteration_cfg.init_adapter = init_adapter
    return iteration_cfg


def train_student(
    cfg: DictConfig, run_dir: Path, iteration: int, extra_files: list[str], from_scratch: bool
) -> tuple[dict[str, Any], float]:
    """Train (or find the finished training of) iteration `iteration`'s student; (metrics, seconds spent)."""
    from taskexpert.training.pipeline import train

    directory = iteration_dir(run_dir, iteration)
    if training_finished(run_dir, iteration):
        return json.loads((directory / "metrics.json").read_text(encoding="utf-8")), 0.0
    init_adapter = None
    if not from_scratch and iteration > 1:
        init_adapter = str(iteration_dir(run_dir, iteration - 1) / "adapter")
    started = time.perf_counter()
    metrics = train(iteration_config(cfg, directory, extra_files, init_adapter))
    return metrics, time.perf_counter() - started
