"""Decoding for evaluation: greedy by default, or sampled (temperature and nucleus, as LLM2LLM's option).

transformers' `generate` runs its own KV cache and (with transformers 5 and PEFT 0.21) drops the virtual
tokens of prefix tuning. So prefix tuning decodes with our own loop: the prompt goes through PEFT's forward
(which puts the prefix in the KV cache), then each new token goes through the base model with that cache.
Other prompt-learning adapters (prompt/p-tuning) decode with plain forward passes, which see their virtual
tokens. Everything else uses `generate` with its cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from taskexpert.models.adapters import is_prefix_tuning, is_prompt_learning
from taskexpert.models.label_scoring import last_position_logits


@dataclass(frozen=True)
class Sampling:
    """Sampling instead of greedy decoding: softmax temperature and nucleus (top-p) mass."""

    temperature: float = 0.7
    top_p: float = 0.9

    def __post_init__(self) -> None:
        if self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"sampling needs temperature > 0 and top_p in (0, 1], not {self}")


def next_tokens_from(logits: torch.Tensor, sampling: Sampling | None) -> torch.Tensor:
    """The next token of each row: the most likely (greedy), or drawn from the top-p mass at `temperature`
    (torch's global generator, which the run seeds)."""
    if sampling is None:
        return logits.argmax(dim=-1)
    probabilities = torch.softmax(logits.float() / sampling.temperature, dim=-1)
    sorted_probabilities, order = probabilities.sort(dim=-1, descending=True)
    outside = (
        sorted_probabilities.cumsum(dim=-1) - sorted_probabilities >= sampling.top_p
    )  # always keeps the first
    sorted_probabilities = sorted_probabilities.masked_fill(outside, 0.0)
    drawn = torch.multinomial(sorted_probabilities / sorted_probabilities.sum(dim=-1, keepdim=True), 1)
    return order.gather(-1, drawn).squeeze(-1)


def _right_to_left_padding(input_ids, attention_mask, lengths, pad_token_id):
    width = input_ids.shape[1]
    left_ids = torch.full_like(input_ids, pad_token_id)
    left_mask = torch.zeros_like(attention_mask)
    for row, length in enumerate(lengths.tolist()):
        left_ids[row, width - length :] = input_ids[row, :length]
        left_mask[row, width - length :] = 1
    return left_ids, left_mask


@torch.no_grad()
def forward_greedy_decode(
    model,
    input_ids,
    attention_mask,
    lengths,
    max_new_tokens: int,
    eos_token_id,
    pad_token_id,
    sampling: Sampling | None = None,
):
    """Greedy decoding by repeated full forward passes on a right-padded batch (no cache)."""
    input_ids, attention_mask, lengths = input_ids.clone(), attention_mask.clone(), lengths.clone()
    batch_size, device = input_ids.shape[0], input_ids.device
    new_tokens = [[] for _ in range(batch_size)]
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    for _ in range(max_new_tokens):
        next_tokens = next_tokens_from(
            last_position_logits(model, input_ids, attention_mask, lengths), sampling
        )
        if int(lengths.max()) == input_ids.shape[1]:  # grow by one column of padding
            input_ids = torch.cat(
                [input_ids, torch.full((batch_size, 1), pad_token_id, device=device)], dim=1
            )
            attention_mask = torch.cat(
                [attention_mask, torch.zeros((batch_size, 1), dtype=attention_mask.dtype, device=device)],
                dim=1,
            )
        for row in range(batch_size):
            if finished[row]:
                continue
            token = int(next_tokens[row])
            new_tokens[row].append(token)
            input_ids[row, lengths[row]] = token
            attention_mask[row, lengths[row]] = 1
            lengths[row] += 1
            finished[row] = token == eos_token_id
        if bool(finished.all()):
            break
    return new_tokens


@torch.no_grad()
def prefix_cached_greedy_decode(
    model,
    input_ids,
    attention_mask,
    lengths,
    max_new_tokens: int,
    eos_token_id,
    pad_token_id,
    sampling: Sampling | None = None,
):
    """Greedy decoding of a prefix-tuned PeftModel with a KV cache, on a right-padded batch.

    The prompt pass goes through PEFT, so the cache holds the virtual tokens and the prompt; each new token
    is then appended at cache column P + width + step with its own position P + length + step (positions as
    the cache-free loop gives them), and the prompt's padding columns stay masked out."""
    batch_size, device = input_ids.shape[0], input_ids.device
    prefix_length = model.active_peft_config.num_virtual_tokens
    positions = lengths - 1
    kept, row_to_kept = torch.unique(positions, return_inverse=True)
    output = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=kept, use_cache=True)
    next_tokens = next_tokens_from(
        output.logits[torch.arange(batch_size, device=device), row_to_kept], sampling
    )
    cache = output.past_key_values
    base = model.get_base_model()
    ones = {"dtype": attention_mask.dtype, "device": device}
    mask = torch.cat([torch.ones(batch_size, prefix_length, **ones), attention_mask], dim=1)
    new_tokens: list[list[int]] = [[] for _ in range(batch_size)]
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    for step in range(max_new_tokens):
        for row in range(batch_size):
            if not finished[row]:
                new_tokens[row].append(int(next_tokens[row]))
                finished[row] = int(next_tokens[row]) == eos_token_id
        if bool(finished.all()) or step == max_new_tokens - 1:
            break
        feed = next_tokens.masked_fill(finished, pad_token_id).unsqueeze(1)
        mask = torch.cat([mask, torch.ones(batch_size, 1, **ones)], dim=1)
        position_ids = (prefix_length + lengths + step).unsqueeze(1)
        output = base(
            input_ids=feed,
            attention_mask=mask,
            position_ids=position_ids,
            past_key_values=cache,
            use_cache=True,
        )
        cache = output.past_key_values
        next_tokens = next_tokens_from(output.logits[:, -1], sampling)
    return new_tokens


@torch.no_grad()
def greedy_generate(
    model,
    batch: dict,
    max_new_tokens: int,
    eos_token_id: int,
    pad_token_id: int,
    sampling: Sampling | None = None,
) -> list[list[int]]:
    """New token ids per row for a right-padded evaluation batch, eos included when reached; greedy unless
    `sampling` is given."""
    ids, mask, lengths = batch["input_ids"], batch["attention_mask"], batch["lengths"]
    if is_prefix_tuning(model):
        return prefix_cached_greedy_decode(
            model, ids, mask, lengths, max_new_tokens, eos_token_id, pad_token_id, sampling
        )
    if is_prompt_learning(model):
        return forward_greedy_decode(
            model, ids, mask, lengths, max_new_tokens, eos_token_id, pad_token_id, sampling
        )
    left_ids, left_mask = _right_to_left_padding(ids, mask, lengths, pad_token_id)
    how = {"do_sample": False}
    if sampling is not None:
        how = {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": 0}
    output = model.generate(
        input_ids=left_ids,
        attention_mask=left_mask,
        max_new_tokens=max_new_tokens,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        **how,
    )
    rows = []
    for generated in output[:, left_ids.shape[1] :].tolist():
        cut = generated.index(eos_token_id) + 1 if eos_token_id in generated else len(generated)
        rows.append(generated[:cut])
    return rows
