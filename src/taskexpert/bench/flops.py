"""Counting training FLOPs, so throughput can be compared with what the cores can do.

Notation: N_blocks = weights of the linear layers inside the transformer blocks, d = hidden size,
V = vocabulary, L = layers, the LM head is a d x V matmul (SmolLM2 ties it to the input embedding,
whose lookup costs nothing), N = N_blocks + d*V, P = prefix (virtual) tokens, n = an example's real length.

Useful FLOPs (the same count for every arm, on real tokens only):
  LoRA    (4*N + 6*N_adapter) per token: forward 2N, backward through the activations 2N,
          weight gradients only for the adapter (its own forward, backward and weight grad: 6*N_adapter)
  prefix  4*N per token: the prefix's gradients fall out of the attention backward
  full    6*N per token
  plus attention 12*L*d*n*(n + P) per example: Q.K^T and A.V forward (4*L*d per query-key pair),
          backward twice that; no discount for the causal mask.
Executed FLOPs count what an arm actually computes: padding tokens included, the LM head only where it ran.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch


@dataclass
class ModelDims:
    hidden: int
    layers: int
    vocab: int
    block_weights: int  # N_blocks
    adapter_weights: int  # trainable parameters outside the prefix (LoRA matrices, or everything in full FT)
    prefix_tokens: int
    method: str  # lora | prefix | full

    @property
    def head_weights(self) -> int:
        return self.hidden * self.vocab


def model_dims(model, method: str, prefix_tokens: int = 0) -> dict:
    """Read the sizes off a loaded (possibly PEFT-wrapped) causal LM."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = base.config
    block_weights = 0
    for name, module in base.named_modules():
        if isinstance(module, torch.nn.Linear) and ".layers." in f".{name}." and "lora_" not in name:
            block_weights += module.weight.numel()
    trainable = sum(
        p.numel() for n, p in model.named_parameters() if p.requires_grad and "prompt_encoder" not in n
    )
    dims = ModelDims(
        hidden=config.hidden_size,
        layers=config.num_hidden_layers,
        vocab=config.vocab_size,
        block_weights=block_weights,
        adapter_weights=trainable,
        prefix_tokens=prefix_tokens if method == "prefix" else 0,
        method=method,
    )
    return asdict(dims)


def _per_token_weights_flops(dims: ModelDims) -> int:
    weights = dims.block_weights + dims.head_weights
    if dims.method == "full":
        return 6 * weights
    if dims.method == "lora":
        return 4 * weights + 6 * dims.adapter_weights
    return 4 * weights


def _attention(dims: ModelDims, query_key_pairs: int) -> int:
    return 12 * dims.layers * dims.hidden * query_key_pairs


def useful_flops(dims_row: dict, shapes: list[dict]) -> float:
    dims = ModelDims(**dims_row)
    total = 0
    for shape in shapes:
        total += _per_token_weights_flops(dims) * shape["real_tokens"]
        total += _attention(dims, shape["squared_lengths"] + dims.prefix_tokens * shape["real_tokens"])
    return float(total)


def executed_flops(dims_row: dict, shapes: list[dict]) -> float:
    dims = ModelDims(**dims_row)
    weight_grads = dims.block_weights + dims.head_weights if dims.method == "full" else 0
    total = 0
    for shape in shapes:
        tokens = shape["rows"] * shape["width"]
        lora = 6 * dims.adapter_weights if dims.method == "lora" else 0
        total += (4 * dims.block_weights + 2 * weight_grads + lora) * tokens
        total += 4 * dims.head_weights * shape["head_positions"]
        total += _attention(dims, shape["rows"] * shape["width"] * (shape["width"] + dims.prefix_tokens))
    return float(total)
