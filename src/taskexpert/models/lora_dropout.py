"""LoRA's input dropout with a cheaper mask on CPUs.

PEFT applies `nn.Dropout` to the input of every LoRA layer. On a CPU, torch draws its mask with one
Bernoulli sample per element, and that took 18 % of a bf16 LoRA step of SmolLM2 (BENCHMARKS.md): more than the
attention's matmuls. Here the mask comes from 16-bit random integers, four from every 64-bit draw of torch's
generator, compared with a threshold: the drop probability is `p` rounded to a multiple of 1/65,536 (0.1 becomes
0.099991), the kept values are scaled by 1/(1 - that p), so the expectation is kept as in `nn.Dropout`, and
backward multiplies by the same mask kept as booleans (2.9 against 5.3 ms forward and backward for a batch of
4 x 342 x 576 on two cores). Seeding and torch's RNG state (saved in checkpoints) govern it as they govern `nn.Dropout`, so
runs stay reproducible and resumable, but the masks differ from `nn.Dropout`'s for the same seed.
"""

from __future__ import annotations

import torch
from torch import nn

from taskexpert.errors import ConfigError

LEVELS = 1 << 16  # distinct values of one 16-bit draw
CHOICES = ("auto", "bits", "torch")  # model.lora_dropout_mask


class _ScaleKept(torch.autograd.Function):
    """`x * keep * scale`, saving only the boolean mask for backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return x.mul(keep).mul_(scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (keep,) = ctx.saved_tensors
        return grad.mul(keep).mul_(ctx.scale), None, None


def keep_mask(shape: torch.Size, p: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """Booleans, True with probability 1 - round(p * 65536) / 65536, drawn 4 to a 64-bit random word."""
    count = 1
    for size in shape:
        count *= size
    words = torch.randint(-(1 << 63), (1 << 63) - 1, ((count + 3) // 4,), dtype=torch.int64, device=device)
    draws = words.view(torch.int16)[:count].view(shape)
    return draws >= -(LEVELS // 2) + round(p * LEVELS)


def drawn_probability(p: float) -> float:
    """The drop probability `keep_mask` realises: `p` rounded to a multiple of 1/65,536."""
    return round(p * LEVELS) / LEVELS


class BitsDropout(nn.Module):
    """A drop-in for `nn.Dropout(p)` whose mask comes from `keep_mask`."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.scale = 1.0 / (1.0 - drawn_probability(p))  # keeps the expectation, as nn.Dropout does

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = keep_mask(x.shape, self.p, x.device)
        return _ScaleKept.apply(x, keep, self.scale)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def use_bits_dropout(model: nn.Module) -> int:
    """Replace the `nn.Dropout` of every LoRA layer (PEFT's `lora_dropout` dicts) by `BitsDropout` with the same
    probability; returns how many were replaced. Layers without dropout (`nn.Identity`) stay."""
    replaced = 0
    for module in model.modules():
        dropouts = getattr(module, "lora_dropout", None)
        if not isinstance(dropouts, nn.ModuleDict):
            continue
        for name, dropout in list(dropouts.items()):
            if type(dropout) is nn.Dropout and dropout.p > 0:
                dropouts[name] = BitsDropout(dropout.p)
                replaced += 1
    return replaced


def choose_lora_dropout(model: nn.Module, choice: str | None, device: str) -> str:
    """`model.lora_dropout_mask`: `auto` is `bits` on a CPU and torch's own dropout elsewhere (a GPU's Bernoulli
    kernel is fast). Returns what the run uses, for the log."""
    choice = choice or "auto"
    if choice not in CHOICES:
        raise ConfigError(f"model.lora_dropout_mask={choice!r} is unknown: use one of {', '.join(CHOICES)}")
    resolved = ("bits" if device == "cpu" else "torch") if choice == "auto" else choice
    if resolved == "bits":
        use_bits_dropout(model)
    return resolved
