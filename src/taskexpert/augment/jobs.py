"""Generation jobs: one teacher request, the record it came from, and how its answer becomes a record.

Dr. LLaMA's two ways of using a teacher, on any task (the fields are the task's, see task_fields.py):
- rewrite: the teacher rewords chosen fields of a training record (default: the task's main field); everything
  else (other inputs, the target) is inherited from the parent record, so the label stays;
- new: the teacher writes a whole new record from a few training examples, asked for the seed's target.
Other methods (LLM2LLM, ReBase) build their own jobs; the runner (runner.py) asks for every method's.
Ids are deterministic (`<parent>-<source>-<sample>`), so a re-run produces the same ids.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from taskexpert.augment.parsing import Rejection
from taskexpert.augment.prompts import PromptTemplate
from taskexpert.augment.task_fields import NotASpan, TaskFields
from taskexpert.errors import ConfigError, DataError
from taskexpert.records import Record, validate_record
from taskexpert.tasks.task import Task
from taskexpert.teachers.types import TeacherRequest

# every prompt may quote the task's description, its label list and what it says about answers (span tasks)
TASK_PLACEHOLDERS = ("description", "labels", "answer_note")


@dataclass(frozen=True)
class GenerationJob:
    request: TeacherRequest
    record_id: str  # id of the record this job may produce
    source: str  # Record.source of the result: rewrite | new | llm2llm | rebase
    parent: Record  # the record the prompt was built from
    fields: tuple[str, ...]  # fields the answer must contain, under the task's names
    inherit: bool  # start from the parent's fields (rewrite) or from nothing (new)
    prompt_hash: str
    meta: dict[str, Any] = field(default_factory=dict, hash=False)
    labels: tuple[
        str, ...
    ] = ()  # the task's labels: an answer's `label` must be one of them (its schema's enum)
    copy_sources: tuple[str, ...] = ()  # texts the answer must reword, not copy (a rewrite's originals)
    task: Task | None = field(default=None, hash=False, compare=False)  # whose names the answer uses

    def to_record(self, values: dict[str, str], teacher: str) -> Record:
        """The record built from parsed answer `values` (named as the task names them: inputs, the target,
        the reference, `rationale`); raises DataError if it is not a valid record of the task."""
        if self.task is None:
            raise ValueError(f"job {self.record_id} has no task: its answer's fields mean nothing")
        names = TaskFields(self.task)
        inputs = dict(self.parent.inputs) if self.inherit else {}
        gold = {"target": self.parent.target, "reference": self.parent.reference} if self.inherit else {}
        gold.setdefault("reference", "")
        rationale = None
        for name, value in values.items():
            role = names.role(name)
            if role == "input":
                inputs[name] = value
            elif role == "rationale":
                rationale = value
            else:
                gold[role] = value
        where = f"teacher answer for {self.record_id}"
        if names.target_from_reference and names.reference in values:
            answer, parsed = self.task.kind.read_generated(self.task, gold["reference"])
            if not parsed:
                raise DataError(where, names.reference, "has no final answer the task's rule can read")
            gold["target"] = answer
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
        return names.place_answer(self.task.validate(record, where), where)


def check_fields(fields: Sequence[str], allowed: Sequence[str], key: str) -> tuple[str, ...]:
    fields = tuple(fields)
    if not fields:
        raise ConfigError(f"{key} is empty: name the fields the teacher writes")
    unknown = [name for name in fields if name not in allowed]
    if unknown:
        raise ConfigError(f"{key} has {unknown[0]!r}: use some of {', '.join(allowed)}")
    return fields


def task_values(task: Task, record: Record) -> dict[str, str]:
    """What every prompt of a record may quote: the record's fields by the task's names, the task's
    description and labels, and its note on answers."""
    names = TaskFields(task)
    return names.values(record) | {
        "description": task.description,
        "labels": ", ".join(task.labels),
        "answer_note": names.answer_note,
    }


def task_placeholders(task: Task) -> set[str]:
    names = TaskFields(task)
    return {*names.inputs, names.target, *([names.reference] if names.reference else []), *TASK_PLACEHOLDERS}


def quoted(fields: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in fields)


def rewrite_jobs(
    task: Task,
    seeds: Sequence[Record],
    template: PromptTemplate,
    fields: Sequence[str] | None = None,
    n_per_seed: int = 1,
    sampling: dict[str, Any] | None = None,
) -> list[GenerationJob]:
    """One job per seed and sample: reword `fields` of the seed (default: the task's main field), keep the
    rest (and the label)."""
    names = TaskFields(task)
    fields = names.check(fields or [task.main_field], "method.rewrite.fields", names.rewritable)
    template.check({*task_placeholders(task), "original_json", "fields", "first_field"})
    jobs = []
    for seed in seeds:
        seed_values = names.values(seed)
        values = task_values(task, seed) | {
            "original_json": json.dumps({name: seed_values[name] for name in fields}, ensure_ascii=False),
            "fields": quoted(fields),
            "first_field": fields[0],
        }
        messages = template.render(values)
        for sample in range(n_per_seed):
            request = TeacherRequest.chat(messages, sample_index=sample, **(sampling or {}))
            originals = tuple(seed_values[name] for name in fields)
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
                    task=task,
                )
            )
    return jobs


def example_block(task: Task, records: Sequence[Record]) -> str:
    """Records as JSON lines under the task's names, the way prompts show examples."""
    names = TaskFields(task)
    shown = (*names.rewritable, names.target)
    return "\n".join(
        json.dumps({name: names.values(r)[name] for name in shown}, ensure_ascii=False) for r in records
    )


def new_jobs(
    task: Task,
    seeds: Sequence[Record],
    pool: Sequence[Record],
    template: PromptTemplate,
    fields: Sequence[str] | None = None,
    n_per_seed: int = 1,
    examples_per_prompt: int = 3,
    seed: int = 0,
    sampling: dict[str, Any] | None = None,
) -> list[GenerationJob]:
    """One job per seed and sample: a new record (default: every field of one, see TaskFields.record) asked
    for with the seed's target, shown the seed and `examples_per_prompt - 1` other training records drawn
    (reproducibly) from `pool`."""
    names = TaskFields(task)
    fields = names.check(fields or names.record, "method.new.fields")
    names.check_complete(fields, "method.new.fields")
    if examples_per_prompt < 1:
        raise ConfigError(f"method.new.examples_per_prompt={examples_per_prompt} must be >= 1")
    template.check({*task_placeholders(task), "examples", "fields", "first_field"})
    jobs = []
    for parent in seeds:
        others = [record for record in pool if record.id != parent.id]
        for sample in range(n_per_seed):
            rng = random.Random(f"{seed}:{parent.id}:{sample}")  # str seeds are stable across processes
            shown = [parent, *rng.sample(others, min(examples_per_prompt - 1, len(others)))]
            values = task_values(task, parent) | {
                "examples": example_block(task, shown),
                "fields": quoted(fields),
                "first_field": fields[0],
            }
            request = TeacherRequest.chat(template.render(values), sample_index=sample, **(sampling or {}))
            meta = {"example_ids": [record.id for record in shown]}
            if task.labels:  # asked for the seed's label; answers are not asked for
                meta["requested_label"] = parent.target
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
                    task.labels,
                    copy_sources=tuple(record.text(task.main_field) for record in shown),  # new, not a copy
                    task=task,
                )
            )
    return jobs


def build_or_reject(job: GenerationJob, values: dict[str, str], teacher: str) -> Record | Rejection:
    """The record, or why it is not a valid record (an inherited empty field; a span answer not in its text)."""
    try:
        return job.to_record(values, teacher)
    except NotASpan as error:
        return Rejection(error.reason, error.problem)
    except DataError as error:
        return Rejection(f"invalid_record:{error.field}", error.problem)
