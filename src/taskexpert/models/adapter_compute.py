"""LoRA's matmuls in the base's dtype, its weights kept in fp32: the adapter part of `bf16-base`.

PEFT keeps LoRA weights in fp32 and, on a bf16 base, casts every adapted layer's input up to fp32 and the sum of
base and adapter outputs back to bf16: about a thousand copies of full-size activations per SmolLM2 step, forward
and backward, plus fp32 dropout and scaling over the same tensors (BENCHMARKS.md). Here the layer's input stays in
bf16 (PEFT's own `cast_input_dtype_enabled` switch) and the two LoRA matmuls cast their fp32 weights to the input's
dtype on the way in, as autocast does: the weights, their gradients (cast back to fp32 by autograd) and AdamW's
state stay fp32, the activations bf16. State-dict keys and saved adapters are unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from taskexpert.errors import ConfigError

CHOICES = ("auto", "float32")  # model.lora_compute


class InputDtypeLinear(nn.Linear):
    """An `nn.Linear` that computes in its input's dtype, casting its own (fp32) weight for the product."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return functional.linear(x, self.weight.to(x.dtype), bias)


def compute_lora_in_input_dtype(model: nn.Module) -> int:
    """Switch every LoRA linear layer to compute its adapter in the dtype of its input (bf16 on a bf16 base);
    returns how many layers changed. Other adapter types and LoRA on embeddings or convolutions stay as they are."""
    from peft.tuners.lora.layer import Linear as LoraLinear

    changed = 0
    for module in model.modules():
        if not isinstance(module, LoraLinear):
            continue
        module.cast_input_dtype_enabled = False
        for projections in (module.lora_A, module.lora_B):
            for projection in projections.values():
                if type(projection) is nn.Linear:
                    projection.__class__ = InputDtypeLinear
        changed += 1
    return changed


def lora_computes_in_base_dtype(choice: str | None) -> bool:
    """`model.lora_compute`: `auto` computes LoRA in the base's dtype under bf16-base; `float32` keeps PEFT's casts."""
    choice = choice or "auto"
    if choice not in CHOICES:
        raise ConfigError(f"model.lora_compute={choice!r} is unknown: use one of {', '.join(CHOICES)}")
    return choice == "auto"
