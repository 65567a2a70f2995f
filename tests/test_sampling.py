"""Sampled decoding (LLM2LLM's evaluation option): nucleus and temperature as defined, seeded, on every decoding
path (transformers' generate, our prefix-cached loop)."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import compose_config

from taskexpert.data.collate import EvalCollator
from taskexpert.data.encoding import ExampleEncoder
from taskexpert.models.adapters import apply_adapter
from taskexpert.models.decoding import Sampling, greedy_generate, next_tokens_from
from taskexpert.models.loading import load_model_and_tokenizer
from taskexpert.records import Record
from taskexpert.tasks import load_task


def test_draws_follow_the_tempered_distribution_inside_the_nucleus():
    logits = torch.tensor([[0.0, math.log(3.0), -30.0]]).repeat(4000, 1)  # p = 0.25, 0.75, ~0
    torch.manual_seed(0)
    drawn = next_tokens_from(logits, Sampling(temperature=1.0, top_p=1.0))
    assert abs(float((drawn == 1).float().mean()) - 0.75) < 0.03 and int((drawn == 2).sum()) == 0
    # a nucleus of 0.7 holds only the most likely token (0.75 >= 0.7): sampling is then greedy
    assert torch.equal(next_tokens_from(logits, Sampling(1.0, 0.7)), logits.argmax(dim=-1))
    # temperature 0.5 squares the odds: 1:9
    drawn = next_tokens_from(logits, Sampling(temperature=0.5, top_p=1.0))
    assert abs(float((drawn == 1).float().mean()) - 0.9) < 0.03
    with pytest.raises(ValueError):
        Sampling(temperature=0.0)


@pytest.mark.parametrize("peft", ["lora", "prefix"])
def test_sampled_generation_is_seeded_and_differs_from_greedy(peft, tmp_path):
    cfg = compose_config(["model=tiny_llama", f"peft={peft}"], tmp_path)
    model, tokenizer = load_model_and_tokenizer(cfg.model)
    torch.manual_seed(0)
    model = apply_adapter(model, cfg.peft).eval()
    task = load_task("gsm8k")
    records = [
        Record(id=str(i), inputs={"question": f"What is {i} plus {i}?"}, target=str(2 * i)) for i in range(3)
    ]
    batch = EvalCollator(tokenizer.pad_token_id)(
        ExampleEncoder(tokenizer, task, 256, "generate", max_new_tokens=8).encode(records, "q")
    )

    def decode(sampling, seed=0):
        torch.manual_seed(seed)
        return greedy_generate(model, batch, 8, -1, tokenizer.pad_token_id, sampling)

    greedy = decode(None)
    hot = Sampling(temperature=5.0, top_p=1.0)
    assert decode(hot) == decode(hot)  # the run's seed makes it repeat
    assert decode(hot) != greedy and decode(hot, seed=1) != decode(hot)
    assert decode(Sampling(temperature=1.0, top_p=1e-6)) == greedy  # a nucleus of one token is greedy
