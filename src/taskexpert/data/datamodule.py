"""The LightningDataModule: encodes each split once and serves dynamically padded batches."""

from __future__ import annotations

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from taskexpert.data.collate import EvalCollator, LengthGroupedSampler, TrainCollator
from taskexpert.data.encoding import EncodedExample, ExampleEncoder
from taskexpert.data.splits import Splits


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
        self.train_collator = TrainCollator(pad_token_id)
        self.eval_collator = EvalCollator(pad_token_id)

    def setup(self, stage: str | None = None) -> None:
        if self.encoded:  # tokenization is done once, whatever the number of stages
            return
        for name in ("train", "validation", "test"):
            self.encoded[name] = self.encoder.encode(getattr(self.splits, name), f"the {name} split")

    def _loader(self, examples, batch_size, collate, sampler=None, shuffle=False) -> DataLoader:
        return DataLoader(
            examples,
            batch_size=batch_size,
            shuffle=shuffle,
            sampler=sampler,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        examples = self.encoded["train"]
        if self.group_by_length:
            sampler = LengthGroupedSampler([len(e.input_ids) for e in examples], self.batch_size, self.seed)
            return self._loader(examples, self.batch_size, self.train_collator, sampler=sampler)
        return self._loader(examples, self.batch_size, self.train_collator, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.encoded["validation"], self.eval_batch_size, self.eval_collator)

    def train_eval_dataloader(self) -> DataLoader:
        """The training split in evaluation form: which training examples does the model get wrong?"""
        return self._loader(self.encoded["train"], self.eval_batch_size, self.eval_collator)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.encoded["test"], self.eval_batch_size, self.eval_collator)
