"""Forward, backward and generation for each architecture x PEFT method, and decoding that sees the adapter."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_config
from omegaconf import OmegaConf

from taskexpert.models.adapters import apply_adapter, is_prompt_learning
from taskexpert.models.decoding import forward_greedy_decode, greedy_generate
from taskexpert.models.label_scoring import last_position_logits
from taskexpert.models.loading import load_model_and_tokenizer

PEFTS = {"lora": ["peft=lora"], "prefix": ["peft=prefix", "peft.num_virtual_tokens=8"], "none": ["peft=none"]}


def build(model_name: str, peft: str, tmp_path):
    cfg = compose_config([f"model={model_name}", *PEFTS[peft]], tmp_path)
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(cfg.model)
    model = apply_adapter(model, cfg.peft)
    return model, tokenizer


def right_padded_batch(tokenizer, texts):
    rows = [tokenizer(text)["input_ids"] for text in texts]
    width = max(map(len, rows))
    ids = torch.tensor([row + [tokenizer.pad_token_id] * (width - len(row)) for row in rows])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
    return {"input_ids": ids, "attention_mask": mask, "lengths": torch.tensor([len(row) for row in rows])}


TEXTS = [
    "Question: does the drug work?\nContext: the trial was small.\nAnswer:",
    "Question: is it safe?\nAnswer:",
]


@pytest.mark.parametrize("peft", list(PEFTS))
@pytest.mark.parametrize("model_name", ["tiny_llama", "tiny_biogpt"])
def test_forward_backward_generate(model_name, peft, tmp_path):
    model, tokenizer = build(model_name, peft, tmp_path)
    batch = right_padded_batch(tokenizer, TEXTS)
    model.train()
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss
    loss.backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    frozen = [p for p in model.parameters() if not p.requires_grad]
    assert torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable)
    assert all(p.grad is None for p in frozen)
    model.eval()
    generated = greedy_generate(
        model,
        batch,
        max_new_tokens=5,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    assert len(generated) == 2 and all(1 <= len(row) <= 5 for row in generated)


@pytest.mark.parametrize("model_name", ["tiny_llama", "tiny_biogpt"])
def test_prefix_decoding_sees_the_virtual_tokens(model_name, tmp_path):
    """Each decoded token is the argmax of a forward pass with the prefix, and the prefix changes the output."""
    model, tokenizer = build(model_name, "prefix", tmp_path)
    with torch.no_grad():
        for parameter in model.prompt_encoder.parameters():
            parameter.mul_(50)  # a strong prefix, so its effect cannot hide in rounding
    model.eval()
    assert is_prompt_learning(model)
    batch = right_padded_batch(tokenizer, TEXTS)
    generated = greedy_generate(model, batch, 3, tokenizer.eos_token_id, tokenizer.pad_token_id)
    first_with_prefix = last_position_logits(model, **batch).argmax(-1).tolist()
    assert [row[0] for row in generated] == first_with_prefix
    with model.disable_adapter(), torch.no_grad():
        first_without = last_position_logits(model, **batch).argmax(-1).tolist()
    assert first_with_prefix != first_without


@pytest.mark.parametrize("model_name", ["tiny_llama", "tiny_biogpt"])
def test_forward_decoder_matches_transformers_generate(model_name, tmp_path):
    """Our cache-free decoder agrees token for token with `generate` where `generate` is right (LoRA)."""
    model, tokenizer = build(model_name, "lora", tmp_path)
    model.eval()
    batch = right_padded_batch(tokenizer, TEXTS)
    ours = forward_greedy_decode(
        model, **batch, max_new_tokens=6, eos_token_id=-1, pad_token_id=tokenizer.pad_token_id
    )
    theirs = greedy_generate(model, batch, 6, eos_token_id=-1, pad_token_id=tokenizer.pad_token_id)
    assert ours == theirs


@pytest.mark.parametrize("model_name", ["tiny_llama", "tiny_biogpt"])
def test_prefix_decoding_with_a_cache_matches_the_cache_free_loop(model_name, tmp_path):
    """The KV-cached prefix decoder gives the tokens of repeated full forward passes, padding and all."""
    model, tokenizer = build(model_name, "prefix", tmp_path)
    with torch.no_grad():
        for parameter in model.prompt_encoder.parameters():
            parameter.mul_(20)
    model.eval()
    batch = right_padded_batch(tokenizer, TEXTS)
    assert not bool(batch["attention_mask"].all())  # rows of different lengths
    reference = forward_greedy_decode(
        model, **batch, max_new_tokens=8, eos_token_id=-1, pad_token_id=tokenizer.pad_token_id
    )
    cached = greedy_generate(model, batch, 8, eos_token_id=-1, pad_token_id=tokenizer.pad_token_id)
    assert cached == reference


def test_label_logits_ignore_padding(tmp_path):
    """A row scores the same alone and padded inside a batch with a longer row."""
    model, tokenizer = build("tiny_llama", "lora", tmp_path)
    model.eval()
    batch = right_padded_batch(tokenizer, TEXTS)
    alone = right_padded_batch(tokenizer, TEXTS[1:])
    with torch.no_grad():
        together = last_position_logits(model, **batch)[1]
        single = last_position_logits(model, **alone)[0]
    torch.testing.assert_close(together, single, atol=1e-4, rtol=1e-4)


def test_safe_loading_defaults(tmp_path):
    cfg = compose_config(["model=llama_7b"], tmp_path)
    assert cfg.model.trust_remote_code is False
    assert (
        OmegaConf.select(cfg, "model.use_safetensors") is None
    )  # prefer safetensors; .bin only weights-only


@pytest.mark.parametrize("model_name", ["tiny_llama", "tiny_biogpt"])
def test_prompt_tuning_is_scored_after_its_virtual_tokens(model_name, tmp_path):
    """Prompt tuning puts its virtual tokens before the input, so the logits of a row's last token sit that many
    positions later: label scores and the first decoded token match a computation done by hand."""
    from peft import PromptTuningConfig, get_peft_model

    from taskexpert.models.label_scoring import score_labels

    cfg = compose_config([f"model={model_name}"], tmp_path)
    torch.manual_seed(0)
    base, tokenizer = load_model_and_tokenizer(cfg.model)
    model = get_peft_model(base, PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=5))
    model.eval()
    batch = right_padded_batch(tokenizer, TEXTS)
    label_ids = [
        tokenizer(word, add_special_tokens=False)["input_ids"][0] for word in (" yes", " no", " maybe")
    ]
    scores = score_labels(model, batch, label_ids)
    first_tokens = [row[0] for row in greedy_generate(model, batch, 1, -1, tokenizer.pad_token_id)]

    virtual = model.get_prompt(batch_size=1)  # [1, 5, width]: the learned embeddings of the virtual tokens
    embed = model.get_base_model().get_input_embeddings()
    for row, length in enumerate(batch["lengths"].tolist()):
        own = embed(batch["input_ids"][row : row + 1, :length])
        with torch.no_grad():
            logits = model.get_base_model()(inputs_embeds=torch.cat([virtual, own], dim=1)).logits[0, -1]
        expected = torch.log_softmax(logits.float(), dim=-1)[label_ids]
        torch.testing.assert_close(scores[row], expected, atol=1e-4, rtol=1e-4)
        assert first_tokens[row] == int(logits.argmax())
