"""Teacher-driven augmentation: Dr. LLaMA's rewrite and new, on reusable jobs, parsers and filters.

`generate_records(teacher, jobs, filters)` is the core other methods (LLM2LLM, ReBase) build on.
"""

from taskexpert.augment.generation import GenerationResult, generate_records
from taskexpert.augment.jobs import GenerationJob, new_jobs, rewrite_jobs

__all__ = ["GenerationJob", "GenerationResult", "generate_records", "new_jobs", "rewrite_jobs"]
