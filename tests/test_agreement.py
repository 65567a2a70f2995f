"""Label scoring and generate-and-parse agree where the model has learned to write the answer phrase."""

from __future__ import annotations

import torch
from conftest import compose_config

from taskexpert.data.collate import EvalCollator, TrainCollator
from taskexpert.data.encoding import ExampleEncoder
from taskexpert.data.loading import load_splits
from taskexpert.models.adapters import apply_adapter
from taskexpert.models.loading import load_model_and_tokenizer
from taskexpert.models.module import EvalSettings, OptimizerSettings, QAModule
from taskexpert.tasks import build_task


def test_label_scoring_and_generate_and_parse_agree_on_a_memorised_set(tmp_path):
    cfg = compose_config(["model=tiny_llama", "peft=none"], tmp_path)
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(cfg.model)
    model = apply_adapter(model, None)
    task = build_task(cfg.task)
    # Short contexts, so that nothing is truncated: training and evaluation then read the same prompt
    # (truncation sizes a training prompt by its target and an evaluation prompt by what evaluation adds).
    records = load_splits(cfg.data, task).train[:6]
    for record in records:
        record.inputs["context"] = " ".join(record.inputs["context"].split()[:40])
    assert len({r.target for r in records}) >= 2
    train_batch = TrainCollator(tokenizer.pad_token_id)(
        ExampleEncoder(tokenizer, task, 256, "label", target="label").encode(records, "t")
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(150):  # memorise: the model writes the answer phrase and the right label for these prompts
        loss = model(**train_batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    model.eval()

    predictions = {}
    for mode in ("label", "generate"):
        encoder = ExampleEncoder(tokenizer, task, 256, mode, target="label")
        batch = EvalCollator(tokenizer.pad_token_id)(encoder.encode(records, "t"))
        module = QAModule(
            model,
            tokenizer,
            task,
            encoder.label_tokens,
            OptimizerSettings(),
            EvalSettings(mode=mode, max_new_tokens=16),
        )
        predictions[mode] = [output["pred"] for output in module._predict(batch)]
    gold = [r.target for r in records]
    assert predictions["label"] == gold
    assert predictions["generate"] == predictions["label"]
