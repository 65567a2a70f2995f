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

It computes scaled dot-product attention with an additive mask and nothing else. A model whose attention does more
(Gemma 2's logit softcapping, gpt-oss's attention sinks, GPT-2's `reorder_and_upcast_attn`, a head mask) gets its
own eager attention instead: decided when the model loads (`fall_back_where_unimplemented`), and guarded per call
(an attention call with such an argument runs the model's own eager function), each said once in the log.
"""

from __future__ import annotations

import logging
import sys

import torch
from torch.nn import functional

ATTENTION = "taskexpert_eager"
# the model's own eager attention implements every variant; sdpa drops softcapping and sinks
FALLBACK = "eager"
# attention arguments that change the result and that matmul_attention does not implement, when not None
UNIMPLEMENTED_ARGUMENTS = {
    "softcap": "attention logit softcapping",
    "s_aux": "attention sinks",
    "sinks": "attention sinks",
    "head_mask": "a head mask",
}

log = logging.getLogger(__name__)
_said: set[str] = set()


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.warning("%s", message)


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
    if getattr(module, "reorder_and_upcast_attn", False) and hasattr(module, "_upcast_and_reordered_attn"):
        _say_once(
            f"{ATTENTION}: {type(module).__name__} upcasts its scores to fp32; its own attention computes it"
        )
        return module._upcast_and_reordered_attn(query, key, value, attention_mask)
    unimplemented = [name for name in UNIMPLEMENTED_ARGUMENTS if kwargs.get(name) is not None]
    if unimplemented:
        return _models_own_eager(module, unimplemented)(
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
        )
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


def _models_own_eager(module: torch.nn.Module, unimplemented: list[str]):
    """The eager attention function of the module's own modeling file, which implements what it passes."""
    own = getattr(sys.modules.get(type(module).__module__), "eager_attention_forward", None)
    features = ", ".join(UNIMPLEMENTED_ARGUMENTS[name] for name in unimplemented)
    if own is None:
        raise NotImplementedError(
            f"{ATTENTION} does not implement {features} ({type(module).__name__}), and the model has no eager "
            f"attention to fall back to: set model.attn_implementation={FALLBACK}"
        )
    _say_once(f"{ATTENTION}: {type(module).__name__} passes {features}; its own eager attention computes it")
    return own


def unimplemented_features(model: torch.nn.Module) -> list[str]:
    """What the model's attention computes that `matmul_attention` does not, read from its config and modules."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    features = []
    if getattr(config, "attn_logit_softcapping", None) is not None:
        features.append("attention logit softcapping (attn_logit_softcapping)")
    if getattr(config, "reorder_and_upcast_attn", False):
        features.append("attention scores upcast to fp32 (reorder_and_upcast_attn)")
    if any(isinstance(getattr(module, "sinks", None), torch.Tensor) for module in model.modules()):
        features.append("attention sinks")
    return features


def fall_back_where_unimplemented(model: torch.nn.Module) -> str | None:
    """Switch a model loaded with ours to its own eager attention when ours would compute something else.
    Returns the attention the model runs with."""
    current = getattr(model.config, "_attn_implementation", None)
    if current != ATTENTION:
        return current
    features = unimplemented_features(model)
    if features:
        model.set_attn_implementation(FALLBACK)
        _say_once(
            f"{ATTENTION} does not implement {', '.join(features)} of {type(model).__name__}: "
            f"using its own {FALLBACK} attention"
        )
        return FALLBACK
    return current


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
