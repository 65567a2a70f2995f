"""Label scoring: one forward pass, then the log-likelihood of each label's first token after the prompt."""

from __future__ import annotations

import torch


def last_position_logits(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, lengths: torch.Tensor):
    """Logits at each row's last real token of a right-padded batch, computing the LM head only there."""
    positions = lengths - 1
    kept, row_to_kept = torch.unique(positions, return_inverse=True)
    logits = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=kept).logits
    return logits[torch.arange(len(positions)), row_to_kept].float()


def label_log_probs(next_token_logits: torch.Tensor, label_token_ids: list[int]) -> torch.Tensor:
    """[batch, n_labels] log-probabilities of each label's first token (normalised over the vocabulary)."""
    return torch.log_softmax(next_token_logits, dim=-1)[:, label_token_ids]


@torch.no_grad()
def score_labels(model, batch: dict, label_token_ids: list[int]) -> torch.Tensor:
    logits = last_position_logits(model, batch["input_ids"], batch["attention_mask"], batch["lengths"])
    return label_log_probs(logits, label_token_ids)
