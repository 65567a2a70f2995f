"""Arm (c): the original Dr. LLaMA recipe: every example padded to 512 tokens, a plain PyTorch loop."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from taskexpert.bench.arm_hf_trainer import load_peft_model
from taskexpert.bench.data import encoded_training_examples
from taskexpert.bench.flops import model_dims
from taskexpert.bench.measure import StepLog, batch_shape, mark_setup_done
from taskexpert.bench.settings import BenchSettings


def _pad_to(width: int, pad_token_id: int):
    def collate(examples) -> dict[str, torch.Tensor]:
        def padded(rows, value):
            return torch.tensor([row + [value] * (width - len(row)) for row in rows], dtype=torch.long)

        return {
            "input_ids": padded([e.input_ids for e in examples], pad_token_id),
            "attention_mask": padded([[1] * len(e.input_ids) for e in examples], 0),
            "labels": padded([e.labels for e in examples], -100),
        }

    return collate


def run(settings: BenchSettings, peft: str, precision: str) -> dict:
    torch.manual_seed(settings.seed)
    model, tokenizer = load_peft_model(settings, peft)
    examples = encoded_training_examples(tokenizer, settings)
    loader = DataLoader(
        examples,
        batch_size=settings.batch_size,
        shuffle=True,
        collate_fn=_pad_to(settings.max_length, tokenizer.pad_token_id),
    )
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate
    )
    warmup = max(1, settings.total_steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, max(0.0, (settings.total_steps - step) / settings.total_steps)),
    )
    log = StepLog(settings.warmup_steps)
    model.train()
    mark_setup_done(log)
    for step, batch in enumerate(loader):
        if step == settings.total_steps:
            break
        log.batch_seen(batch_shape(batch, head="all"))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        log.step_done()
    return log.summary() | {"dims": model_dims(model, peft, settings.prefix_tokens)}
