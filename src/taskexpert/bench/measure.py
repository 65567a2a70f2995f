"""Clocks and memory readings shared by the arms: per-step timestamps, token counts, resident memory."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch

IGNORE_INDEX = -100


@dataclass
class BatchShape:
    """What one optimizer step computed on: enough to count tokens, padding and FLOPs afterwards."""

    rows: int
    width: int  # padded sequence length
    real_tokens: int  # non-padding tokens
    squared_lengths: int  # sum of each row's real length squared (attention work on real tokens)
    head_positions: int  # rows x positions at which the LM head (vocabulary projection) ran


def batch_shape(batch: dict, head: str = "all") -> BatchShape:
    """`head="all"`: logits at every position (what `model(**batch).loss` does);
    `"answer"`: only at positions followed by a label, as QAModule computes them."""
    mask = batch["attention_mask"]
    lengths = mask.sum(dim=1)
    rows, width = mask.shape
    if head == "answer":
        needed = (batch["labels"][:, 1:] != IGNORE_INDEX).any(dim=0)
        head_positions = rows * int(needed.sum())
    else:
        head_positions = rows * width
    return BatchShape(
        rows=rows,
        width=width,
        real_tokens=int(lengths.sum()),
        squared_lengths=int((lengths.long() ** 2).sum()),
        head_positions=head_positions,
    )


@dataclass
class StepLog:
    """Timestamps at the end of each optimizer step; the clock runs from the end of the last warm-up step."""

    warmup_steps: int
    stamps: list[float] = field(default_factory=list)
    shapes: list[BatchShape] = field(default_factory=list)
    rss_after_setup_mb: float = 0.0
    setup_done_at: float | None = None  # the clock reading when setup ended and the first step began

    def batch_seen(self, shape: BatchShape) -> None:
        self.shapes.append(shape)

    def step_done(self) -> None:
        self.stamps.append(time.perf_counter())

    def summary(self) -> dict:
        if len(self.stamps) <= self.warmup_steps:
            raise RuntimeError(
                f"only {len(self.stamps)} steps ran; need more than {self.warmup_steps} warm-up steps"
            )
        measured = self.shapes[self.warmup_steps : len(self.stamps)]
        seconds = self.stamps[-1] - self.stamps[self.warmup_steps - 1] if self.warmup_steps else None
        if seconds is None:  # no warm-up: the first step's own duration is unknown, so drop it
            measured, seconds = measured[1:], self.stamps[-1] - self.stamps[0]
        tokens = sum(s.real_tokens for s in measured)
        padded = sum(s.rows * s.width for s in measured)
        warmup = (
            self.stamps[self.warmup_steps - 1] - self.setup_done_at
            if self.warmup_steps and self.setup_done_at
            else None
        )
        return {
            "warmup_seconds": warmup,  # the warm-up steps, compilation included where there is one
            "measured_steps": len(measured),
            "seconds": seconds,
            "real_tokens": tokens,
            "padded_tokens": padded,
            "tokens_per_second": tokens / seconds,
            "step_seconds": [b - a for a, b in zip(self.stamps, self.stamps[1:], strict=False)],
            "shapes": [asdict(s) for s in measured],
            "rss_after_setup_mb": self.rss_after_setup_mb,
            "peak_rss_training_mb": peak_rss_mb(),
        }


def _status_kib(field_name: str) -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return float(line.split()[1])
    return float("nan")


def rss_mb() -> float:
    return _status_kib("VmRSS") / 1024


def peak_rss_mb() -> float:
    """Peak resident memory since start, or since the last `reset_peak_rss()`."""
    return _status_kib("VmHWM") / 1024


def reset_peak_rss() -> None:
    """Restart the peak-RSS counter (Linux clear_refs), so the training phase is measured apart from loading."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        pass


def mark_setup_done(log: StepLog) -> None:
    log.rss_after_setup_mb = rss_mb()
    reset_peak_rss()
    log.setup_done_at = time.perf_counter()


def set_seed(seed: int) -> None:
    import random

    random.seed(seed)
    torch.manual_seed(seed)
