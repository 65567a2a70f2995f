"""Attention written as two matmuls and a softmax in the model's own dtype, for bf16 on CPUs.

torch's CPU flash-attention kernel runs no faster in bf16 than in fp32, while two plain matmuls run at the bf16
matmul rate (4x fp32 on AVX512-BF16 cores): 37 against 56 ms forward and backward per SmolLM2 layer at batch
4 x 335 tokens on one thread. transformers' `eager` attention does that but takes the softmax in fp32 and keeps
that fp32 copy for backward, about 0.5 GB more than the flash kernel for SmolLM2 at that batch: more than the HF
Trainer's whole bf16 step. Here the softmax runs in the input dtype (torch accumulates a bf16 softmax in fp32
and rounds once, as `eager`'s cast back does), so backward keeps only the bf16 probabilities. In fp32 it computes
what `eager` computes.

Registered with transformers under `ATTENTION` (and its mask as `eager`'s additive mask), so
`model.attn_implementation=taskexpert_eager` selects it, and `auto` does on a CPU in bf16.
"""

from __future__ import annotations

import torch
from torch.nn import functional

ATTENTION = "taskexpert_eager"


def matmul_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """transformers' attention signature: query (batch, heads, q, dim), key/value (batch, kv_heads, k, dim);
    returns (batch, q, heads, dim) and no weights."""
    batch, heads, length, dim = query.shape
    kv_heads = key.shape[1]
    groups = heads // kv_heads  # grouped-query attention: each key/value head serves `groups` query heads
    # The query heads of one key/value head stacked as rows (transformers orders heads key/value-major), so the
    # keys and values are used as they are, not copied once per query head (decoding's cache especially).
    scale = scaling if scaling is not None else dim**-0.5
    # scaled before the product: the query is far smaller than the scores
    grouped = (query * scale).reshape(batch, kv_heads, groups * length, dim)
    scores = torch.matmul(grouped, key.transpose(2, 3))
    if attention_mask is not None:  # out of place: an in-place add on a view makes backward copy the scores
        mask = attention_mask[:, :, :, : key.shape[-2]].unsqueeze(2)  # (batch, 1, 1, length, keys)
        scores = scores.view(batch, kv_heads, groups, length, -1) + mask
        scores = scores.view(batch, kv_heads, groups * length, -1)
    probabilities = torch.softmax(scores, dim=-1)
    probabilities = functional.dropout(probabilities, p=dropout, training=module.training)
    output = torch.matmul(probabilities, value).view(batch, heads, length, dim)
    return output.transpose(1, 2).contiguous(), None


def ensure_registered(attention: str | None) -> None:
    """Register ours when `attention` names it, before a model loads or switches to it; others are built in."""
    if attention == ATTENTION:
        register()


def register() -> None:
    """Make `ATTENTION` a valid `attn_implementation` (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(ATTENTION, matmul_attention)
    AttentionMaskInterface.register(ATTENTION, eager_mask)
