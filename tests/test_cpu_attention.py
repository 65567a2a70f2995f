"""`taskexpert_eager` attention: what transformers' eager attention computes, with the softmax kept in the model's
dtype (less memory for backward in bf16), on grouped-query heads, padding masks, prefix tuning and decoding."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, PrefixTuningConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from taskexpert.models import cpu_attention


def _pair(dtype: torch.dtype = torch.float32):
    """The same tiny grouped-query LLaMA with transformers' eager attention and with ours."""
    cpu_attention.register()
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,  # 2 query heads per key/value head
    )
    torch.manual_seed(0)
    reference = LlamaForCausalLM._from_config(config, attn_implementation="eager", dtype=dtype)
    ours = LlamaForCausalLM._from_config(config, attn_implementation=cpu_attention.ATTENTION, dtype=dtype)
    ours.load_state_dict(reference.state_dict())
    assert ours.config._attn_implementation == cpu_attention.ATTENTION
    return reference, ours


def _batch():
    torch.manual_seed(1)
    input_ids = torch.randint(3, 97, (3, 11))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, :4] = 0  # a left-padded row
    attention_mask[2, 8:] = 0  # a right-padded row
    return input_ids, attention_mask


def test_fp32_logits_and_gradients_equal_transformers_eager_attention():
    reference, ours = _pair()
    input_ids, attention_mask = _batch()
    outputs = []
    for model in (reference, ours):
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
        (logits[attention_mask.bool()] ** 2).mean().backward()
        grad = model.model.layers[0].self_attn.q_proj.weight.grad
        outputs.append((logits[attention_mask.bool()], grad))
    torch.testing.assert_close(outputs[1][0], outputs[0][0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(outputs[1][1], outputs[0][1], rtol=1e-4, atol=1e-6)


def test_without_a_padding_mask_attention_stays_causal():
    reference, ours = _pair()
    input_ids, _ = _batch()
    full = ours(input_ids=input_ids).logits
    torch.testing.assert_close(full, reference(input_ids=input_ids).logits, rtol=1e-5, atol=1e-5)
    prefix = ours(input_ids=input_ids[:, :5]).logits  # later tokens must not change earlier positions
    torch.testing.assert_close(full[:, :5], prefix, rtol=1e-5, atol=1e-5)


def test_bf16_stays_close_to_transformers_eager_attention_in_bf16():
    reference, ours = _pair(torch.bfloat16)
    input_ids, attention_mask = _batch()
    mask = attention_mask.bool()
    expected = reference(input_ids=input_ids, attention_mask=attention_mask).logits[mask].float()
    got = ours(input_ids=input_ids, attention_mask=attention_mask).logits[mask].float()
    assert (got - expected).abs().max().item() < 0.05  # bf16 rounding of the probabilities, nothing more
    assert (got.argmax(-1) == expected.argmax(-1)).float().mean().item() >= 0.98


@pytest.mark.parametrize(
    "adapter",
    [
        LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]),
        PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4),
    ],
    ids=["lora", "prefix"],
)
def test_adapters_and_cached_decoding_match_transformers_eager_attention(adapter):
    reference, ours = _pair()
    generated = []
    for model in (reference, ours):
        torch.manual_seed(2)
        peft_model = get_peft_model(model, adapter)
        input_ids, attention_mask = _batch()
        input_ids, attention_mask = input_ids[[0, 1]], attention_mask[[0, 1]]  # left padding for decoding
        logits = peft_model(input_ids=input_ids, attention_mask=attention_mask).logits
        tokens = peft_model.generate(
            input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=5, do_sample=False
        )
        generated.append((logits[:, -1], tokens))
    torch.testing.assert_close(generated[1][0], generated[0][0], rtol=1e-5, atol=1e-5)
    assert torch.equal(generated[1][1], generated[0][1])


def test_biogpt_and_gpt2_attention_equal_transformers_eager_attention():
    """The other architectures users bring (Dr. LLaMA's BioGPT; GPT-2-style local models)."""
    from transformers import BioGptConfig, BioGptForCausalLM, GPT2Config, GPT2LMHeadModel

    cpu_attention.register()
    configs = [
        (
            BioGptForCausalLM,
            BioGptConfig(vocab_size=97, hidden_size=16, num_hidden_layers=2, num_attention_heads=2),
        ),
        (GPT2LMHeadModel, GPT2Config(vocab_size=97, n_embd=16, n_layer=2, n_head=2)),
    ]
    input_ids, attention_mask = _batch()
    for model_class, config in configs:
        torch.manual_seed(0)
        reference = model_class._from_config(config, attn_implementation="eager").eval()
        ours = model_class._from_config(config, attn_implementation=cpu_attention.ATTENTION).eval()
        ours.load_state_dict(reference.state_dict())
        mask = attention_mask.bool()
        expected = reference(input_ids=input_ids, attention_mask=attention_mask).logits[mask]
        got = ours(input_ids=input_ids, attention_mask=attention_mask).logits[mask]
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def _gemma2_config():
    from transformers import Gemma2Config

    # a small cap, so that capping the scores changes them (random weights give small scores)
    return Gemma2Config(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        attn_logit_softcapping=0.5,
        final_logit_softcapping=None,
    )


def _gpt_oss_config():
    from transformers import GptOssConfig

    return GptOssConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        num_local_experts=2,
        num_experts_per_tok=1,
    )


def _eager_and_ours(model_class, config, dtype=torch.float32):
    cpu_attention.register()
    torch.manual_seed(0)
    reference = model_class._from_config(config, attn_implementation="eager", dtype=dtype).eval()
    ours = model_class._from_config(config, attn_implementation=cpu_attention.ATTENTION, dtype=dtype).eval()
    ours.load_state_dict(reference.state_dict())
    if hasattr(reference.model.layers[0].self_attn, "sinks"):  # initialised to zero: make them matter
        for a, b in zip(reference.model.layers, ours.model.layers, strict=True):
            with torch.no_grad():
                a.self_attn.sinks.normal_(0, 2.0)
                b.self_attn.sinks.copy_(a.self_attn.sinks)
    return reference, ours


def _logits(model, input_ids, attention_mask):
    with torch.no_grad():
        return model(input_ids=input_ids, attention_mask=attention_mask).logits[attention_mask.bool()]


@pytest.mark.parametrize("architecture", ["gemma2_softcap", "gpt_oss_sinks"])
def test_attention_ours_does_not_implement_runs_the_models_own_eager(architecture, caplog):
    """Per call: softcapping and sinks arrive as attention arguments; the model's own eager function computes
    them, and the log says so once, however many layers and calls."""
    from transformers import Gemma2ForCausalLM, GptOssForCausalLM

    model_class, config = {
        "gemma2_softcap": (Gemma2ForCausalLM, _gemma2_config()),
        "gpt_oss_sinks": (GptOssForCausalLM, _gpt_oss_config()),
    }[architecture]
    reference, ours = _eager_and_ours(model_class, config)
    input_ids, attention_mask = _batch()
    cpu_attention._said.clear()
    with caplog.at_level("WARNING", logger=cpu_attention.__name__):
        got = _logits(ours, input_ids, attention_mask)
        _logits(ours, input_ids, attention_mask)
    torch.testing.assert_close(got, _logits(reference, input_ids, attention_mask), rtol=1e-5, atol=1e-5)
    said = [record.message for record in caplog.records if record.name == cpu_attention.__name__]
    assert len(said) == 1 and "its own eager attention" in said[0]


def test_a_model_ours_does_not_implement_loads_with_its_own_eager_attention(tmp_path, caplog):
    """At load time, from the config and the modules: Gemma 2's softcapping, gpt-oss's sinks and GPT-2's
    reorder_and_upcast_attn switch the model to eager (in bf16 too, where eager upcasts); LLaMA keeps ours,
    and so does GPT-2 scaled by the inverse layer index, which reaches attention as its `scaling`."""
    from omegaconf import OmegaConf
    from transformers import (
        AutoTokenizer,
        Gemma2ForCausalLM,
        GPT2Config,
        GPT2LMHeadModel,
        GptOssForCausalLM,
    )

    from taskexpert.models.loading import load_model_and_tokenizer
    from taskexpert.models.tiny import tiny_model_dir

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir("llama"))
    vocab = len(tokenizer)
    gpt2 = dict(vocab_size=vocab, n_embd=16, n_layer=2, n_head=2)
    cases = {
        "gemma2": (Gemma2ForCausalLM, _gemma2_config(), "eager"),
        "gpt_oss": (GptOssForCausalLM, _gpt_oss_config(), "eager"),
        "gpt2_upcast": (GPT2LMHeadModel, GPT2Config(**gpt2, reorder_and_upcast_attn=True), "eager"),
        "gpt2_layer_scaled": (
            GPT2LMHeadModel,
            GPT2Config(**gpt2, scale_attn_by_inverse_layer_idx=True),
            cpu_attention.ATTENTION,
        ),
    }
    input_ids = torch.randint(5, vocab, (2, 9))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 6:] = 0
    for name, (model_class, config, expected) in cases.items():
        config.vocab_size = vocab
        torch.manual_seed(0)
        saved = model_class(config)
        saved.save_pretrained(tmp_path / name)
        tokenizer.save_pretrained(tmp_path / name)
        model_cfg = OmegaConf.create({"name": name, "path": str(tmp_path / name)})
        cpu_attention._said.clear()
        with caplog.at_level("WARNING", logger=cpu_attention.__name__):
            model, _ = load_model_and_tokenizer(model_cfg, "bfloat16", cpu_attention.ATTENTION)
        assert model.config._attn_implementation == expected, name
        assert any("does not implement" in r.message for r in caplog.records) == (expected == "eager")
        caplog.clear()
        eager, _ = load_model_and_tokenizer(
            model_cfg, "float32" if expected != "eager" else "bfloat16", "eager"
        )
        if expected == "eager":  # the same function on the same bf16 weights: the same numbers
            assert torch.equal(
                _logits(model, input_ids, attention_mask), _logits(eager, input_ids, attention_mask)
            )
        else:  # ours in fp32 computes what eager computes
            ours32, _ = load_model_and_tokenizer(model_cfg, "float32", cpu_attention.ATTENTION)
            torch.testing.assert_close(
                _logits(ours32, input_ids, attention_mask),
                _logits(eager, input_ids, attention_mask),
                rtol=1e-5,
                atol=1e-5,
            )


def test_an_unimplemented_argument_without_an_eager_to_hand_it_to_is_refused():
    """A module from no modeling file with an eager function: a clear error, never a silently wrong result."""
    query = torch.zeros(1, 2, 3, 4)
    with pytest.raises(NotImplementedError, match="logit softcapping.*model.attn_implementation=eager"):
        cpu_attention.matmul_attention(torch.nn.Module(), query, query, query, None, softcap=1.0)
