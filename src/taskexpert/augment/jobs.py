"""Generation jobs: one teacher request, the record it came from, and how its answer becomes a record.

Dr. LLaMA's two ways of using a teacher:
- rewrite: the teacher rewords chosen fields of a training record; everything else (context, label) is
  inherited from the parent record, so the label stays;
- new: the teacher writes a whole new record from a few training examples, asked for the seed's label.
Other pipelines (LLM2LLM, ReBase) build their own jobs and reuse `generate_records`.
Ids are deterministic (`<parent>-<source>-<sample>`), so a re-run produces the same ids.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from taskexpert.augment.parsing import GENERATED_FIELDS
from taskexpert.augment.prompts import PromptTemplate
from taskexpert.errors import ConfigError, DataError
from taskexpert.records import LABELS, QARecord, validate_record
from taskexpert.teachers.types import TeacherRequest

REWRITABLE_FIELDS = ("question", "context", "long_answer")
RECORD_PLACEHOLDERS = ("question", "context", "long_answer", "label")


@dataclass(frozen=True)
class GenerationJob:
    request: TeacherRequest
    record_id: str  # id of the record this job may produce
    source: str  # QARecord.source of the result: rewrite | new | llm2llm | rebase
    parent: QARecord  # the record the prompt was built from
    fields: tuple[str, ...]  # fields the answer must contain
    inherit: bool  # start from the parent's fields (rewrite) or from nothing (new)
    prompt_hash: str
    meta: dict[str, Any] = field(default_factory=dict, hash=False)
    labels: tuple[str, ...] = LABELS  # the labels an answer's `label` may take (its schema's enum)
    copy_sources: tuple[str, ...] = ()  # texts the answer must reword, not copy (a rewrite's originals)

    def to_record(self, values: dict[str, str], teacher: str) -> QARecord:
        """The record built from parsed answer `values`; raises DataError if it is not a valid record."""
        base = {name: getattr(self.parent, name) for name in RECORD_PLACEHOLDERS} if self.inherit else {}
        base.setdefault("long_answer", "")
        base.update(values)
        record = QARecord(
            id=self.record_id,
            question=base.get("question", ""),
            context=base.get("context", ""),
            long_answer=base["long_answer"],
            label=base.get("label", ""),
            source=self.source,
            parent_id=self.parent.id,
            rationale=base.get("rationale"),
            teacher=teacher,
            meta={"prompt_hash": self.prompt_hash, "sample_index": self.request.sample_index, **self.meta},
        )
        return validate_record(record, f"teacher answer for {self.record_id}")


def check_fields(fields: Sequence[str], allowed: Sequence[str], key: str) -> tuple[str, ...]:
    fields = tuple(fields)
    if not fields:
        raise ConfigError(f"{key} is empty: name the fields the teacher writes")
    unknown = [name for name in fields if name not in allowed]
    if unknown:
        raise ConfigError(f"{key} has {unknown[0]!r}: use some of {', '.join(allowed)}")
    return fields


def record_values(record: QARecord) -> dict[str, str]:
    return {name: getattr(record, name) or "" for name in RECORD_PLACEHOLDERS}


def rewrite_jobs(
    seeds: Sequence[QARecord],
    template: PromptTemplate,
    fields: Sequence[str] = ("question",),
    n_per_seed: int = 1,
    sampling: dict[str, Any] | None = None,
) -> list[GenerationJob]:
    """One job per seed and sample: reword `fields` of the seed, keep the rest (and the label)."""
    fields = check_fields(fields, REWRITABLE_FIELDS, "method.rewrite.fields")
    template.check({*RECORD_PLACEHOLDERS, "original_json", "fields", "first_field"})
    jobs = []
    for seed in seeds:
        values = record_values(seed) | {
            "original_json": json.dumps({name: getattr(seed, name) for name in fields}, ensure_ascii=False),
            "fields": ", ".join(f'"{name}"' for name in fields),
            "first_field": fields[0],
        }
        messages = template.render(values)
        for sample in range(n_per_seed):
            request = TeacherRequest.chat(messages, sample_index=sample, **(sampling or {}))
            originals = tuple(getattr(seed, name) for name in fields)
            jobs.append(
                GenerationJob(
                    request,
                    f"{seed.id}-rewrite-{sample}",
                    "rewrite",
                    seed,
                    fields,
                    True,
                    template.hash,
                    copy_sources=originals,
                )
            )
    return jobs


def example_block(records: Sequence[QARecord]) -> str:
    """Records as JSON lines, the way the `new` prompt shows its examples."""
    return "\n".join(
        json.dumps(
            {"question": r.question, "context": r.context, "long_answer": r.long_answer, "label": r.label},
            ensure_ascii=False,
        )
        for r in records
    )


def new_jobs(
    seeds: Sequence[QARecord],
    pool: Sequence[QARecord],
    template: PromptTemplate,
    fields: Sequence[str] = ("question", "context", "long_answer", "label"),
    n_per_seed: int = 1,
    examples_per_prompt: int = 3,
    seed: int = 0,
    sampling: dict[str, Any] | None = None,
) -> list[GenerationJob]:
    """One job per seed and sample: a new record asked for with the seed's label, shown the seed and
    `examples_per_prompt - 1` other training records drawn (reproducibly) from `pool`."""
    fields = check_fields(fields, GENERATED_FIELDS, "method.new.fields")
    for required in ("question", "context", "label"):
        if required not in fields:
            raise ConfigError(f"method.new.fields must include {required!r}: a new record needs it")
    if examples_per_prompt < 1:
        raise ConfigError(f"method.new.examples_per_prompt={examples_per_prompt} must be >= 1")
    template.check({*RECORD_PLACEHOLDERS, "examples"})
    jobs = []
    for parent in seeds:
        others = [record for record in pool if record.id != parent.id]
        for sample in range(n_per_seed):
            rng = random.Random(f"{seed}:{parent.id}:{sample}")  # str seeds are stable across processes
            shown = [parent, *rng.sample(others, min(examples_per_prompt - 1, len(others)))]
            messages = template.render(record_values(parent) | {"examples": example_block(shown)})
            request = TeacherRequest.chat(messages, sample_index=sample, **(sampling or {}))
            meta = {"example_ids": [record.id for record in shown], "requested_label": parent.label}
            jobs.append(
                GenerationJob(
                    request,
                    f"{parent.id}-new-{sample}",
                    "new",
                    parent,
                    fields,
                    False,
                    template.hash,
                    meta,
                    copy_sources=tuple(record.question for record in shown),  # a new study, not a copy
                )
            )
    return jobs


def build_or_reject(job: GenerationJob, values: dict[str, str], teacher: str) -> QARecord | str:
    """The record, or the reason it is not a valid record (e.g. an inherited empty field)."""
    try:
        return job.to_record(values, teacher)
    except DataError as error:
        return f"invalid_record:{error.field}"
