"""Batching: dynamic padding to the longest example of each batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from taskexpert.data.encoding import IGNORE_INDEX, EncodedExample


def _pad(rows: Sequence[list[int]], value: int) -> torch.Tensor:
    width = max(len(row) for row in rows)
    return torch.tensor([row + [value] * (width - len(row)) for row in rows], dtype=torch.long)


class TrainCollator:
    """Right-pads a batch for the causal-LM loss; padding never counts in the loss. With `example_weights`
    (example id -> weight, data.class_weights) the batch carries each example's loss weight as `weights`."""

    def __init__(self, pad_token_id: int, example_weights: Mapping[str, float] | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.example_weights = example_weights

    def __call__(self, examples: list[EncodedExample]) -> dict[str, torch.Tensor]:
        input_ids = _pad([e.input_ids for e in examples], self.pad_token_id)
        batch = {
            "input_ids": input_ids,
            "attention_mask": _pad([[1] * len(e.input_ids) for e in examples], 0),
            "labels": _pad([e.labels for e in examples], IGNORE_INDEX),
        }
        if self.example_weights is not None:
            batch["weights"] = torch.tensor(
                [self.example_weights[e.id] for e in examples], dtype=torch.float32
            )
        return batch


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
            "positions": [e.position for e in examples],
        }
