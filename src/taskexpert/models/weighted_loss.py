"""The answer-token cross-entropy with a weight per example (class-weighted training, data.class_weights).

loss = sum_i w_i * sum_t ce(i, t) / sum_i w_i * n_i over the answer tokens t of each example i (n_i of them):
with every w_i = 1 it is the plain mean over answer tokens, the loss without weights.
"""

from __future__ import annotations

import torch

from taskexpert.data.encoding import IGNORE_INDEX
from taskexpert.models.adapters import virtual_tokens_before_input
from taskexpert.models.label_scoring import mask_for_real_tokens


def weighted_token_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """`logits` [batch, positions, vocabulary] predicting `targets` [batch, positions]; `weights` [batch]."""
    token_losses = torch.nn.functional.cross_entropy(
        logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="none"
    ).view(targets.shape)
    token_weights = weights.to(token_losses.dtype)[:, None] * (targets != IGNORE_INDEX)
    return (token_losses * token_weights).sum() / token_weights.sum()


def weighted_answer_loss(model, batch: dict, weights: torch.Tensor, answer_only_logits: bool) -> torch.Tensor:
    """The weighted loss of a training batch; with `answer_only_logits` the LM head runs only where an answer
    token is predicted (as answer_only_loss), else on every position (prompt/P-tuning shift them by their
    virtual tokens)."""
    targets = batch["labels"][:, 1:]  # position p predicts token p + 1
    if answer_only_logits:
        kept = (targets != IGNORE_INDEX).any(dim=0).nonzero().squeeze(1)
        logits = model(
            input_ids=batch["input_ids"],
            attention_mask=mask_for_real_tokens(batch["attention_mask"]),
            logits_to_keep=kept,
            use_cache=False,
        ).logits
        return weighted_token_loss(logits, targets[:, kept], weights)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logits = logits[:, virtual_tokens_before_input(model) :]
    return weighted_token_loss(logits[:, :-1], targets, weights)
