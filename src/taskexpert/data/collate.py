"""Batching: dynamic padding to the longest example of each batch, and length-grouped sampling."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

from taskexpert.data.encoding import IGNORE_INDEX, EncodedExample


def _pad(rows: Sequence[list[int]], value: int) -> torch.Tensor:
    width = max(len(row) for row in rows)
    return torch.tensor([row + [value] * (width - len(row)) for row in rows], dtype=torch.long)


class TrainCollator:
    """Right-pads a batch for the causal-LM loss; padding never counts in the loss."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, examples: list[EncodedExample]) -> dict[str, torch.Tensor]:
        input_ids = _pad([e.input_ids for e in examples], self.pad_token_id)
        return {
            "input_ids": input_ids,
            "attention_mask": _pad([[1] * len(e.input_ids) for e in examples], 0),
            "labels": _pad([e.labels for e in examples], IGNORE_INDEX),
        }


class EvalCollator:
    """Right-pads the evaluation ids; `lengths` counts each row's real tokens (the last sits at lengths - 1)."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, examples: list[EncodedExample]) -> dict[str, object]:
        return {
            "input_ids": _pad([e.eval_ids for e in examples], self.pad_token_id),
            "attention_mask": _pad([[1] * len(e.eval_ids) for e in examples], 0),
            "lengths": torch.tensor([len(e.eval_ids) for e in examples], dtype=torch.long),
            "golds": [e.golds for e in examples],
            "groups": [e.group for e in examples],
            "ids": [e.id for e in examples],
        }


class LengthGroupedSampler(Sampler[int]):
    """Shuffles, then sorts within windows of `batch_size * window_batches` so batches hold similar lengths.

    Less padding per batch, while the order still changes every epoch (seeded, so runs repeat).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, window_batches: int = 50) -> None:
        self.lengths = list(lengths)
        self.window = batch_size * window_batches
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        order = list(range(len(self.lengths)))
        random.Random(self.seed + self.epoch).shuffle(order)
        self.epoch += 1  # reshuffle next epoch even if nobody calls set_epoch
        for start in range(0, len(order), self.window):
            window = order[start : start + self.window]
            yield from sorted(window, key=lambda index: -self.lengths[index])
