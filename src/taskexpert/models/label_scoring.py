"""Logits only where they are needed: label scoring (one forward pass, then the log-likelihood of each label's
first token after the prompt) and the training loss on the answer tokens."""

from __future__ import annotations

import inspect

import torch

from taskexpert.data.encoding import IGNORE_INDEX
from taskexpert.models.adapters import is_prefix_tuning, is_prompt_learning, virtual_tokens_before_input


def mask_for_real_tokens(attention_mask: torch.Tensor) -> torch.Tensor | None:
    """None when every row is real tokens followed by padding: a causal model never attends to later
    positions, so the real tokens' outputs are the same without the mask, and attention can take its
    causal fast path instead of building and applying a padding mask. Other masks are kept."""
    right_padded = bool(attention_mask[:, 0].all()) and bool(
        (attention_mask[:, 1:] <= attention_mask[:, :-1]).all()
    )
    return None if right_padded else attention_mask


def last_position_logits(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, lengths: torch.Tensor):
    """Logits at each row's last real token of a right-padded batch, computing the LM head only there.
    Prompt/P-tuning prepend their virtual tokens to the sequence, which shifts every position by their number."""
    positions = lengths - 1 + virtual_tokens_before_input(model)
    kept, row_to_kept = torch.unique(positions, return_inverse=True)
    logits = model(
        input_ids=input_ids, attention_mask=mask_for_real_tokens(attention_mask), logits_to_keep=kept
    ).logits
    return logits[torch.arange(len(positions), device=logits.device), row_to_kept].float()


def label_log_probs(next_token_logits: torch.Tensor, label_token_ids: list[int]) -> torch.Tensor:
    """[batch, n_labels] log-probabilities of each label's first token (normalised over the vocabulary)."""
    return torch.log_softmax(next_token_logits, dim=-1)[:, label_token_ids]


@torch.no_grad()
def score_labels(model, batch: dict, label_token_ids: list[int]) -> torch.Tensor:
    logits = last_position_logits(model, batch["input_ids"], batch["attention_mask"], batch["lengths"])
    return label_log_probs(logits, label_token_ids)


def supports_answer_only_logits(model) -> bool:
    """True when the model takes `logits_to_keep` and its logits line up with the input positions
    (prompt/p-tuning prepend virtual tokens to the input; prefix tuning keeps them in the KV cache)."""
    if is_prompt_learning(model) and not is_prefix_tuning(model):
        return False
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def answer_only_loss(model, batch: dict) -> torch.Tensor:
    """The causal-LM loss of `model(**batch).loss` (mean cross-entropy over the label tokens), with the LM head
    computed only at positions some row needs: the answer span, a few dozen of several hundred positions.
    Padding positions may compute garbage without a mask; they are never projected and carry no label."""
    targets = batch["labels"][:, 1:]  # position p predicts token p + 1
    kept = (targets != IGNORE_INDEX).any(dim=0).nonzero().squeeze(1)
    logits = model(
        input_ids=batch["input_ids"],
        attention_mask=mask_for_real_tokens(batch["attention_mask"]),
        logits_to_keep=kept,
        use_cache=False,  # training needs no KV cache (prefix tuning passes its own and still sees it)
    ).logits
    return torch.nn.functional.cross_entropy(
        logits.float().flatten(0, 1), targets[:, kept].flatten(), ignore_index=IGNORE_INDEX
    )
