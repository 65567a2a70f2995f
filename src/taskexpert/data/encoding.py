"""Tokenize records once, up front: training ids with answer-only labels, and the ids used to evaluate."""

from __future__ import annotations

from dataclasses import dataclass

from taskexpert.data.prompts import PromptFormat
from taskexpert.errors import ConfigError, DataError
from taskexpert.records import LABELS, QARecord

IGNORE_INDEX = -100  # positions the loss skips: the prompt and the padding


@dataclass
class EncodedExample:
    id: str
    input_ids: list[int]  # prompt + target + eos, for training
    labels: list[int]  # IGNORE_INDEX over the prompt: the loss covers the answer only
    eval_ids: list[
        int
    ]  # prompt + decision prefix (label scoring), or prompt alone (generation); never sized by the gold target
    gold: int  # index of the gold label in LABELS
    position: int = 0  # index in its split: gathered evaluation rows are put back in split order


class ExampleEncoder:
    """Turns records into token ids with one tokenizer and one prompt format.

    Training sequences (prompt + gold target) fit `max_length`. Evaluation prompts fit it together with what
    evaluation adds: the decision prefix and one label token (label scoring), or `max_new_tokens` (generation).
    They never depend on the gold target, which evaluation must not see.
    """

    def __init__(
        self,
        tokenizer,
        prompt_format: PromptFormat,
        max_length: int,
        eval_mode: str = "label",
        max_new_tokens: int = 32,
    ) -> None:
        self.tokenizer = tokenizer
        self.format = prompt_format
        self.max_length = max_length
        self.eval_mode = eval_mode
        if eval_mode == "label" and not prompt_format.label_comes_first:
            raise ConfigError(
                f"label scoring needs a target that starts with the decision, but data.target={prompt_format.target}: "
                "use eval.mode=generate, or a target such as label or label_then_long_answer"
            )
        self.leading_special_ids = self._leading_special_ids()
        self.prefix_ids = self._encode(prompt_format.decision_prefix)
        self.suffix_ids = self._encode(prompt_format.decision.split("{label}", 1)[1])
        self.label_ids = {label: self._label_ids(label) for label in LABELS}
        first_tokens = [ids[0] for ids in self.label_ids.values()]
        if len(set(first_tokens)) != len(LABELS):
            raise ConfigError(
                f"the label words {LABELS} share a first token with this tokenizer; label scoring cannot tell them apart"
            )
        self.label_first_token_ids = first_tokens
        # tokens evaluation adds after the prompt: what the context must leave room for
        self.eval_budget = len(self.prefix_ids) + 1 if eval_mode == "label" else max_new_tokens

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

    def _decision_ids(self, label: str) -> list[int]:
        return self.prefix_ids + self.label_ids[label] + self.suffix_ids

    def encode(self, records: list[QARecord], source: str) -> list[EncodedExample]:
        """Encode records; the context is truncated (from its end) to fit `max_length`."""
        parts = [self.format.input_parts(record) for record in records]
        heads = self.tokenizer([p[0] for p in parts], add_special_tokens=False)["input_ids"]
        contexts = self.tokenizer([p[1] for p in parts], add_special_tokens=False)["input_ids"]
        tails = self.tokenizer([p[2] for p in parts], add_special_tokens=False)["input_ids"]
        eos = [self.tokenizer.eos_token_id] if self.tokenizer.eos_token_id is not None else []
        examples = []
        for position, (record, head, context, tail) in enumerate(
            zip(records, heads, contexts, tails, strict=True)
        ):
            target: list[int] = []
            for name, text in self.format.target_pieces(record):
                target += self._decision_ids(record.label) if name == "decision" else self._encode(text)
            target += eos
            around_context = len(self.leading_special_ids) + len(head) + len(tail)
            for after_prompt, what in ((len(target), "its target"), (self.eval_budget, "evaluation")):
                if around_context + after_prompt >= self.max_length:
                    raise DataError(
                        f"{source}, record {record.id}",
                        "question",
                        f"needs {around_context + after_prompt} tokens without its context ({what} included)",
                        f"raise data.max_length above {self.max_length}",
                    )
            prompt = (
                self.leading_special_ids
                + head
                + context[: self.max_length - around_context - len(target)]
                + tail
            )
            eval_room = self.max_length - around_context - self.eval_budget
            eval_prompt = self.leading_special_ids + head + context[:eval_room] + tail
            eval_tail = self.prefix_ids if self.eval_mode == "label" else []
            examples.append(
                EncodedExample(
                    id=record.id,
                    input_ids=prompt + target,
                    labels=[IGNORE_INDEX] * len(prompt) + target,
                    eval_ids=eval_prompt + eval_tail,
                    gold=LABELS.index(record.label),
                    position=position,
                )
            )
        return examples
