"""The training order: a seeded permutation per epoch that a resumed run can pick up mid-epoch.

Each epoch's order is a pure function of (seed, epoch), drawn from a generator of its own rather than torch's
global one, so the order does not depend on what else consumed random numbers. A run restored from a checkpoint
calls `resume(epoch, batches_done)`: the next iteration starts at that epoch and skips the batches already trained.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler


class EpochSampler(Sampler[int]):
    """A shuffled order of `size` indices, different every epoch, the same for the same (seed, epoch)."""

    def __init__(self, size: int, batch_size: int, seed: int) -> None:
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self._skip = 0  # indices of the current epoch already trained before a resume

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume(self, epoch: int, batches_done: int) -> None:
        """Start the next iteration at `epoch`, after its first `batches_done` batches."""
        self.epoch = epoch
        self._skip = batches_done * self.batch_size

    def __len__(self) -> int:
        return self.size  # the whole epoch: Lightning counts a resumed epoch's batches from its own progress

    def order(self, epoch: int) -> list[int]:
        order = list(range(self.size))
        random.Random(f"{self.seed}/{epoch}").shuffle(order)  # str seeds hash stably across processes
        return order

    def __iter__(self) -> Iterator[int]:
        order = self.order(self.epoch)[self._skip :]
        self._skip = 0
        self.epoch += 1  # the next epoch differs even where nobody calls set_epoch
        return iter(order)


class LengthGroupedSampler(EpochSampler):
    """Shuffles, then sorts within windows of `batch_size * window_batches` so batches hold similar lengths.

    Less padding per batch, while the order still changes every epoch (seeded, so runs repeat and resume).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, window_batches: int = 50) -> None:
        super().__init__(len(lengths), batch_size, seed)
        self.lengths = list(lengths)
        self.window = batch_size * window_batches

    def order(self, epoch: int) -> list[int]:
        return group_within_windows(super().order(epoch), self.lengths, self.window)


def group_within_windows(order: list[int], lengths: Sequence[int], window: int) -> list[int]:
    """`order` cut into windows of `window` indices, each sorted longest first."""
    grouped: list[int] = []
    for start in range(0, len(order), window):
        grouped += sorted(order[start : start + window], key=lambda index: -lengths[index])
    return grouped
