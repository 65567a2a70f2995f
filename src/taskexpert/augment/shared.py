"""What every augmentation run shares: the seeds it starts from and the filters every answer passes."""

from __future__ import annotations

from omegaconf import DictConfig

from taskexpert.augment.contamination import guard_from_config
from taskexpert.augment.dedup import Deduplicator
from taskexpert.augment.filters import RecordFilter
from taskexpert.augment.label_judge import LabelConsistencyFilter, StudentJudge, TeacherJudge
from taskexpert.augment.prompts import PromptTemplate
from taskexpert.augment.task_fields import compared_fields
from taskexpert.data.splits import Splits
from taskexpert.errors import ConfigError
from taskexpert.records import Record
from taskexpert.tasks import build_task
from taskexpert.teachers import Teacher


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


def select_seeds(splits: Splits, max_seeds: int | None) -> list[Record]:
    if max_seeds is not None and int(max_seeds) < 1:
        raise ConfigError(f"method.max_seeds={max_seeds} must be >= 1 (or null for all)")
    return splits.train if max_seeds is None else splits.train[: int(max_seeds)]
