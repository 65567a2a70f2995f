"""What a teacher writes for a task, and how its answer's fields become a record.

A teacher answer is a JSON object whose keys are the task's own names: its input fields (`task.input_fields`),
the reference under `task.reference_field` when the task has one (a long answer, GSM8K's worked
solution), and the target under the kind's name (`label` for classification, `answer` otherwise). A task whose
reference ends in its answer (GSM8K's `#### N`) does not ask for the answer twice: the target is read from the
reference with the task's own rule. `rationale` is the one extra field any method may ask for.

A span task whose answers are copied from an input (`task.span_of`, SQuAD's context) gets one more check: the
answer must occur in that field (`place_answer`). It is kept in the field's own spelling, with
`meta.answer_start`; an answer the field does not hold is rejected as `answer_not_in_<field>`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from taskexpert.errors import ConfigError, DataError
from taskexpert.records import Record
from taskexpert.tasks.kinds.span import locate_span
from taskexpert.tasks.task import Task

RATIONALE = "rationale"


class NotASpan(DataError):
    """A span task's answer that the field it must be copied from does not hold."""

    def __init__(self, where: str, field_name: str, answer: str) -> None:
        super().__init__(where, "answer", f"{answer[:80]!r} does not occur in the {field_name}")
        self.reason = f"answer_not_in_{field_name}"


@dataclass(frozen=True)
class TaskFields:
    task: Task

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.task.input_fields

    @property
    def reference(self) -> str | None:
        return self.task.reference_field

    @property
    def target(self) -> str:
        """The target's name in answers and prompts: `label` or `answer`."""
        return self.task.placeholder

    @property
    def target_from_reference(self) -> bool:
        """The answer kind with a reference: the final answer is read from the reference, not asked for."""
        return self.task.kind.name == "answer" and self.reference is not None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.task.labels

    @property
    def record(self) -> tuple[str, ...]:
        """The fields of a whole new record, in the order a teacher writes them."""
        names = [*self.inputs, *([self.reference] if self.reference else [])]
        return tuple(names if self.target_from_reference else [*names, self.target])

    @property
    def rewritable(self) -> tuple[str, ...]:
        return (*self.inputs, *([self.reference] if self.reference else []))

    @property
    def all(self) -> tuple[str, ...]:
        return (*dict.fromkeys((*self.record, self.target)), RATIONALE)

    @property
    def span_of(self) -> str | None:
        return self.task.span_of

    @property
    def answer_note(self) -> str:
        """What prompts say about the answer (`{{answer_note}}`): a span task's answer is copied from its field;
        other tasks need no note."""
        if self.task.kind.name != "span":
            return ""
        if self.span_of:
            return (
                f'The "{self.target}" must be copied word for word from the "{self.span_of}": a short span of '
                f"it (a name, a number, a phrase), not a sentence about it."
            )
        return f'The "{self.target}" is the complete output for the record, written the way the examples write theirs.'

    def place_answer(self, record: Record, where: str) -> Record:
        """`record` with its answer as the `span_of` field holds it (see locate_span) and `meta.answer_start`;
        unchanged for other tasks; NotASpan when the field does not hold the answer."""
        if not self.span_of:
            return record
        text = record.inputs.get(self.span_of, "")
        found = locate_span(record.target, text)
        if found is None:
            raise NotASpan(where, self.span_of, record.target)
        span = text[found[0] : found[1]]
        meta = {**record.meta, "answer_start": found[0]}
        if span != record.target:
            meta["answer_written"] = record.target  # the teacher's spelling, e.g. with a final full stop
        return dataclasses.replace(record, target=span, meta=meta)

    def role(self, name: str) -> str:
        """input | target | reference | rationale."""
        if name in self.inputs:
            return "input"
        if name == self.reference:
            return "reference"
        if name == self.target:
            return "target"
        if name == RATIONALE:
            return "rationale"
        raise ConfigError(
            f"{name!r} is not a field of task {self.task.name}: use some of {', '.join(self.all)}"
        )

    def values(self, record: Record) -> dict[str, str]:
        """A record's texts under the task's names: what prompts may quote as {{name}}."""
        values = {name: record.inputs.get(name, "") for name in self.inputs}
        values[self.target] = record.target
        if self.reference:
            values[self.reference] = record.reference
        return values

    def check(
        self, fields: tuple[str, ...] | list[str], key: str, allowed: tuple[str, ...] | None = None
    ) -> tuple[str, ...]:
        """`fields` (a method's config) checked against the task's names; ConfigError naming `key`."""
        fields = tuple(fields)
        allowed = self.all if allowed is None else allowed
        if not fields:
            raise ConfigError(f"{key} is empty: name the fields the teacher writes")
        unknown = [name for name in fields if name not in allowed]
        if unknown:
            raise ConfigError(f"{key} has {unknown[0]!r}: task {self.task.name} allows {', '.join(allowed)}")
        return fields

    def check_complete(self, fields: tuple[str, ...], key: str) -> None:
        """A new record needs every input and its target (or the reference it is read from)."""
        for name in self.record:
            if (name != self.reference or self.target_from_reference) and name not in fields:
                raise ConfigError(f"{key} must include {name!r}: a new {self.task.name} record needs it")


def task_fields(task: Task) -> TaskFields:
    return TaskFields(task)


def compared_fields(cfg_fields: Any, task_cfg: Any) -> list[str]:
    """The fields dedup and diversity compare: as configured, or null = the task's main field."""
    from taskexpert.tasks import build_task

    return list(cfg_fields) if cfg_fields else [build_task(task_cfg).main_field]
