"""Attach a PEFT adapter (or none, for full fine-tuning) and count what trains."""

from __future__ import annotations

from typing import Any

from taskexpert.errors import ConfigError


def build_peft_config(peft_cfg: Any):
    """Instantiate PEFT's own config class from its Hydra node (None means full fine-tuning)."""
    if peft_cfg is None:
        return None
    from hydra.utils import instantiate

    return instantiate(peft_cfg, _convert_="all")


def adapter_name(peft_cfg: Any) -> str:
    """A readable name for reports: `LoraConfig` -> `lora`, no adapter -> `full fine-tuning`."""
    if peft_cfg is None:
        return "full fine-tuning"
    return peft_cfg._target_.rsplit(".", 1)[-1].removesuffix("Config").lower()


def is_prompt_learning(model) -> bool:
    """True for prefix/prompt tuning, whose virtual tokens transformers' `generate` does not see."""
    config = getattr(model, "active_peft_config", None)
    return bool(config is not None and config.is_prompt_learning)


def is_prefix_tuning(model) -> bool:
    """True for prefix tuning, the prompt-learning method that keeps its virtual tokens in the KV cache."""
    config = getattr(model, "active_peft_config", None)
    return bool(config is not None and config.peft_type == "PREFIX_TUNING")


def virtual_tokens_before_input(model) -> int:
    """How many virtual tokens a prompt-learning adapter puts before the input embeddings (prompt tuning,
    P-tuning): its logits start with that many extra positions. Prefix tuning keeps them in the KV cache: 0."""
    config = getattr(model, "active_peft_config", None)
    if config is None or not config.is_prompt_learning or config.peft_type in ("PREFIX_TUNING", "CARTRIDGE"):
        return 0
    return int(config.num_virtual_tokens)


def apply_adapter(
    model, peft_cfg: Any, gradient_checkpointing: bool = False, low_cpu_mem_usage: bool = False
):
    """Wrap `model` with the configured adapter; with no adapter every weight trains."""
    peft_config = build_peft_config(peft_cfg)
    if peft_config is None:
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        return model
    if peft_config.is_prompt_learning and gradient_checkpointing:
        raise ConfigError(
            "prefix tuning does not work with gradient checkpointing (the virtual tokens live in the KV cache, "
            "which checkpointing disables): set model.gradient_checkpointing=false or use peft=lora"
        )
    from peft import get_peft_model

    return get_peft_model(model, peft_config, low_cpu_mem_usage=low_cpu_mem_usage)


def load_adapter(model, adapter_dir: str):
    """Continue from a saved adapter (its own config wins over `peft`), trainable."""
    from pathlib import Path

    from peft import PeftModel

    if not (Path(adapter_dir) / "adapter_config.json").is_file():
        raise ConfigError(
            f"init_adapter={adapter_dir} holds no adapter_config.json: point it at a run's adapter/ directory"
        )
    return PeftModel.from_pretrained(model, adapter_dir, is_trainable=True)


def store_frozen_weights_in(model, dtype):
    """Cast the weights that do not train to `dtype` in place (trainable ones, e.g. fp32 adapters, stay as they
    are): the same adapter on a bf16 base, without reloading. Buffers (rotary frequencies) keep their dtype."""
    for parameter in model.parameters():
        if not parameter.requires_grad and parameter.is_floating_point():
            parameter.data = parameter.data.to(dtype)
    return model


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total), as PEFT reports them for adapters (prefix tokens included)."""
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total
