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
from taskexpert.records import LEGACY_NAMES, Record, validate_record
from taskexpert.teachers.types import TeacherRequest

REWRITABLE_FIELDS = ("question", "context", "long_answer")
RECORD_PLACEHOLDERS = ("question", "context", "long_answer", "label")


@dataclass(frozen=True)
class GenerationJob:
    request: TeacherRequest
    record_id: str  # id of the record this job may produce
    source: str  # Record.source of the result: rewrite | new | llm2llm | rebase
    parent: Record  # the record the prompt was built from
    fields: tuple[str, ...]  # fields the answer must contain
    inherit: bool  # start from the parent's fields (rewrite) or from nothing (new)
    prompt_hash: str
    meta: dict[str, Any] = field(default_factory=dict, hash=False)
    labels: tuple[
        str, ...
    ] = ()  # the task's labels: an answer's `label` must be one of them (its schema's enum)
    copy_sources: tuple[str, ...] = ()  # texts the answer must reword, not copy (a rewrite's originals)

    def to_record(self, values: dict[str, str], teacher: str) -> Record:
        """The record built from parsed answer `values` (input fields by name; `label`, `long_answer` and
        `rationale` as the target, reference and rationale); raises DataError if it is not a valid record."""
        inputs = dict(self.parent.inputs) if self.inherit else {}
        gold = {"target": self.parent.target, "reference": self.parent.reference} if self.inherit else {}
        gold.setdefault("reference", "")
        rationale = None
        for name, value in values.items():
            name = LEGACY_NAMES.get(name, name)
            if name in ("target", "reference"):
                gold[name] = value
            elif name == "rationale":
                rationale = value
            else:
                inputs[name] = value
        where = f"teacher answer for {self.record_id}"
        record = Record(
            id=self.record_id,
            inputs=inputs,
            target=gold.get("target", ""),
            reference=gold["reference"],
            source=self.source,
            parent_id=self.parent.id,
            rationale=rationale,
            teacher=teacher,
            meta={"prompt_hash": self.prompt_hash, "sample_index": self.request.sample_index, **self.meta},
        )
        validate_record(record, where)
        for name in self.parent.inputs:  # every input field the parent has, non-empty
            if not record.inputs.get(name, "").strip():
                raise DataError(where, name, "is empty", f"every record needs a non-empty {name}")
        if self.labels and record.target not in self.labels:
            raise DataError(where, "label", f"has unknown label {record.target!r}")
        return record


def check_fields(fields: Sequence[str], allowed: Sequence[str], key: str) -> tuple[str, ...]:
    fields = tuple(fields)
    if not fields:
        raise ConfigError(f"{key} is empty: name the fields the teacher writes")
    unknown = [name for name in fields if name not in allowed]
    if unknown:
        raise ConfigError(f"{key} has {unknown[0]!r}: use some of {', '.join(allowed)}")
    return fields


def record_values(record: Record) -> dict[str, str]:
    return {name: record.text(name) for name in RECORD_PLACEHOLDERS}


def rewrite_jobs(
    seeds: Sequence[Record],
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
            "original_json": json.dumps({name: seed.text(name) for name in fields}, ensure_ascii=False),
            "fields": ", ".join(f'"{name}"' for name in fields),
            "first_field": fields[0],
        }
        messages = template.render(values)
        for sample in range(n_per_seed):
            request = TeacherRequest.chat(messages, sample_index=sample, **(sampling or {}))
            originals = tuple(seed.text(name) for name in fields)
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


def example_block(records: Sequence[Record]) -> str:
    """Records as JSON lines, the way the `new` prompt shows its examples."""
    return "\n".join(
        json.dumps({name: r.text(name) for name in RECORD_PLACEHOLDERS}, ensure_ascii=False) for r in records
    )


def new_jobs(
    seeds: Sequence[Record],
    pool: Sequence[Record],
    template: PromptTemplate,
    fields: Sequence[str] = ("question", "context", "long_answer", "label"),
    n_per_seed: int = 1,
    examples_per_prompt: int = 3,
    seed: int = 0,
    sampling: dict[str, Any] | None = None,
    labels: Sequence[str] = (),
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
            meta = {"example_ids": [record.id for record in shown], "requested_label": parent.target}
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
                    tuple(labels),
                    copy_sources=tuple(
                        record.text("question") for record in shown
                    ),  # a new study, not a copy
                )
            )
    return jobs


def build_or_reject(job: GenerationJob, values: dict[str, str], teacher: str) -> Record | str:
    """The record, or the reason it is not a valid record (e.g. an inherited empty field)."""
    try:
        return job.to_record(values, teacher)
    except DataError as error:
        return f"invalid_record:{error.field}"
