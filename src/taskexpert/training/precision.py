"""The numeric precision of a run, decided once from `trainer.precision`, the device, the adapter and `model.dtype`.

| name       | frozen base weights | what trains (weights, gradients, AdamW state) | Lightning precision |
|------------|---------------------|-----------------------------------------------|---------------------|
| 32-true    | fp32                | fp32                                          | 32-true             |
| bf16-base  | bf16, stored so     | fp32 adapters (their matmuls in bf16)         | 32-true (no autocast) |
| bf16-mixed | fp32, cast to bf16 by autocast in every forward | fp32 master weights   | bf16-mixed          |
| 16-mixed   | fp32, autocast to fp16 (GPUs)                   | fp32 master weights   | 16-mixed            |

`bf16-base` computes the base in bf16 without recasting it each step; LoRA's matmuls compute in bf16 from their
fp32 weights (`model.lora_compute`, models/adapter_compute.py), and the loss takes its log-softmax in fp32. Full
fine-tuning has no frozen base and pure bf16 weights lose small updates, so it trains under `bf16-mixed`.
`auto` picks `bf16-base` (or `bf16-mixed` for full fine-tuning and FSDP) where the device has native bf16, and
`32-true` elsewhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from taskexpert.errors import ConfigError
from taskexpert.models.compilation import compile_backend
from taskexpert.models.loading import attention_implementation
from taskexpert.utils.hardware import has_native_bf16, resolve_device

log = logging.getLogger(__name__)

LIGHTNING_PRECISION = {
    "32-true": "32-true",
    "bf16-base": "32-true",
    "bf16-mixed": "bf16-mixed",
    "16-mixed": "16-mixed",
}
CHOICES = ("auto", *LIGHTNING_PRECISION)
ALIASES = {"32": "32-true", "bf16": "bf16-mixed", "16": "16-mixed"}  # Lightning's short names
WEIGHT_DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class RunPrecision:
    name: str  # 32-true | bf16-base | bf16-mixed | 16-mixed
    lightning: str  # the Trainer's `precision` argument
    weights_dtype: str  # what the base model loads as: float32 | bfloat16 | float16
    reason: str  # why, for the log
    attention: str | None = None  # transformers' attn_implementation (device, model.compile); None = default

    def describe(self) -> str:
        attention = self.attention or "default"
        return f"{self.name} (base weights {self.weights_dtype}, {attention} attention; {self.reason})"


def _requested(trainer_cfg: Any) -> str:
    value = str(trainer_cfg.get("precision", "auto"))
    value = ALIASES.get(value, value)
    if value not in CHOICES:
        raise ConfigError(
            f"trainer.precision={value!r} is unknown: use one of {', '.join(CHOICES)} "
            "(see conf/trainer/cpu.yaml)"
        )
    return value


def _uses_fsdp(trainer_cfg: Any) -> bool:
    strategy = trainer_cfg.get("strategy")
    target = strategy.get("_target_", "") if hasattr(strategy, "get") else str(strategy or "")
    return "fsdp" in target.lower()


def _auto(device: str, native: bool, full_fine_tuning: bool, fsdp: bool, model_dtype: str) -> tuple[str, str]:
    if not native:
        return "32-true", f"{device} has no native bf16"
    if full_fine_tuning:
        return "bf16-mixed", f"native bf16 on {device}; full fine-tuning keeps fp32 master weights"
    if fsdp:
        return "bf16-mixed", f"native bf16 on {device}; FSDP flattens parameters of one dtype"
    if model_dtype in ("auto", "bfloat16"):
        return "bf16-base", f"native bf16 on {device}"
    if model_dtype == "float32":
        return "bf16-mixed", f"native bf16 on {device}; model.dtype=float32 keeps fp32 weights"
    return "32-true", f"model.dtype={model_dtype} as configured"


def resolve_precision(trainer_cfg: Any, model_cfg: Any, peft_cfg: Any) -> RunPrecision:
    """What this run trains and evaluates in. Explicit choices are checked, `auto` is decided here."""
    requested = _requested(trainer_cfg)
    model_dtype = str(model_cfg.get("dtype", "auto"))
    if model_dtype not in WEIGHT_DTYPES:
        raise ConfigError(f"model.dtype={model_dtype!r} is unknown: use one of {', '.join(WEIGHT_DTYPES)}")
    device = resolve_device(str(trainer_cfg.get("accelerator", "cpu")))
    native = has_native_bf16(device)
    full_fine_tuning = peft_cfg is None
    if requested == "auto":
        name, reason = _auto(device, native, full_fine_tuning, _uses_fsdp(trainer_cfg), model_dtype)
    else:
        name, reason = requested, "as configured"
    if name == "bf16-base":
        if full_fine_tuning:
            raise ConfigError(
                "trainer.precision=bf16-base keeps a frozen base in bf16, but peft=none trains every weight "
                "(pure bf16 weights lose small updates): use trainer.precision=bf16-mixed or 32-true"
            )
        if model_dtype not in ("auto", "bfloat16"):
            raise ConfigError(
                f"trainer.precision=bf16-base stores the base in bf16, but model.dtype={model_dtype}: "
                "set model.dtype=auto (or bfloat16), or choose trainer.precision=bf16-mixed"
            )
        if not native:
            log.warning(
                "bf16-base on %s without native bf16: correct, but bf16 matmuls are emulated and slow", device
            )
    weights = model_dtype if model_dtype != "auto" else ("bfloat16" if name == "bf16-base" else "float32")
    compiled = compile_backend(model_cfg.get("compile")) is not None
    bf16 = name in ("bf16-base", "bf16-mixed")
    attention = attention_implementation(model_cfg.get("attn_implementation"), compiled, device, bf16)
    return RunPrecision(name, LIGHTNING_PRECISION[name], weights, reason, attention)
