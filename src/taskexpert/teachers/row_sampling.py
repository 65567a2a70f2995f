"""Sampling in which every row of a batch draws from its own random generator.

transformers' `generate` samples all rows with one `torch.multinomial` on the global generator, so a row's
answer depends on which other calls share its batch and in what order. Here the temperature, top-k and top-p
warpers run as our own logits processors, and the last one draws each row's next token with that row's
`torch.Generator` and leaves only that token standing; `generate` then runs greedy (`do_sample=False`) and
takes it. A row draws one sample per step from its own generator, whatever its neighbours do, so an answer
depends only on its own call: the same alone, in any batch, in any order, and after an interrupted run.
"""

from __future__ import annotations

import hashlib
from typing import Any

SAMPLING_KWARGS = ("do_sample", "temperature", "top_p")  # what `generate` would otherwise sample with
DEFAULT_TOP_K = 50  # transformers' top-k when the model's generation config sets none


def row_seed(seed: int | None, key: str) -> int | None:
    """The generator seed of one call: its sample seed mixed with its cache key, so sample k of two
    prompts do not share one random stream. None (unseeded) stays None."""
    if seed is None:
        return None
    return int(hashlib.sha256(f"{seed}|{key}".encode()).hexdigest()[:16], 16)


def row_generators(seeds: list[int | None], device: Any = "cpu") -> list[Any]:
    """One generator per row, seeded with its seed (an unseeded row gets a fresh random seed)."""
    import torch

    generators = []
    for seed in seeds:
        generator = torch.Generator(device=device)
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        generators.append(generator)
    return generators


def sampling_processors(
    generation_config: Any, temperature: float, top_p: float, generators: list[Any]
) -> list[Any]:
    """The warpers `generate` would add when sampling (in its order: temperature, top-k, top-p, min-p; top-k
    and min-p from the model's generation config, top-k 50 when unset), then the per-row draw."""
    import torch
    from transformers import (
        LogitsProcessor,
        MinPLogitsWarper,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    processors: list[Any] = []
    if temperature != 1.0:
        processors.append(TemperatureLogitsWarper(temperature))
    top_k = getattr(generation_config, "top_k", None)
    top_k = DEFAULT_TOP_K if top_k is None else top_k
    if top_k:
        processors.append(TopKLogitsWarper(top_k=top_k))
    if top_p < 1.0:
        processors.append(TopPLogitsWarper(top_p=top_p))
    min_p = getattr(generation_config, "min_p", None)
    if min_p is not None:
        processors.append(MinPLogitsWarper(min_p=min_p))

    class RowDraw(LogitsProcessor):
        """Draws each row's token with the row's generator; every other logit becomes -inf."""

        def __call__(self, input_ids, scores):
            probabilities = torch.softmax(scores.float(), dim=-1)
            allowed = torch.isfinite(scores).any(dim=-1).tolist()
            chosen = torch.full_like(scores, float("-inf"))
            for row, generator in enumerate(generators):
                if not allowed[row]:  # nothing allowed: a finished row, which generate pads anyway
                    chosen[row] = scores[row]
                    continue
                token = torch.multinomial(probabilities[row], 1, generator=generator)
                chosen[row, token] = 0.0
            return chosen

    processors.append(RowDraw())
    return processors
