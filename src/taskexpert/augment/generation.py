"""Jobs -> teacher -> parsed, validated, filtered records, with the numbers of what happened on the way.

This is the reusable core of every augmentation method: each builds its jobs, and the runner (runner.py)
calls `generate_records` with them; the result also says what the teacher spent on it (`spend`). Records are processed in job order (not arrival order),
so the result depends only on the teacher's answers, which the cache keeps.

Every job's request carries the JSON schema of its answer (its fields, its labels, the task's length
bounds fitted to the job's token budget at the teacher's measured rates, see teachers/token_budget.py); the
teacher decodes under it where its backend can (`teacher.structured`). Answers cut at the token limit
(the backend's finish reason `length`) are counted as `truncated`; one that does not parse is rejected as
`truncated` rather than by what the cut broke. The parse and reject
path below is the same for every answer; the stats count the constrained ones and those that broke their
schema all the same.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from taskexpert.augment.answer_schema import answer_schema, schema_violation
from taskexpert.augment.filters import Dropped, RecordFilter, apply_filters
from taskexpert.augment.jobs import GenerationJob, build_or_reject
from taskexpert.augment.parsing import Rejection, parse_fields
from taskexpert.augment.spend import reading, spend_since
from taskexpert.augment.task_fields import RATIONALE, TaskFields
from taskexpert.records import Record
from taskexpert.teachers.teacher import Teacher
from taskexpert.teachers.token_budget import TokenRates, fit_lengths, measure_rates
from taskexpert.teachers.types import TeacherResponse
from taskexpert.utils.secrets import redact_text


@dataclass
class RejectedItem:
    """One answer that did not become a kept record, for augment_rejected.jsonl."""

    record_id: str
    parent_id: str
    reason: str
    detail: str = ""
    text: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """As the rejected-records files hold it: secrets in the detail (a server's error body) masked, and
        in the teacher's text any secret this run knows."""
        return {
            "id": self.record_id,
            "parent_id": self.parent_id,
            "reason": self.reason,
            "detail": redact_text(self.detail),
            "text": None if self.text is None else redact_text(self.text, patterns=False),
        }


@dataclass
class GenerationResult:
    records: list[Record]  # kept, in job order
    requested: int = 0
    cache_hits: int = 0
    generated: int = 0  # new teacher answers (calls made that returned text)
    failed: int = 0  # requests whose calls kept failing
    parsed: int = 0  # answers that became valid records, before the filters
    rejected: Counter = field(default_factory=Counter)  # by reason: parse, validation and filter reasons
    faults: Counter = field(default_factory=Counter)  # transient faults retried on the way, by kind
    teacher_seconds: float = 0.0
    rejected_items: list[RejectedItem] = field(default_factory=list)
    constrained: int = 0  # answers decoded under their JSON schema
    schema_violations: Counter = field(default_factory=Counter)  # constrained answers that broke it, by kind
    truncated: int = 0  # answers cut at max_new_tokens (finish reason `length`)
    spend: dict[str, Any] = field(default_factory=dict)  # the teacher's calls, tokens, cost for it (spend.py)
    prompt_hashes: set[str] = field(default_factory=set)  # of the jobs' prompt templates

    def stats(self, labelled: bool = True) -> dict[str, Any]:
        """Counts for augment_stats.json; `kept_by_label` only for tasks with labels (elsewhere every target is
        its own answer text)."""
        answered = self.requested - self.failed
        by_label = dict(sorted(Counter(r.target for r in self.records).items())) if labelled else None
        stats = {
            "requested": self.requested,
            "cache_hits": self.cache_hits,
            "generated": self.generated,
            "failed": self.failed,
            "parsed": self.parsed,
            "rejected": dict(sorted(self.rejected.items())),
            "rejected_total": sum(self.rejected.values()),
            "kept": len(self.records),
            "kept_by_source": dict(sorted(Counter(r.source for r in self.records).items())),
            "kept_by_label": by_label,
            "teacher_faults": dict(sorted(self.faults.items())),
            "constrained": self.constrained,
            "unconstrained": answered - self.constrained,
            "schema_violations": dict(sorted(self.schema_violations.items())),
            "truncated": self.truncated,
            "teacher_seconds": round(self.teacher_seconds, 3),
            "items_per_second": round(answered / self.teacher_seconds, 3) if self.teacher_seconds else None,
        }
        return {key: value for key, value in stats.items() if not (key == "kept_by_label" and value is None)}


def generate_records(
    teacher: Teacher,
    jobs: Sequence[GenerationJob],
    filters: Sequence[RecordFilter] = (),
    on_response: Callable[[TeacherResponse], None] | None = None,
) -> GenerationResult:
    """Ask the teacher for every job, turn answers into records, run the filters, count everything."""
    started = time.perf_counter()
    before = reading(teacher.stats)  # the judge's calls among the filters count too
    rates = answer_rates(teacher, jobs)
    requests = [with_answer_schema(job, teacher, rates) for job in jobs]
    responses = teacher.generate(requests, on_response=on_response)
    result = GenerationResult(records=[], requested=len(jobs), teacher_seconds=time.perf_counter() - started)
    result.prompt_hashes = {job.prompt_hash for job in jobs}
    candidates: list[Record] = []
    for job, request, response in zip(jobs, requests, responses, strict=True):
        result.faults.update(response.faults)
        if not response.ok:
            result.failed += 1
            result.rejected_items.append(
                RejectedItem(
                    job.record_id, job.parent.id, f"teacher_failed:{response.error}", response.detail
                )
            )
            continue
        result.truncated += response.truncated
        if response.cached:
            result.cache_hits += 1
        else:
            result.generated += 1
        if response.constrained:
            result.constrained += 1
            violation = schema_violation(response.text or "", request.schema or {})
            if violation:
                result.schema_violations[violation] += 1
        record = _to_record(job, response.text or "", teacher.name)
        if isinstance(record, Rejection) and response.truncated:  # the cut, not what it broke, is the cause
            record = Rejection("truncated", f"cut at max_new_tokens; then {record.reason}: {record.detail}")
        if isinstance(record, Rejection):
            result.rejected[record.reason] += 1
            result.rejected_items.append(
                RejectedItem(job.record_id, job.parent.id, record.reason, record.detail, response.text)
            )
            continue
        candidates.append(record)
    result.parsed = len(candidates)
    kept, dropped = apply_filters(filters, candidates)
    _count_dropped(result, dropped)
    result.records = kept
    result.spend = spend_since(before, teacher.stats)
    return result


def answer_rates(teacher: Teacher, jobs: Sequence[GenerationJob]) -> TokenRates | None:
    """Tokens per character of each answer field, measured on the jobs' own records with the teacher's meter;
    None when no bounds will be sent (nothing to fit)."""
    if not teacher.length_bounds or not any(job.task and job.task.field_lengths for job in jobs):
        return None
    samples: dict[str, dict[str, str]] = {}  # field -> record id -> text: each record once per field
    for job in jobs:
        if job.task is None:
            continue
        values = TaskFields(job.task).values(job.parent) | {RATIONALE: job.parent.rationale or ""}
        for name in job.fields:
            samples.setdefault(name, {}).setdefault(job.parent.id, values.get(name, ""))
    return measure_rates(
        teacher.token_meter(), {name: list(texts.values()) for name, texts in samples.items()}
    )


def with_answer_schema(job: GenerationJob, teacher: Teacher, rates: TokenRates | None = None):
    """The job's request carrying the schema of its answer (and the texts it must not copy); the task's
    length bounds (when the teacher sends bounds) are fitted to the job's token budget at `rates`."""
    max_new_tokens = dict(job.request.sampling).get("max_new_tokens", teacher.sampling.max_new_tokens)
    bounds = job.task.field_lengths if job.task is not None and teacher.length_bounds else {}
    where = f"a {job.source} answer of task {job.task.name}" if job.task is not None else "the answer"
    lengths = fit_lengths(job.fields, bounds, max_new_tokens, rates, where)
    schema = answer_schema(job.fields, job.labels, lengths)
    return dataclasses.replace(job.request, schema=schema, avoid_copying=job.copy_sources)


def _to_record(job: GenerationJob, text: str, teacher_name: str) -> Record | Rejection:
    values = parse_fields(text, job.fields, job.labels)
    if isinstance(values, Rejection):
        return values
    return build_or_reject(job, values, teacher_name)


def _count_dropped(result: GenerationResult, dropped: list[Dropped]) -> None:
    for item in dropped:
        result.rejected[item.reason] += 1
        result.rejected_items.append(
            RejectedItem(item.record.id, item.record.parent_id or "", item.reason, item.detail)
        )
