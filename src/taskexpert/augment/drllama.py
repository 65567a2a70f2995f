"""Dr. LLaMA augmentation (method=rewrite | new | combined): the teacher rewords seeds or writes new records.

Seeds are the training split of `cfg.data` (the first `method.max_seeds`); the validation and test items
only feed the contamination guard. The method returns its jobs; the runner (augment/runner.py) asks the
teacher through the cache, so a re-run (after a kill, or with more seeds) reuses every answer already
received and reproduces the same records.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from taskexpert.augment.jobs import GenerationJob, new_jobs, rewrite_jobs
from taskexpert.augment.method import AugmentationMethod, RunContext
from taskexpert.augment.prompts import PromptTemplate
from taskexpert.augment.registry import register_method
from taskexpert.errors import ConfigError
from taskexpert.records import Record
from taskexpert.tasks import Task, build_task

METHOD_BLOCKS = ("rewrite", "new")


def _sampling_overrides(block: Any) -> dict[str, Any]:
    return {"max_new_tokens": int(block.max_new_tokens)} if block.get("max_new_tokens") else {}


def build_jobs(
    cfg: DictConfig, seeds: list[Record], pool: list[Record], task: Task | None = None
) -> list[GenerationJob]:
    """The jobs of every method block present in `cfg.method` (rewrite, then new), on the task's fields."""
    method = cfg.method
    task = task or build_task(cfg.task)
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


@register_method("rewrite", "new", "combined")
class DrLlama(AugmentationMethod):
    """Dr. LLaMA: rewrite every seed (`method.rewrite`), write new records from seeds (`method.new`), or both."""

    name = "rewrite"

    def jobs(self, context: RunContext) -> list[GenerationJob]:
        return build_jobs(self.cfg, context.seeds, context.splits.train, context.task)
