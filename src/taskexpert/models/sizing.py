"""Size a model without its weights: build it on the meta device from architecture numbers in the config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from taskexpert.errors import ConfigError
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
    layers: int = 1  # transformer blocks, for the one block FSDP gathers at a time

    @property
    def training_gib(self) -> float:
        return self.weights_gib + self.gradients_and_optimizer_gib + self.activations_gib


@dataclass
class DeviceShare:
    """What one GPU holds when a run is spread over `devices` GPUs (activations: its own batch)."""

    devices: int
    weights_gib: float
    gradients_and_optimizer_gib: float
    activations_gib: float
    gathered_gib: float = 0.0  # FSDP: the full weights of the block being computed

    @property
    def total_gib(self) -> float:
        return self.weights_gib + self.gradients_and_optimizer_gib + self.activations_gib + self.gathered_gib


def per_device(size: SizeEstimate, devices: int, shard_weights: int, shard_states: int) -> DeviceShare:
    """One GPU's share: weights divided by `shard_weights`, gradients and AdamW state by `shard_states`.

    DDP replicates everything (1, 1); FSDP FULL_SHARD divides all of it over the GPUs it shards across, and
    gathers one block's full weights at a time for its forward and backward; SHARD_GRAD_OP keeps full weights.
    """
    return DeviceShare(
        devices=devices,
        weights_gib=size.weights_gib / shard_weights,
        gradients_and_optimizer_gib=size.gradients_and_optimizer_gib / shard_states,
        activations_gib=size.activations_gib,
        gathered_gib=size.weights_gib / size.layers if shard_weights > 1 else 0.0,
    )


def local_config_dir(model_cfg: Any) -> Path | None:
    """`model.path` when it is a local model directory with a config.json, else None."""
    path = model_cfg.get("path")
    if path and (Path(str(path)) / "config.json").is_file():
        return Path(str(path))
    return None


def architecture_config(model_cfg: Any):
    """The transformers config that sizes the model, without weights or network.

    A local `model.path` directory's config.json wins (it is the model that would load); then the numbers
    under `model.architecture`; then the prepared offline models (tiny, SmolLM2) built or converted locally.
    """
    from transformers import AutoConfig

    trust_remote_code = bool(model_cfg.get("trust_remote_code", False))
    local = local_config_dir(model_cfg)
    if local is not None:
        return AutoConfig.from_pretrained(str(local), trust_remote_code=trust_remote_code)
    if model_cfg.get("architecture"):
        numbers = dict(model_cfg.architecture)
        return AutoConfig.for_model(numbers.pop("model_type"), **numbers)
    if not model_cfg.get("path") and model_cfg.get("source") in ("tiny", "smollm2_gguf"):
        return AutoConfig.from_pretrained(resolve_model_path(model_cfg))
    try:  # a hub id: only from the local Hugging Face cache (or the network when it is allowed)
        return AutoConfig.from_pretrained(
            resolve_model_path(model_cfg),
            revision=model_cfg.get("revision"),
            trust_remote_code=trust_remote_code,
        )
    except OSError:
        raise ConfigError(
            f"model {model_cfg.get('name')!r}: no architecture numbers to size it: set model.path to a local "
            "directory with config.json, or list the numbers under `architecture:` in its conf/model file"
        ) from None


def meta_model(model_cfg: Any):
    """The model's architecture with no storage, and its transformers config (see `architecture_config`)."""
    from transformers import AutoModelForCausalLM

    config = architecture_config(model_cfg)
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
        layers=layers,
    )
