"""Load a causal LM and its tokenizer from a local directory, the hub, or one of our prepared models."""

from __future__ import annotations

from typing import Any

import torch

from taskexpert.errors import ConfigError
from taskexpert.models import cpu_attention

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
AUTO = "auto"  # model.dtype: the run's precision decides (see training/precision.py)


def resolve_model_path(model_cfg: Any) -> str:
    """`model.path` wins when set; otherwise the `source` recipe builds or converts the model once."""
    if model_cfg.get("path"):
        return str(model_cfg.path)
    source = model_cfg.get("source", "hub")
    if source == "tiny":
        from taskexpert.models.tiny import tiny_model_dir

        return str(tiny_model_dir(model_cfg.tiny_architecture))
    if source == "smollm2_gguf":
        from taskexpert.models.smollm2 import smollm2_dir

        return str(smollm2_dir())
    raise ConfigError(f"model {model_cfg.get('name')!r} has no path and source={source!r}: set model.path")


def load_tokenizer(model_cfg: Any, path: str | None = None):
    from transformers import AutoTokenizer

    path = path or resolve_model_path(model_cfg)
    tokenizer = AutoTokenizer.from_pretrained(
        path,
        revision=model_cfg.get("revision"),
        trust_remote_code=bool(model_cfg.get("trust_remote_code", False)),
    )
    if tokenizer.pad_token_id is None:  # LLaMA-family tokenizers ship without one; padding is masked anyway
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def attention_implementation(
    requested: str | None, compiled: bool, device: str, bf16: bool = False
) -> str | None:
    """`model.attn_implementation`: explicit choices stay; `auto` (or unset) on a CPU is our `taskexpert_eager`
    in bf16 (its matmuls run at the bf16 rate, where torch's CPU flash kernel gains nothing from bf16; compiled,
    it also warms up faster and takes less memory than transformers' eager: see models/cpu_attention.py and
    BENCHMARKS.md), transformers' eager attention for a model compiled in fp32 (inductor fuses its softmax into
    the block), and elsewhere None: transformers' default (sdpa)."""
    if requested and requested != AUTO:
        return requested
    if device != "cpu":
        return None
    if bf16:
        return cpu_attention.ATTENTION
    return "eager" if compiled else None


def _configured_attention(model_cfg: Any) -> str | None:
    """An explicit `model.attn_implementation`; `auto` unresolved is transformers' default."""
    requested = model_cfg.get("attn_implementation")
    return None if requested in (None, AUTO) else requested


def load_model_and_tokenizer(
    model_cfg: Any, dtype: str | None = None, attention: str | None = None, on_meta: bool = False
):
    """Returns (model, tokenizer). Safetensors are preferred and remote code is off unless the config allows it.
    `dtype` (a resolved precision's weight dtype) wins over `model.dtype`; a `model.dtype` of `auto` that nobody
    resolved loads float32, so callers that do not decide get the same numbers on every machine. `attention`
    (a resolved precision's attention) wins over `model.attn_implementation`. `on_meta`: the architecture
    alone, without storage or weights (FSDP's other processes, which receive the first one's weights)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    path = resolve_model_path(model_cfg)
    dtype_name = dtype or model_cfg.get("dtype") or "float32"
    dtype_name = "float32" if dtype_name == AUTO else dtype_name
    if dtype_name not in DTYPES:
        raise ConfigError(f"model.dtype={dtype_name!r} is unknown: use one of {AUTO}, {', '.join(DTYPES)}")
    tokenizer = load_tokenizer(model_cfg, path)
    attention = attention or _configured_attention(model_cfg)
    cpu_attention.ensure_registered(attention)
    trust_remote_code = bool(model_cfg.get("trust_remote_code", False))
    if on_meta:
        config = AutoConfig.from_pretrained(
            path, revision=model_cfg.get("revision"), trust_remote_code=trust_remote_code
        )
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(
                config,
                dtype=DTYPES[dtype_name],
                trust_remote_code=trust_remote_code,
                attn_implementation=attention,
            )
    else:
        model = AutoModelForCausalLM.from_pretrained(
            path,
            revision=model_cfg.get("revision"),
            dtype=DTYPES[dtype_name],
            trust_remote_code=trust_remote_code,
            use_safetensors=model_cfg.get("use_safetensors"),
            attn_implementation=attention,
        )
    cpu_attention.fall_back_where_unimplemented(model)  # e.g. Gemma 2's softcapping, gpt-oss's sinks
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if model_cfg.get("gradient_checkpointing"):
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    return model, tokenizer
