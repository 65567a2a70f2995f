"""Tokenize records once, up front: training ids with answer-only labels, and the ids used to evaluate."""

from __future__ import annotations

from collections.abc import Callable
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
class RecordLength:
    """A record's token counts before any cut: what `max_length` must hold for it."""

    id: str
    fixed: int  # the prompt without its truncated field (leading special tokens included)
    field: int  # the truncated field's tokens (0 when the task has none)
    target: int  # the training target with its eos

    def needed(self, eval_budget: int) -> int:
        """The length that holds the whole record: its training sequence and its evaluation prompt."""
        return self.fixed + self.field + max(self.target, eval_budget)

    def minimum(self, eval_budget: int) -> int:
        """The shortest length it still fits, its truncated field cut to one token."""
        return self.fixed + min(self.field, 1) + max(self.target, eval_budget)


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

    Training sequences (prompt + gold target) fit `max_length` (None: an encoder that only measures). Evaluation prompts fit it together with what
    evaluation adds: the decision prefix and the longest label (label scoring), or `max_new_tokens` (generation).
    They never depend on the gold target, which evaluation must not see.
    """

    def __init__(
        self,
        tokenizer,
        task: Task,
        max_length: int | None,
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

    def _tokenized(self, records: list[Record]) -> list[tuple[list[int], list[int], list[int], list[int]]]:
        """(head, truncated field, tail, target + eos) ids of each record, tokenized in batches."""
        parts = [self.format.input_parts(record) for record in records]
        heads = self._encode_many([p[0] for p in parts])
        middles = self._encode_many([p[1] for p in parts])
        tails = self._encode_many([p[2] for p in parts])
        pieces = [self.format.target_pieces(record) for record in records]
        texts = [text for record_pieces in pieces for name, text in record_pieces if name != "decision"]
        encoded_texts = iter(self._encode_many(texts))
        eos = [self.tokenizer.eos_token_id] if self.tokenizer.eos_token_id is not None else []
        targets = []
        for record, record_pieces in zip(records, pieces, strict=True):
            target: list[int] = []
            for name, _ in record_pieces:
                target += self._decision_ids(record) if name == "decision" else next(encoded_texts)
            targets.append(target + eos)
        return list(zip(heads, middles, tails, targets, strict=True))

    def _encode_many(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def measure(
        self, records: list[Record], on_progress: Callable[[int, int], None] | None = None
    ) -> list[RecordLength]:
        """Each record's token counts before any cut, as `encode` tokenizes it. Only lengths are kept, and each
        distinct text is tokenized once (SQuAD's paragraphs recur under every question), in chunks, so a large
        file measures in little memory. `on_progress(done, total)` counts tokenized texts."""
        parts = [self.format.input_parts(record) for record in records]
        fixed_texts = [(p[0], p[2]) for p in parts]
        target_texts: list[list[str]] = []
        target_ids = []  # tokens of the decision pieces a label task scores as fixed label ids
        for record in records:
            texts, ids = [], 0
            for name, text in self.format.target_pieces(record):
                if name != "decision":
                    texts.append(text)
                elif self.label_tokens is not None:
                    ids += len(self._decision_ids(record))
                else:
                    texts.append(self.format.decision_text(record.target))
            target_texts.append(texts)
            target_ids.append(ids)
        everything = {text for pair in fixed_texts for text in pair}
        everything.update(p[1] for p in parts)
        everything.update(text for texts in target_texts for text in texts)
        length = self._lengths_of(sorted(everything), on_progress)
        lead = len(self.leading_special_ids)
        eos = 1 if self.tokenizer.eos_token_id is not None else 0
        return [
            RecordLength(
                record.id,
                lead + length[head] + length[tail],
                length[middle],
                ids + sum(length[text] for text in texts) + eos,
            )
            for record, (head, tail), (_, middle, _), texts, ids in zip(
                records, fixed_texts, parts, target_texts, target_ids, strict=True
            )
        ]

    def _lengths_of(
        self, texts: list[str], on_progress: Callable[[int, int], None] | None, chunk: int = 2048
    ) -> dict[str, int]:
        lengths = {"": 0}
        for start in range(0, len(texts), chunk):
            batch = [text for text in texts[start : start + chunk] if text]
            for text, ids in zip(batch, self._encode_many(batch), strict=True):
                lengths[text] = len(ids)
            if on_progress is not None:
                on_progress(min(start + chunk, len(texts)), len(texts))
        return lengths

    def encode(self, records: list[Record], source: str) -> list[EncodedExample]:
        """Encode records; the task's truncated field is cut (from its end) to fit `max_length`."""
        if self.max_length is None:
            raise ValueError("this encoder only measures: give it a max_length to encode")
        group_by = self.task.group_by
        examples = []
        truncated = self.format.truncate_field
        for position, (record, (head, middle, tail, target)) in enumerate(
            zip(records, self._tokenized(records), strict=True)
        ):
            around = (
                len(self.leading_special_ids) + len(head) + len(tail)
            )  # the prompt but its truncated field
            kept = min(len(middle), 1)  # a truncated field keeps at least one token
            for after_prompt, what in ((len(target), "its target"), (self.eval_budget, "evaluation")):
                if around + kept + after_prompt > self.max_length:
                    untruncated = [n for n in self.task.input_fields if n != truncated]
                    raise DataError(
                        f"{source}, record {record.id}",
                        untruncated[0] if untruncated else self.task.input_fields[0],
                        f"needs {around + kept + after_prompt} tokens"
                        + (f" without its {truncated}" if truncated else "")
                        + f" ({what} included)",
                        f"raise data.max_length above {self.max_length}, or set data.max_length=auto",
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
