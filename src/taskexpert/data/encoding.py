"""Tokenize records once, up front: training ids with answer-only labels, and the ids used to evaluate."""

from __future__ import annotations

from dataclasses import dataclass

from taskexpert.data.prompts import PromptFormat
from taskexpert.errors import ConfigError, DataError
from taskexpert.records import Record
from taskexpert.tasks.task import Task, check_eval_mode

IGNORE_INDEX = -100  # positions the loss skips: the prompt and the padding


@dataclass
class EncodedExample:
    id: str
    input_ids: list[int]  # prompt + target + eos, for training
    labels: list[int]  # IGNORE_INDEX over the prompt: the loss covers the answer only
    # prompt + decision prefix (label scoring), or prompt alone (generation); never sized by the gold target
    eval_ids: list[int]
    golds: tuple[str, ...]  # the gold answers (the first is the target): a label name, a final answer, a span
    group: str | None = None  # the value of task.group_by, for per-group metrics
    position: int = 0  # index in its split: gathered evaluation rows are put back in split order


@dataclass(frozen=True)
class LabelTokens:
    """Each label's token ids after the decision prefix, in the task's label order."""

    names: tuple[str, ...]
    sequences: tuple[tuple[int, ...], ...]
    normalize: str = "none"  # none = sum of the label tokens' log-probabilities, mean = their mean

    @property
    def single_token(self) -> bool:
        """Every label is one token (then all are told apart by one next-token distribution)."""
        return all(len(ids) == 1 for ids in self.sequences)

    @property
    def first_token_ids(self) -> list[int]:
        return [ids[0] for ids in self.sequences]


class ExampleEncoder:
    """Turns records into token ids with one tokenizer, one task and one target layout.

    Training sequences (prompt + gold target) fit `max_length`. Evaluation prompts fit it together with what
    evaluation adds: the decision prefix and the longest label (label scoring), or `max_new_tokens` (generation).
    They never depend on the gold target, which evaluation must not see.
    """

    def __init__(
        self,
        tokenizer,
        task: Task,
        max_length: int,
        eval_mode: str | None = None,
        target: str | None = None,
        missing_rationale: str = "label_only",
        max_new_tokens: int | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.task = task
        self.format = PromptFormat.for_task(task, target, missing_rationale)
        self.max_length = max_length
        self.eval_mode = eval_mode or task.eval_mode
        check_eval_mode(task, self.eval_mode)
        if self.eval_mode == "label" and not self.format.label_comes_first:
            raise ConfigError(
                f"label scoring needs a target that starts with the decision, but data.target={self.format.target}: "
                "use eval.mode=generate, or a target that starts with the decision"
            )
        self.leading_special_ids = self._leading_special_ids()
        self.prefix_ids = self._encode(self.format.decision_prefix)
        self.suffix_ids = self._encode(self.format.decision_suffix)
        self.label_tokens: LabelTokens | None = None
        if task.labels:
            sequences = tuple(tuple(self._label_ids(label)) for label in task.labels)
            self.label_tokens = LabelTokens(task.labels, sequences, task.label_normalize)
        # tokens evaluation adds after the prompt: what the truncated field must leave room for
        if self.eval_mode == "label":
            self.eval_budget = len(self.prefix_ids) + max(len(ids) for ids in self.label_tokens.sequences)
        else:
            self.eval_budget = max_new_tokens or task.generate.max_new_tokens

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    def _leading_special_ids(self) -> list[int]:
        """The special tokens this tokenizer puts before a text (LLaMA's <s>, BioGPT's </s>)."""
        with_specials = self.tokenizer("x")["input_ids"]
        without = self._encode("x")
        return (
            with_specials[: len(with_specials) - len(without)]
            if with_specials[-len(without) :] == without
            else []
        )

    def _label_ids(self, label: str) -> list[int]:
        prefix = self.format.decision_prefix
        full = self._encode(f"{prefix} {label}")
        if full[: len(self.prefix_ids)] != self.prefix_ids or len(full) == len(self.prefix_ids):
            raise ConfigError(f"the decision prefix {prefix!r} does not tokenize stably before {label!r}")
        return full[len(self.prefix_ids) :]

    def _decision_ids(self, record: Record) -> list[int]:
        if self.label_tokens is not None:  # the label's ids exactly as label scoring sees them
            index = self.label_tokens.names.index(record.target)
            return self.prefix_ids + list(self.label_tokens.sequences[index]) + self.suffix_ids
        return self._encode(self.format.decision_text(record.target))

    def encode(self, records: list[Record], source: str) -> list[EncodedExample]:
        """Encode records; the task's truncated field is cut (from its end) to fit `max_length`."""
        parts = [self.format.input_parts(record) for record in records]
        heads = self.tokenizer([p[0] for p in parts], add_special_tokens=False)["input_ids"]
        middles = self.tokenizer([p[1] for p in parts], add_special_tokens=False)["input_ids"]
        tails = self.tokenizer([p[2] for p in parts], add_special_tokens=False)["input_ids"]
        eos = [self.tokenizer.eos_token_id] if self.tokenizer.eos_token_id is not None else []
        group_by = self.task.group_by
        examples = []
        truncated = self.format.truncate_field
        for position, (record, head, middle, tail) in enumerate(
            zip(records, heads, middles, tails, strict=True)
        ):
            target: list[int] = []
            for name, text in self.format.target_pieces(record):
                target += self._decision_ids(record) if name == "decision" else self._encode(text)
            target += eos
            around = (
                len(self.leading_special_ids) + len(head) + len(tail)
            )  # the prompt but its truncated field
            for after_prompt, what in ((len(target), "its target"), (self.eval_budget, "evaluation")):
                if around + after_prompt >= self.max_length:
                    untruncated = [n for n in self.task.input_fields if n != truncated]
                    raise DataError(
                        f"{source}, record {record.id}",
                        untruncated[0] if untruncated else self.task.input_fields[0],
                        f"needs {around + after_prompt} tokens"
                        + (f" without its {truncated}" if truncated else "")
                        + f" ({what} included)",
                        f"raise data.max_length above {self.max_length}",
                    )
            prompt = self.leading_special_ids + head + middle[: self.max_length - around - len(target)] + tail
            eval_prompt = (
                self.leading_special_ids + head + middle[: self.max_length - around - self.eval_budget] + tail
            )
            eval_tail = self.prefix_ids if self.eval_mode == "label" else []
            examples.append(
                EncodedExample(
                    id=record.id,
                    input_ids=prompt + target,
                    labels=[IGNORE_INDEX] * len(prompt) + target,
                    eval_ids=eval_prompt + eval_tail,
                    golds=self.task.golds(record),
                    group=str(record.meta.get(group_by, "")) if group_by else None,
                    position=position,
                )
            )
        return examples
