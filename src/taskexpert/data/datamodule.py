"""The LightningDataModule: encodes each split once and serves dynamically padded batches.

Its state in a checkpoint is the training order's position (epoch, batches done in it), so a resumed run
continues the epoch where the interrupted one stopped instead of starting it over.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from taskexpert.data.balanced_sampling import BalancedSampler
from taskexpert.data.class_weights import weights_by_example
from taskexpert.data.collate import EvalCollator, TrainCollator
from taskexpert.data.encoding import EncodedExample, ExampleEncoder
from taskexpert.data.sampling import EpochSampler, LengthGroupedSampler
from taskexpert.data.splits import Splits
from taskexpert.errors import ConfigError

SAMPLERS = ("shuffle", "balanced")  # data.sampler: the training order


class QADataModule(pl.LightningDataModule):
    def __init__(
        self,
        splits: Splits,
        encoder: ExampleEncoder,
        batch_size: int = 4,
        eval_batch_size: int = 8,
        group_by_length: bool = False,
        num_workers: int = 0,
        seed: int = 0,
        class_weights: Mapping[str, float] | None = None,
        sampler: str = "shuffle",
    ) -> None:
        super().__init__()
        self.splits = splits
        self.encoder = encoder
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.group_by_length = group_by_length
        self.num_workers = num_workers
        self.seed = seed
        self.encoded: dict[str, list[EncodedExample]] = {}
        pad_token_id = encoder.tokenizer.pad_token_id
        if sampler not in SAMPLERS:
            raise ConfigError(f"data.sampler={sampler!r} is unknown: use one of {', '.join(SAMPLERS)}")
        self.sampler = sampler
        # the training split's gold labels, in its order: what class weights and the balanced order go by
        self.train_labels = [record.target for record in splits.train]
        weights = None
        if class_weights is not None:
            weights = weights_by_example([r.id for r in splits.train], self.train_labels, class_weights)
        self.train_collator = TrainCollator(pad_token_id, weights)
        self.eval_collator = EvalCollator(pad_token_id)
        self._resume_position: tuple[int, int] | None = None  # (epoch, batches done), from a checkpoint

    def setup(self, stage: str | None = None) -> None:
        if self.encoded:  # tokenization is done once, whatever the number of stages
            return
        for name in ("train", "validation", "test"):
            self.encoded[name] = self.encoder.encode(getattr(self.splits, name), f"the {name} split")

    def _loader(self, examples, batch_size, collate, sampler=None) -> DataLoader:
        return DataLoader(
            examples,
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        examples = self.encoded["train"]
        sampler: EpochSampler
        if self.sampler == "balanced":
            lengths = [len(e.input_ids) for e in examples] if self.group_by_length else None
            sampler = BalancedSampler(self.train_labels, self.batch_size, self.seed, lengths)
        elif self.group_by_length:
            sampler = LengthGroupedSampler([len(e.input_ids) for e in examples], self.batch_size, self.seed)
        else:
            sampler = EpochSampler(len(examples), self.batch_size, self.seed)
        if self._resume_position is not None:
            epoch, batches_done = self._resume_position
            # With several processes Lightning shards the order after it is drawn, so skipping here would skip
            # other ranks' batches: such a run restarts the interrupted epoch's order instead.
            world_size = self.trainer.world_size if self.trainer is not None else 1
            sampler.resume(epoch, batches_done if world_size == 1 else 0)
            self._resume_position = None
        return self._loader(examples, self.batch_size, self.train_collator, sampler=sampler)

    def state_dict(self) -> dict[str, Any]:
        """Where the training order stands: the epoch and how many of its batches have trained."""
        if self.trainer is None:
            return {}
        epoch = self.trainer.current_epoch
        batches_done = self.trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if batches_done >= self.trainer.num_training_batches:
            # Saved after the epoch's last batch: Lightning resumes with a fresh iterator for the next epoch
            return {"epoch": epoch + 1, "batches_done": 0}
        return {"epoch": epoch, "batches_done": batches_done}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "epoch" in state_dict:  # Lightning restores this before it builds the training loader
            self._resume_position = (int(state_dict["epoch"]), int(state_dict["batches_done"]))

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.encoded["validation"], self.eval_batch_size, self.eval_collator)

    def train_eval_dataloader(self) -> DataLoader:
        """The training split in evaluation form: which training examples does the model get wrong?"""
        return self._loader(self.encoded["train"], self.eval_batch_size, self.eval_collator)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.encoded["test"], self.eval_batch_size, self.eval_collator)
