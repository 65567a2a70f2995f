"""What the augmentation methods share: the seeds they start from and the filters every answer passes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from taskexpert.augment.contamination import guard_from_config, write_guard_meta
from taskexpert.augment.dedup import Deduplicator
from taskexpert.augment.diversity import diversity_stats
from taskexpert.augment.filters import RecordFilter
from taskexpert.augment.label_judge import LabelConsistencyFilter, StudentJudge, TeacherJudge
from taskexpert.augment.prompts import PromptTemplate
from taskexpert.augment.report import log_to_wandb, print_summary, write_outputs
from taskexpert.augment.task_fields import compared_fields
from taskexpert.data.splits import Splits
from taskexpert.errors import ConfigError
from taskexpert.records import Record
from taskexpert.tasks import build_task
from taskexpert.teachers import Teacher
from taskexpert.training.config_logging import loggable_config


def build_filters(cfg: DictConfig, splits: Splits, teacher: Teacher, embedder) -> list[RecordFilter]:
    """Dedup (against all training records), contamination (validation + test), label consistency."""
    filters_cfg = cfg.filters
    filters: list[RecordFilter] = []
    if filters_cfg.dedup.enabled:
        dedup = Deduplicator(
            compared_fields(filters_cfg.dedup.fields, cfg.task),
            filters_cfg.dedup.near,
            float(filters_cfg.dedup.threshold),
            embedder,
        )
        dedup.add_references(splits.train)
        filters.append(dedup)
    if filters_cfg.contamination.enabled:
        filters.append(guard_from_config(cfg.data.get("leak_check"), splits.validation + splits.test))
    judge_cfg = filters_cfg.label_consistency
    if judge_cfg.enabled and not build_task(cfg.task).labels:
        raise ConfigError(
            f"filters.label_consistency judges labels, and task {cfg.task.name} has none: "
            "set filters.label_consistency.enabled=false"
        )
    if judge_cfg.enabled:
        if judge_cfg.judge == "teacher":
            template = PromptTemplate.load(judge_cfg.prompt, cfg.paths.get("prompts_dir"))
            judge = TeacherJudge(teacher, template, build_task(cfg.task), int(judge_cfg.max_new_tokens))
        elif judge_cfg.judge == "student":
            if not judge_cfg.get("student_run_dir"):
                raise ConfigError(
                    "filters.label_consistency.judge=student needs student_run_dir=<train run dir>"
                )
            judge = StudentJudge(judge_cfg.student_run_dir)
        else:
            raise ConfigError(f"filters.label_consistency.judge={judge_cfg.judge!r}: use teacher or student")
        filters.append(LabelConsistencyFilter(judge, bool(judge_cfg.keep_unanswered)))
    return filters


def needs_embedder(cfg: DictConfig) -> bool:
    dedup = cfg.filters.dedup
    return (dedup.enabled and dedup.near == "embedding") or (
        cfg.diversity.enabled and cfg.diversity.embeddings
    )


def select_seeds(splits: Splits, max_seeds: int | None) -> list[Record]:
    if max_seeds is not None and int(max_seeds) < 1:
        raise ConfigError(f"method.max_seeds={max_seeds} must be >= 1 (or null for all)")
    return splits.train if max_seeds is None else splits.train[: int(max_seeds)]


def finish_run(
    cfg: DictConfig,
    run_dir: Path,
    splits: Splits,
    seeds: list[Record],
    result,
    stats: dict[str, Any],
    embedder,
    started: float,
) -> dict[str, Path]:
    """What every method does last: diversity of seeds and kept records, the output files with the split's
    fingerprint, W&B, the console summary. `stats` gains `diversity` (when on) and `total_seconds` since
    `started` (a perf_counter reading); returns the written paths."""
    diversity = cfg.diversity
    if diversity.enabled:
        measure = embedder if diversity.embeddings else None
        fields, limit = compared_fields(diversity.fields, cfg.task), int(diversity.max_items)
        stats["diversity"] = {
            "seeds": diversity_stats(seeds, fields, measure, limit, int(cfg.seed)),
            "generated": diversity_stats(result.records, fields, measure, limit, int(cfg.seed)),
        }
    stats["budget_stop"] = (stats.get("teacher_totals") or {}).get("budget_stop")
    stats["total_seconds"] = round(time.perf_counter() - started, 3)
    paths = write_outputs(run_dir, cfg.output, result.records, stats, result.rejected_items)
    write_guard_meta(cfg, splits, paths["records"], len(result.records))
    if cfg.wandb.enabled:
        log_to_wandb(cfg.wandb, loggable_config(cfg), stats, run_dir)
    print_summary(stats, paths)
    return paths
