"""Prompt formats: how a record becomes the text the student reads and the text it learns to write.

The task gives the templates (`task.prompt`) and the target layouts (`task.targets`); `data.target` picks one.
The target is built from pieces so that label scoring sees exactly what training taught: the `decision` piece
holds the gold ({label} or {answer}), and everything before it is the scoring prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskexpert.errors import ConfigError
from taskexpert.records import Record
from taskexpert.tasks.task import Task


@dataclass(frozen=True)
class PromptFormat:
    input: str  # over the task's input fields
    decision: str  # holds {placeholder} once
    placeholder: str  # "label" or "answer"
    pieces: tuple[str, ...]  # the target layout: decision / reference / rationale, in order
    target: str = "label"  # the layout's name, for messages
    reference: str = " {reference}"
    rationale: str = " {rationale}"
    truncate_field: str | None = None
    missing_rationale: str = "label_only"  # a record without a rationale: label_only (decision alone) | error

    def __post_init__(self) -> None:
        if self.missing_rationale not in ("label_only", "error"):
            raise ConfigError(f"data.missing_rationale={self.missing_rationale!r}: use label_only or error")

    @classmethod
    def for_task(
        cls, task: Task, target: str | None = None, missing_rationale: str = "label_only"
    ) -> PromptFormat:
        target = target or task.default_target
        if target not in task.targets:
            raise ConfigError(
                f"data.target={target!r} is unknown for the task {task.name}: use one of {', '.join(task.targets)}"
            )
        return cls(
            input=task.prompt.input,
            decision=task.prompt.decision,
            placeholder=task.placeholder,
            pieces=tuple(task.targets[target]),
            target=target,
            reference=task.prompt.reference,
            rationale=task.prompt.rationale,
            truncate_field=task.truncate_field,
            missing_rationale=missing_rationale,
        )

    @property
    def label_comes_first(self) -> bool:
        return self.pieces[0] == "decision"

    @property
    def decision_prefix(self) -> str:
        """The text between the prompt and the gold, e.g. ' the answer ... is'."""
        return self.decision.split("{" + self.placeholder + "}")[0].rstrip(" ")

    @property
    def decision_suffix(self) -> str:
        return self.decision.split("{" + self.placeholder + "}", 1)[1]

    def input_parts(self, record: Record) -> tuple[str, str, str]:
        """(text before the truncated field, that field, text after it): the middle part is what gets cut
        to fit. Without a truncated field, the whole prompt is the first part."""
        if self.truncate_field is None:
            return self.input.format_map(record.inputs), "", ""
        head, tail = self.input.split("{" + self.truncate_field + "}", 1)
        return (
            head.format_map(record.inputs),
            record.inputs[self.truncate_field],
            tail.format_map(record.inputs),
        )

    def decision_text(self, gold: str) -> str:
        return self.decision.replace("{" + self.placeholder + "}", gold)

    def target_pieces(self, record: Record) -> list[tuple[str, str]]:
        """The target as (piece name, text) pairs; the decision piece is returned unformatted."""
        pieces = []
        for name in self.pieces:
            if name == "decision":
                pieces.append(("decision", self.decision))
            elif name == "rationale":
                if record.rationale:
                    pieces.append(("rationale", self.rationale.format(rationale=record.rationale)))
                elif self.missing_rationale == "error":
                    raise ConfigError(f"data.target={self.target} but record {record.id} has no rationale")
                # label_only: original items (seeds, evaluation) have no rationale; they keep the decision alone
            else:
                pieces.append(("reference", self.reference.format(reference=record.reference)))
        return pieces
