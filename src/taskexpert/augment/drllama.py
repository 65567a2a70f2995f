"""Dr. LLaMA augmentation (method=rewrite | new | combined): the teacher rewords seeds or writes new records.

Seeds are the training split of `cfg.data` (the first `method.max_seeds`); the validation and test items
only feed the contamination guard. The teacher is reached through the cache, so a re-run (after a kill,
or with more seeds) reuses every answer already received and reproduces the same records.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from taskexpert.augment.generation import generate_records
from taskexpert.augment.jobs import GenerationJob, new_jobs, rewrite_jobs
from taskexpert.augment.progress import teacher_progress
from taskexpert.augment.prompts import PromptTemplate
from taskexpert.augment.shared import build_filters, finish_run, needs_embedder, select_seeds
from taskexpert.data.loading import load_splits
from taskexpert.errors import ConfigError
from taskexpert.records import Record
from taskexpert.tasks import build_task
from taskexpert.teachers import build_teacher
from taskexpert.text.embedders import SentenceEmbedder

log = logging.getLogger(__name__)
METHOD_BLOCKS = ("rewrite", "new")


def _sampling_overrides(block: Any) -> dict[str, Any]:
    return {"max_new_tokens": int(block.max_new_tokens)} if block.get("max_new_tokens") else {}


def build_jobs(cfg: DictConfig, seeds: list[Record], pool: list[Record]) -> list[GenerationJob]:
    """The jobs of every method block present in `cfg.method` (rewrite, then new), on the task's fields."""
    method = cfg.method
    task = build_task(cfg.task)
    blocks = [name for name in METHOD_BLOCKS if method.get(name) is not None]
    if not blocks:
        raise ConfigError(f"method {method.get('name')!r} has neither a `rewrite` nor a `new` block")
    prompts_dir = cfg.paths.get("prompts_dir")
    jobs: list[GenerationJob] = []
    for name in blocks:
        block = method[name]
        if int(block.n_per_seed) < 1:
            raise ConfigError(f"method.{name}.n_per_seed={block.n_per_seed} must be >= 1")
        template = PromptTemplate.load(block.prompt, prompts_dir)
        fields = list(block.fields) if block.get("fields") else None  # null: the task's (see jobs.py)
        if name == "rewrite":
            jobs += rewrite_jobs(
                task, seeds, template, fields, int(block.n_per_seed), _sampling_overrides(block)
            )
        else:
            jobs += new_jobs(
                task,
                seeds,
                pool,
                template,
                fields,
                int(block.n_per_seed),
                int(block.examples_per_prompt),
                int(cfg.seed),
                _sampling_overrides(block),
            )
    return jobs


def run_drllama(cfg: DictConfig) -> dict[str, Any]:
    """Dr. LLaMA rewrite/new (and both): write augmented.jsonl, augment_stats.json, augment_rejected.jsonl."""
    started = time.perf_counter()
    run_dir = Path(cfg.paths.run_dir)
    task = build_task(cfg.task)
    splits = load_splits(cfg.data, task)
    seeds = select_seeds(splits, cfg.method.get("max_seeds"))
    jobs = build_jobs(cfg, seeds, splits.train)  # prompts and fields checked before any model loads
    embedder = SentenceEmbedder() if needs_embedder(cfg) else None
    teacher = build_teacher(cfg.teacher, cfg.sampling, cfg.cache)
    try:
        filters = build_filters(cfg, splits, teacher, embedder)
        with teacher_progress(
            len(jobs), f"{cfg.method.name} with {teacher.name}", bool(cfg.progress)
        ) as tick:
            result = generate_records(teacher, jobs, filters, on_response=tick)
        cache_entries = len(teacher.cache)
        teacher_totals = teacher.stats.as_dict()  # generation and judging together
    finally:
        teacher.close()
        teacher.cache.close()
    stats: dict[str, Any] = {
        "method": str(cfg.method.name),
        "teacher": {"model": teacher.name, "backend": teacher.backend.kind},
        "seeds": len(seeds),
        **result.stats(labelled=bool(task.labels)),
        "failures": [
            item.as_dict() for item in result.rejected_items if item.reason.startswith("teacher_failed")
        ],
        "teacher_totals": teacher_totals,
        "prompt_hashes": sorted({job.prompt_hash for job in jobs}),
        "sampling": OmegaConf.to_container(cfg.sampling, resolve=True),
        "cache": {"path": str(cfg.cache.path), "entries": cache_entries},
    }
    finish_run(cfg, run_dir, splits, seeds, result, stats, embedder, started)
    log.info("kept %d of %d requested records; files in %s", stats["kept"], stats["requested"], run_dir)
    return stats
