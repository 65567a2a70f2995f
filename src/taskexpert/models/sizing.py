"""Size a model without its weights: build it on the meta device from architecture numbers in the config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from taskexpert.models.adapters import apply_adapter, count_parameters
from taskexpert.models.loading import DTYPES, resolve_model_path

GIB = 1024**3


@dataclass
class SizeEstimate:
    total_parameters: int
    trainable_parameters: int
    weights_gib: float
    gradients_and_optimizer_gib: float
    activations_gib: float

    @property
    def training_gib(self) -> float:
        return self.weights_gib + self.gradients_and_optimizer_gib + self.activations_gib


def meta_model(model_cfg: Any):
    """The model's architecture with no storage: from `model.architecture` numbers, else the local config."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if model_cfg.get("architecture"):
        numbers = dict(model_cfg.architecture)
        config = AutoConfig.for_model(numbers.pop("model_type"), **numbers)
    else:
        config = AutoConfig.from_pretrained(resolve_model_path(model_cfg))
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config), config


def estimate_size(
    model_cfg: Any, peft_cfg: Any, batch_size: int, sequence_length: int, weights_dtype: str | None = None
) -> SizeEstimate:
    """Parameter counts are exact; memory is a rough planning figure (weights + AdamW state + activations).
    `weights_dtype` is the run's resolved one; without it `model.dtype` counts (`auto` as float32)."""
    model, config = meta_model(model_cfg)
    model = apply_adapter(
        model, peft_cfg, bool(model_cfg.get("gradient_checkpointing")), low_cpu_mem_usage=True
    )
    trainable, total = count_parameters(model)
    dtype_name = weights_dtype or model_cfg.get("dtype", "float32")
    weight_bytes = torch.finfo(DTYPES["float32" if dtype_name == "auto" else dtype_name]).bits // 8
    text_config = config.get_text_config()
    hidden, layers = text_config.hidden_size, text_config.num_hidden_layers
    # Per layer and token, a transformer block keeps about 16 hidden-sized tensors for backward;
    # with checkpointing only the block inputs stay.
    per_token_layer = 2 if model_cfg.get("gradient_checkpointing") else 16
    activations = batch_size * sequence_length * hidden * layers * per_token_layer * weight_bytes
    return SizeEstimate(
        total_parameters=total,
        trainable_parameters=trainable,
        weights_gib=total * weight_bytes / GIB,
        gradients_and_optimizer_gib=trainable * (4 + 8) / GIB,  # fp32 gradient + two AdamW moments
        activations_gib=activations / GIB,
    )
