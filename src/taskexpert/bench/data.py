"""The benchmark data: invented records with the default task's lengths, tokenized once by the project's own encoder.

Every arm trains on the same token ids (prompt, answer-only labels, eos), so arms differ only in how
they batch and step, never in what they see.
"""

from __future__ import annotations

from taskexpert.bench.settings import BenchSettings
from taskexpert.bench.synthetic import fixed_length_records, synthetic_records
from taskexpert.data.encoding import EncodedExample, ExampleEncoder
from taskexpert.data.splits import Splits
from taskexpert.records import Record
from taskexpert.tasks import load_task


def training_records(settings: BenchSettings, steps: int | None = None) -> list[Record]:
    """Enough records for every step of one epoch, so no arm wraps around into a second epoch."""
    count = settings.batch_size * (steps or settings.total_steps)
    return synthetic_records(count, seed=settings.seed)


def evaluation_records(settings: BenchSettings) -> list[Record]:
    return synthetic_records(settings.eval_examples, seed=settings.seed + 1)


def as_splits(train: list[Record], held_out: list[Record] | None = None) -> Splits:
    held_out = held_out or train[:1]
    return Splits(train=train, validation=held_out, test=held_out)


def encoder_for(tokenizer, max_length: int, eval_mode: str = "label") -> ExampleEncoder:
    return ExampleEncoder(tokenizer, load_task(), max_length, eval_mode)


def encoded_training_examples(tokenizer, settings: BenchSettings) -> list[EncodedExample]:
    return encoder_for(tokenizer, settings.max_length).encode(training_records(settings), "benchmark data")


def fixed_length_splits(settings: BenchSettings, batch_size: int, length: int, steps: int) -> Splits:
    """Records whose contexts overflow `length`, so the encoder truncates every example to exactly `length`."""
    records = fixed_length_records(batch_size * steps, word_count=length + 50, seed=settings.seed)
    return as_splits(records)
