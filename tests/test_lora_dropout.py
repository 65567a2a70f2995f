"""LoRA dropout with 16-bit random draws (`model.lora_dropout_mask`): the same distribution and gradient as
`nn.Dropout`, reproducible from torch's RNG state, and used by a run on a CPU."""

from __future__ import annotations

import pytest
import torch
from conftest import FAST, compose_config
from torch import nn

from taskexpert.errors import ConfigError
from taskexpert.models.lora_dropout import BitsDropout, choose_lora_dropout, keep_mask, use_bits_dropout
from taskexpert.training.pipeline import build_trainable_model
from taskexpert.training.precision import resolve_precision


@pytest.mark.parametrize("p", [0.05, 0.1, 0.5])
def test_the_mask_drops_p_of_the_values_independently(p):
    torch.manual_seed(0)
    keep = keep_mask(torch.Size([1000, 4000]), p)
    assert abs((1 - keep.float().mean().item()) - p) < 2e-3  # 4M draws: the standard error is < 3e-4
    # the four 16-bit parts of one 64-bit draw are independent: neighbours agree as often as chance says
    left, right = keep[:, :-1].float(), keep[:, 1:].float()
    both_dropped = ((1 - left) * (1 - right)).mean().item()
    assert abs(both_dropped - p * p) < 2e-3
    # every position of a 4-value group gets the same drop rate (no biased part of the 64-bit word)
    groups = keep.view(-1, 4).float().mean(dim=0)
    assert torch.allclose(1 - groups, torch.full((4,), p), atol=3e-3)


def test_forward_and_backward_scale_the_kept_values_as_nn_dropout_does():
    torch.manual_seed(1)
    dropout = BitsDropout(0.1).train()
    x = torch.randn(64, 96, requires_grad=True)
    y = dropout(x)
    kept = y != 0
    scale = 1 / (1 - round(0.1 * 65536) / 65536)
    assert torch.allclose(y[kept], x[kept] * scale)
    y.backward(torch.ones_like(y))
    assert torch.equal(x.grad, kept.float() * scale)  # gradient flows through kept values only
    ones = torch.ones(2000, 2000)
    assert abs(dropout(ones).mean().item() - 1.0) < 2e-3  # the expectation is kept


def test_bf16_inputs_stay_bf16_and_evaluation_or_zero_p_is_the_identity():
    x = torch.randn(8, 16, dtype=torch.bfloat16)
    assert BitsDropout(0.2).train()(x).dtype == torch.bfloat16
    assert BitsDropout(0.2).eval()(x) is x
    assert BitsDropout(0.0).train()(x) is x
    with pytest.raises(ValueError, match="must be in"):
        BitsDropout(1.0)


def test_masks_follow_the_seed_and_a_restored_rng_state():
    torch.manual_seed(7)
    first = keep_mask(torch.Size([32, 32]), 0.1)
    state = torch.get_rng_state()  # what a checkpoint saves
    second = keep_mask(torch.Size([32, 32]), 0.1)
    torch.set_rng_state(state)
    assert torch.equal(keep_mask(torch.Size([32, 32]), 0.1), second)  # a resumed run draws the same masks
    torch.manual_seed(7)
    assert torch.equal(keep_mask(torch.Size([32, 32]), 0.1), first)
    assert not torch.equal(first, second)


def _lora_model(dropout: float):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2
    )
    lora = LoraConfig(r=2, lora_alpha=4, lora_dropout=dropout, target_modules=["q_proj", "v_proj"])
    return get_peft_model(LlamaForCausalLM(config), lora)


def test_every_lora_dropout_is_replaced_and_layers_without_dropout_stay():
    model = _lora_model(0.1)
    assert use_bits_dropout(model) == 4  # 2 layers x q_proj, v_proj
    dropouts = [m for m in model.modules() if isinstance(m, (nn.Dropout, BitsDropout))]
    assert dropouts and all(isinstance(m, BitsDropout) and m.p == 0.1 for m in dropouts)
    assert use_bits_dropout(_lora_model(0.0)) == 0  # PEFT uses nn.Identity there


def test_auto_uses_bits_on_a_cpu_and_torch_on_a_gpu():
    assert choose_lora_dropout(_lora_model(0.1), "auto", "cpu") == "bits"
    gpu_model = _lora_model(0.1)
    assert choose_lora_dropout(gpu_model, "auto", "cuda") == "torch"
    assert not any(isinstance(m, BitsDropout) for m in gpu_model.modules())
    assert choose_lora_dropout(_lora_model(0.1), "bits", "cuda") == "bits"
    with pytest.raises(ConfigError, match="model.lora_dropout_mask='fast' is unknown"):
        choose_lora_dropout(_lora_model(0.1), "fast", "cpu")


@pytest.mark.parametrize(("choice", "expected"), [("auto", BitsDropout), ("torch", nn.Dropout)])
def test_a_run_builds_its_model_with_the_configured_mask(tmp_path, choice, expected):
    cfg = compose_config(
        [
            "model=tiny_llama",
            *FAST,
            "peft=lora",
            "peft.lora_dropout=0.1",
            f"++model.lora_dropout_mask={choice}",
        ],
        tmp_path,
    )
    model, _ = build_trainable_model(cfg, resolve_precision(cfg.trainer, cfg.model, cfg.peft))
    masks = [m for m in model.modules() if isinstance(m, (nn.Dropout, BitsDropout)) and m.p == 0.1]
    assert masks and all(type(m) is expected for m in masks)
