"""Logits only where they are needed: label scoring (one forward pass, then the log-likelihood of each label's
first token after the prompt) and the training loss on the answer tokens.

Label log-probabilities are computed in fp32 whatever the model's dtype. A bf16 LM head rounds every logit to 8
significant bits (steps of 0.0625 near 10), so two labels whose scores differ by less than that tie, and a tie goes
to the first label. The head's input, the last hidden state at the kept positions, is upcast (exact), projected in
fp32 onto the label tokens' rows of the head, and normalised by a log-sum-exp over the whole vocabulary also in fp32
(taken in chunks of the vocabulary, so no fp32 copy of the whole head is made): the same numbers an fp32 head gives
on that hidden state. It costs one fp32 projection of the kept positions, beside the bf16 one the model makes.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from contextlib import contextmanager

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


log = logging.getLogger(__name__)
VOCABULARY_CHUNK = 8192  # head rows upcast at a time for the fp32 log-sum-exp
# the model's logits and ours agree within twice bf16's relative rounding; beyond, the model transforms its
# logits after the head in a way we do not know (a logit scale), and its own logits are used
ROUNDING = 2**-7
_said: set[str] = set()


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.warning("%s", message)


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
    return torch.log_softmax(next_token_logits.float(), dim=-1)[:, label_token_ids]


class HeadCapture:
    """The LM head's input (the last hidden state at the kept positions) from the forward pass that runs it."""

    def __init__(self, model) -> None:
        self.head = model.get_output_embeddings()
        self.softcap = getattr(_text_config(model), "final_logit_softcapping", None)
        self.hidden: torch.Tensor | None = None

    def __call__(self, _module, inputs, _output) -> None:
        self.hidden = inputs[0]

    def exact(self, logits: torch.Tensor) -> bool:
        """An fp32 recomputation changes something (the model's logits were rounded: a bf16 head, or an fp32 one
        under bf16 autocast) and is possible (a plain linear head whose whole weight is here, not a shard)."""
        head = self.head
        if logits.dtype == torch.float32 or type(head) is not torch.nn.Linear or self.hidden is None:
            return False
        weight = head.weight
        return type(weight.data) is torch.Tensor and tuple(weight.shape) == (
            logits.shape[-1],
            self.hidden.shape[-1],
        )


def _text_config(model):
    config = model.config
    return config.get_text_config() if hasattr(config, "get_text_config") else config


@contextmanager
def captured_head_input(model) -> Iterator[HeadCapture]:
    capture = HeadCapture(model)
    handle = capture.head.register_forward_hook(capture) if capture.head is not None else None
    try:
        yield capture
    finally:
        if handle is not None:
            handle.remove()


def _capped(logits: torch.Tensor, softcap: float | None) -> torch.Tensor:
    """The model's own final logit softcapping (Gemma 2), applied to our fp32 logits as the model does."""
    return logits if softcap is None else torch.tanh(logits / softcap) * softcap


def _agrees_with_model(
    ours: torch.Tensor, models: torch.Tensor, hidden: torch.Tensor, rows: torch.Tensor
) -> bool:
    """Our fp32 logits are the model's up to its rounding: of the logit itself, and under autocast of each
    product's factors (bounded by the sum of the products' magnitudes). A logit scale or any other transform
    after the head is far outside that."""
    magnitude = torch.einsum("rh,rkh->rk", hidden.abs(), rows.float().abs())
    allowed = ROUNDING * (models.abs() + magnitude) + ROUNDING
    return bool(((ours - models).abs() <= allowed).all())


def fp32_token_log_probs(
    capture: HeadCapture, hidden: torch.Tensor, token_ids: torch.Tensor, model_logits: torch.Tensor
) -> torch.Tensor:
    """[rows, k] log-probabilities of `token_ids` ([rows, k]) given `hidden` ([rows, hidden]) through the head
    in fp32. `model_logits` ([rows, vocab]): the model's own, used when the head cannot be recomputed exactly."""
    if not capture.exact(model_logits):
        return torch.log_softmax(model_logits.float(), dim=-1).gather(1, token_ids)
    with torch.autocast(hidden.device.type, enabled=False):  # bf16-mixed evaluates under autocast
        return _fp32_log_probs(capture, hidden, token_ids, model_logits)


def _fp32_log_probs(
    capture: HeadCapture, hidden: torch.Tensor, token_ids: torch.Tensor, model_logits: torch.Tensor
) -> torch.Tensor:
    weight, bias = capture.head.weight, capture.head.bias
    hidden = hidden.float()
    chosen = torch.einsum("rh,rkh->rk", hidden, weight[token_ids].float())
    if bias is not None:
        chosen = chosen + bias[token_ids].float()
    chosen = _capped(chosen, capture.softcap)
    if not _agrees_with_model(chosen, model_logits.gather(1, token_ids).float(), hidden, weight[token_ids]):
        _say_once("label scores: this model transforms its head's logits; its own (rounded) logits are used")
        return torch.log_softmax(model_logits.float(), dim=-1).gather(1, token_ids)
    partial = []
    for start in range(0, weight.shape[0], VOCABULARY_CHUNK):
        rows = slice(start, start + VOCABULARY_CHUNK)
        logits = hidden @ weight[rows].float().T
        if bias is not None:
            logits = logits + bias[rows].float()
        partial.append(torch.logsumexp(_capped(logits, capture.softcap), dim=-1))
    return chosen - torch.logsumexp(torch.stack(partial, dim=-1), dim=-1, keepdim=True)


@torch.no_grad()
def score_labels(model, batch: dict, label_token_ids: list[int]) -> torch.Tensor:
    """[batch, n_labels] log-probabilities of each label's first token after each row's prompt, in fp32."""
    input_ids, attention_mask, lengths = batch["input_ids"], batch["attention_mask"], batch["lengths"]
    positions = lengths - 1 + virtual_tokens_before_input(model)
    kept, row_to_kept = torch.unique(positions, return_inverse=True)
    with captured_head_input(model) as capture:
        logits = model(
            input_ids=input_ids, attention_mask=mask_for_real_tokens(attention_mask), logits_to_keep=kept
        ).logits
    rows = torch.arange(len(positions), device=logits.device)
    hidden = capture.hidden[rows, row_to_kept] if capture.hidden is not None else None
    token_ids = torch.tensor(label_token_ids, device=logits.device).expand(len(positions), -1)
    return fp32_token_log_probs(capture, hidden, token_ids, logits[rows, row_to_kept])


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
