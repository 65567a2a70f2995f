"""The one lifecycle of every augmentation method, below the methods (see augment/method.py).

1. The task and its splits are loaded once; the seeds are the first `method.max_seeds` training records.
2. The method checks its settings and prompts, then plans its teacher jobs, before any model loads.
   `dry_run=true` stops here with the estimate of calls, tokens and cost (augment/dry_run.py).
3. The embedder (when a filter or the diversity statistics need one) and the teacher with its cache are
   built once and always closed; every answer passes the filters (augment/shared.py).
4. The stats (counts, failures, the teacher's ledger, prompt hashes, sampling, cache), diversity, the output
   files with the split's fingerprint, W&B and the console summary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from taskexpert.augment.contamination import write_guard_meta
from taskexpert.augment.dedup import Deduplicator
from taskexpert.augment.diversity import diversity_stats
from taskexpert.augment.generation import GenerationJob, GenerationResult, generate_records
from taskexpert.augment.method import AugmentationMethod, RoundsOutcome, RunContext
from taskexpert.augment.progress import teacher_progress
from taskexpert.augment.registry import method_class
from taskexpert.augment.report import log_to_wandb, print_summary, write_outputs
from taskexpert.augment.shared import build_filters, select_seeds
from taskexpert.augment.task_fields import compared_fields
from taskexpert.data.loading import load_splits
from taskexpert.errors import ConfigError
from taskexpert.records import Record
from taskexpert.tasks import build_task
from taskexpert.teachers import Teacher, build_teacher
from taskexpert.text.embedders import SentenceEmbedder
from taskexpert.training.config_logging import loggable_config

log = logging.getLogger(__name__)


def build_method(cfg: DictConfig) -> AugmentationMethod:
    """The method `cfg.method.name` names, ready to run."""
    name = str(cfg.method.get("name"))
    return method_class(name, cfg.method.get("module"))(cfg)


def load_context(cfg: DictConfig, method: AugmentationMethod) -> RunContext:
    task = build_task(cfg.task)
    splits = load_splits(cfg.data, task)
    seeds = select_seeds(splits, method.max_seeds())
    if "seeds" in method.needs and not seeds:
        raise ConfigError(
            f"method {method.name} starts from seeds, and the training split is empty: check data"
        )
    if "retrieval" in method.needs and cfg.get("retrieval") is None:
        raise ConfigError(
            f"method={method.name} needs the `retrieval` block: pick a backend with retrieval=dense|bm25|hybrid"
        )
    if "student" in method.needs and (cfg.get("model") is None or cfg.get("trainer") is None):
        raise ConfigError(f"method={method.name} trains a student: it needs train.py's `model` and `trainer`")
    return RunContext(cfg, Path(cfg.paths.run_dir), task, splits, seeds)


def run_method(cfg: DictConfig, method: AugmentationMethod | None = None) -> dict[str, Any]:
    """Run `method` (default: the one `cfg.method.name` names) from the composed augment config; write the
    outputs and return the stats."""
    started = time.perf_counter()
    method = method or build_method(cfg)
    context = load_context(cfg, method)
    method.check(context)
    if cfg.get("dry_run"):  # the estimate, then stop: no teacher call, no teacher model
        from taskexpert.augment.dry_run import estimate_run

        return estimate_run(context, method.plan(context))
    follower = method.follow(context)
    if follower is not None:  # another process runs the method and writes its outputs
        return follower
    plan = None if method.multi_round else method.plan(context)
    embedder = SentenceEmbedder() if needs_embedder(cfg, method) else None
    teacher = build_teacher(cfg.teacher, cfg.sampling, cfg.cache)
    session = Session(context, teacher, embedder)
    try:
        if method.multi_round:
            outcome = method.rounds(context, session)
        else:
            outcome = session.generate_all(method, plan.jobs)
        cache_entries = len(teacher.cache)
        teacher_totals = teacher.stats.as_dict()  # generation and judging together
    finally:
        teacher.close()
        teacher.cache.close()
    stats = assemble_stats(context, method, teacher, outcome, session.result, teacher_totals, cache_entries)
    finish(context, method, outcome, stats, embedder, started)
    return stats


class Session:
    """The run's teacher and the filters every answer passes: what a method generates with."""

    def __init__(self, context: RunContext, teacher: Teacher, embedder) -> None:
        self.context = context
        self.teacher = teacher
        self.embedder = embedder
        self.result: GenerationResult | None = None  # a single-shot method's one result

    def generate(
        self,
        jobs: Sequence[GenerationJob],
        dedup_references: Sequence[Record] = (),
        progress_label: str | None = None,
    ) -> GenerationResult:
        """Ask the teacher for `jobs` and filter the answers; dedup also against `dedup_references`."""
        context = self.context
        filters = build_filters(context.cfg, context.splits, self.teacher, self.embedder)
        for record_filter in filters:
            if isinstance(record_filter, Deduplicator) and dedup_references:
                record_filter.add_references(dedup_references)
        if progress_label is None:
            return generate_records(self.teacher, jobs, filters)
        with teacher_progress(len(jobs), progress_label, bool(context.cfg.progress)) as tick:
            return generate_records(self.teacher, jobs, filters, on_response=tick)

    def generate_all(self, method: AugmentationMethod, jobs: list[GenerationJob]) -> RoundsOutcome:
        """A single-shot method: its jobs in one pass, with a progress bar."""
        self.result = self.generate(jobs, progress_label=f"{method.name} with {self.teacher.name}")
        rejected = [item.as_dict() for item in self.result.rejected_items]
        return RoundsOutcome(self.result.records, rejected, {})


def needs_embedder(cfg: DictConfig, method: AugmentationMethod) -> bool:
    """The sentence embedder is loaded when embedding dedup or the embedding diversity asks for it."""
    dedup, diversity = cfg.filters.dedup, cfg.diversity
    measured = method.measures_diversity and diversity.enabled and diversity.embeddings
    return (dedup.enabled and dedup.near == "embedding") or bool(measured)


def assemble_stats(
    context: RunContext,
    method: AugmentationMethod,
    teacher: Teacher,
    outcome: RoundsOutcome,
    result: GenerationResult | None,
    teacher_totals: dict[str, Any],
    cache_entries: int,
) -> dict[str, Any]:
    """augment_stats.json: who, how many seeds, the method's own keys; then a single-shot result's counts,
    failures, prompts, sampling and cache, or a multi-round method's totals."""
    cfg = context.cfg
    head = {
        "method": str(cfg.method.name),
        "teacher": {"model": teacher.name, "backend": teacher.backend.kind},
    }
    if result is None:  # a multi-round method: its totals over the rounds
        return {**head, **outcome.stats, "teacher_totals": teacher_totals}
    return {
        **head,
        "seeds": len(context.seeds),
        **method.extra_stats(context),
        **result.stats(labelled=bool(context.task.labels)),
        "failures": [
            item.as_dict() for item in result.rejected_items if item.reason.startswith("teacher_failed")
        ],
        "teacher_totals": teacher_totals,
        "prompt_hashes": sorted(result.prompt_hashes),
        "sampling": {**OmegaConf.to_container(cfg.sampling, resolve=True), **method.sampling_overrides()},
        "cache": {"path": str(cfg.cache.path), "entries": cache_entries},
    }


def finish(
    context: RunContext,
    method: AugmentationMethod,
    outcome: RoundsOutcome,
    stats: dict[str, Any],
    embedder,
    started: float,
) -> dict[str, Path]:
    """Diversity of seeds and kept records, the output files with the split's fingerprint, W&B, the console
    summary. `stats` gains `diversity` (when measured), `budget_stop` and `total_seconds`."""
    cfg, run_dir = context.cfg, context.run_dir
    diversity = cfg.diversity
    if method.measures_diversity and diversity.enabled:
        measure = embedder if diversity.embeddings else None
        fields, limit = compared_fields(diversity.fields, cfg.task), int(diversity.max_items)
        stats["diversity"] = {
            "seeds": diversity_stats(context.seeds, fields, measure, limit, int(cfg.seed)),
            "generated": diversity_stats(outcome.records, fields, measure, limit, int(cfg.seed)),
        }
    stats["budget_stop"] = (stats.get("teacher_totals") or {}).get("budget_stop")
    stats["total_seconds"] = round(time.perf_counter() - started, 3)
    paths = write_outputs(run_dir, cfg.output, outcome.records, stats, outcome.rejected)
    write_guard_meta(cfg, context.splits, paths["records"], len(outcome.records))
    if cfg.wandb.enabled:
        config = loggable_config(cfg)
        log_to_wandb(cfg.wandb, config, stats, run_dir, method.wandb_job_type, outcome.history)
    print_summary(stats, paths)
    log.info("%s: kept %d records; files in %s", stats["method"], stats["kept"], run_dir)
    return paths
