"""Label scoring for any label set: each label's whole continuation after the decision prefix.

When every label is a single token, one forward pass over prompt + prefix gives all scores (the next-token
distribution at the last position: `label_scoring.score_labels`). Otherwise each example is scored once per
label, on the rows prompt + prefix + label (batch x n_labels rows in one batched pass, cut into chunks of
`max_rows`), and a label's score is the sum of its tokens' log-probabilities (`normalize="mean"`: their mean,
so long labels are not penalised for their length). Labels may share first tokens. The logits are projected
only at the positions that predict a label token, and the log-probabilities computed in fp32 there
(`label_scoring.fp32_token_log_probs`).
"""

from __future__ import annotations

import torch

from taskexpert.data.encoding import LabelTokens
from taskexpert.models.adapters import virtual_tokens_before_input
from taskexpert.models.label_scoring import (
    captured_head_input,
    fp32_token_log_probs,
    mask_for_real_tokens,
    score_labels,
)


@torch.no_grad()
def score_label_sequences(
    model, batch: dict, labels: LabelTokens, pad_token_id: int, max_rows: int = 64
) -> torch.Tensor:
    """[batch, n_labels] log-probability of each label's token sequence after each row's prompt + prefix."""
    input_ids, lengths = batch["input_ids"], batch["lengths"]
    device = input_ids.device
    n_labels = len(labels.sequences)
    rows: list[tuple[int, int]] = [(b, j) for b in range(input_ids.shape[0]) for j in range(n_labels)]
    scores = torch.empty(input_ids.shape[0], n_labels, dtype=torch.float32, device=device)
    examples_per_chunk = max(1, max_rows // n_labels)
    for start in range(0, len(rows), examples_per_chunk * n_labels):
        chunk = rows[start : start + examples_per_chunk * n_labels]
        sequences = [input_ids[b, : int(lengths[b])].tolist() + list(labels.sequences[j]) for b, j in chunk]
        width = max(len(sequence) for sequence in sequences)
        ids = torch.full((len(chunk), width), pad_token_id, dtype=torch.long, device=device)
        mask = torch.zeros((len(chunk), width), dtype=torch.long, device=device)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = torch.tensor(sequence, device=device)
            mask[row, : len(sequence)] = 1
        # position p predicts token p + 1: label token k of row r sits at prompt_length + k
        targets = []
        for row, (b, j) in enumerate(chunk):
            prompt_length = int(lengths[b])
            for k, token in enumerate(labels.sequences[j]):
                targets.append((row, prompt_length + k - 1, token))
        # prompt/p-tuning put their virtual tokens in front of the sequence: every position moves by their number
        offset = virtual_tokens_before_input(model)
        kept, positions = torch.unique(
            torch.tensor([p + offset for _, p, _ in targets], device=device), return_inverse=True
        )
        with captured_head_input(model) as capture:
            logits = model(
                input_ids=ids, attention_mask=mask_for_real_tokens(mask), logits_to_keep=kept
            ).logits
        row_index = torch.tensor([r for r, _, _ in targets], device=device)
        token_index = torch.tensor([t for _, _, t in targets], device=device)
        hidden = capture.hidden[row_index, positions] if capture.hidden is not None else None
        token_log_probs = fp32_token_log_probs(
            capture, hidden, token_index.unsqueeze(1), logits[row_index, positions]
        ).squeeze(1)
        per_row = torch.zeros(len(chunk), dtype=torch.float32, device=device).index_add_(
            0, row_index, token_log_probs
        )
        if labels.normalize == "mean":
            per_row = per_row / torch.tensor(
                [len(labels.sequences[j]) for _, j in chunk], dtype=torch.float32, device=device
            )
        for row, (b, j) in enumerate(chunk):
            scores[b, j] = per_row[row]
    return scores


def score_task_labels(model, batch: dict, labels: LabelTokens, pad_token_id: int) -> torch.Tensor:
    """[batch, n_labels] label scores: one pass when every label is one token, else per-label rows."""
    if labels.single_token:
        return score_labels(model, batch, labels.first_token_ids)
    return score_label_sequences(model, batch, labels, pad_token_id)
