"""The balanced training order (`data.sampler=balanced`): every label fills the same share of each epoch.

An epoch keeps its length (as many draws as training examples, so steps per epoch do not change); its slots are
split evenly between the labels present (the remainder going to labels drawn per epoch). A label's slots are
served from its own stream: one shuffled pass over its examples after another, so a rare label's examples repeat
within an epoch and a common label's are all seen over consecutive epochs. Each epoch's order is a pure function of
(seed, epoch), like EpochSampler's, so a resumed run picks it up mid-epoch (EpochSampler.resume).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from taskexpert.data.sampling import EpochSampler, group_within_windows


class BalancedSampler(EpochSampler):
    """Draws the same number of examples of each label per epoch (within one); optionally length-grouped."""

    def __init__(
        self,
        example_labels: Sequence[str],
        batch_size: int,
        seed: int,
        lengths: Sequence[int] | None = None,
        window_batches: int = 50,
    ) -> None:
        super().__init__(len(example_labels), batch_size, seed)
        self.classes = sorted(set(example_labels))
        self.members = {
            label: [i for i, own in enumerate(example_labels) if own == label] for label in self.classes
        }
        self.lengths = list(lengths) if lengths is not None else None
        self.window = batch_size * window_batches

    def slots(self, epoch: int) -> dict[str, int]:
        """How many draws each label gets in `epoch`: an even share, plus one for the labels drawn this epoch."""
        base, extra = divmod(self.size, len(self.classes))
        lucky = set(random.Random(f"{self.seed}/balanced-extra/{epoch}").sample(self.classes, extra))
        return {label: base + (label in lucky) for label in self.classes}

    def _stream(self, label: str, start: int, count: int) -> list[int]:
        """Positions start..start+count of the label's stream of shuffled passes over its examples."""
        members = self.members[label]
        drawn: list[int] = []
        position = start
        while len(drawn) < count:
            cycle, offset = divmod(position, len(members))
            shuffled = list(members)
            random.Random(f"{self.seed}/balanced/{label}/{cycle}").shuffle(shuffled)
            taken = shuffled[offset : offset + count - len(drawn)]
            drawn += taken
            position += len(taken)
        return drawn

    def order(self, epoch: int) -> list[int]:
        starts = dict.fromkeys(self.classes, 0)
        for earlier in range(epoch):  # where each label's stream stands: the draws of the epochs before
            for label, count in self.slots(earlier).items():
                starts[label] += count
        picks = [
            index
            for label, count in self.slots(epoch).items()
            for index in self._stream(label, starts[label], count)
        ]
        random.Random(f"{self.seed}/{epoch}").shuffle(picks)
        if self.lengths is not None:
            return group_within_windows(picks, self.lengths, self.window)
        return picks
