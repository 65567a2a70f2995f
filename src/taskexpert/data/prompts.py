"""Prompt formats: how a record becomes the text the student reads and the text it learns to write.

The target is built from pieces so that label scoring sees exactly what training taught:
the `decision` piece holds `{label}`, and everything before `{label}` is the scoring prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskexpert.errors import ConfigError
from taskexpert.records import QARecord

# Target layouts: which pieces follow the prompt, in order.
TARGET_LAYOUTS: dict[str, tuple[str, ...]] = {
    "label": ("decision",),
    "label_then_long_answer": ("decision", "long_answer"),
    "long_answer_then_label": ("long_answer", "decision"),
    "rationale_then_label": ("rationale", "decision"),
}


@dataclass(frozen=True)
class PromptFormat:
    """Templates with `{question}`, `{context}`, `{long_answer}`, `{rationale}` and `{label}` fields."""

    input: str = "Question: {question}\nContext: {context}\nAnswer:"
    decision: str = " the answer to the question given the context is {label}."
    long_answer: str = " {long_answer}"
    rationale: str = " {rationale}"
    target: str = "label"
    missing_rationale: str = "label_only"  # a record without a rationale: label_only (decision alone) | error

    def __post_init__(self) -> None:
        if self.target not in TARGET_LAYOUTS:
            raise ConfigError(
                f"data.target={self.target!r} is unknown: use one of {', '.join(TARGET_LAYOUTS)}"
            )
        if "{context}" not in self.input or "{question}" not in self.input:
            raise ConfigError("prompt.input must contain {question} and {context}")
        if self.missing_rationale not in ("label_only", "error"):
            raise ConfigError(f"data.missing_rationale={self.missing_rationale!r}: use label_only or error")
        if self.decision.count("{label}") != 1:
            raise ConfigError("prompt.decision must contain {label} exactly once")

    @property
    def label_comes_first(self) -> bool:
        return TARGET_LAYOUTS[self.target][0] == "decision"

    @property
    def decision_prefix(self) -> str:
        """The text between the prompt and the label word, e.g. ' the answer ... is'."""
        return self.decision.split("{label}")[0].rstrip(" ")

    def input_parts(self, record: QARecord) -> tuple[str, str, str]:
        """(text before the context, the context, text after it): the context is what gets truncated."""
        head, tail = self.input.split("{context}", 1)
        return head.format(question=record.question), record.context, tail.format(question=record.question)

    def target_pieces(self, record: QARecord) -> list[tuple[str, str]]:
        """The target as (piece name, text) pairs; the decision piece is returned unformatted."""
        pieces = []
        for name in TARGET_LAYOUTS[self.target]:
            if name == "decision":
                pieces.append(("decision", self.decision))
            elif name == "rationale":
                if record.rationale:
                    pieces.append(("rationale", self.rationale.format(rationale=record.rationale)))
                elif self.missing_rationale == "error":
                    raise ConfigError(f"data.target={self.target} but record {record.id} has no rationale")
                # label_only: original items (seeds, evaluation) have no rationale; they keep the decision alone
            else:
                pieces.append(("long_answer", self.long_answer.format(long_answer=record.long_answer)))
        return pieces
