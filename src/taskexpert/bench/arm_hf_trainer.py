"""Arm (b): what many users run instead: Hugging Face `Trainer` + PEFT with `DataCollatorForSeq2Seq`
(dynamic padding, prompt labels already -100), on the same token ids, batch size and adapter."""

from __future__ import annotations

import tempfile

import torch

from taskexpert.bench.data import encoded_training_examples
from taskexpert.bench.flops import model_dims
from taskexpert.bench.measure import StepLog, batch_shape, mark_setup_done
from taskexpert.bench.settings import BenchSettings, model_dir


def peft_config(settings: BenchSettings, peft: str):
    from peft import LoraConfig, PrefixTuningConfig

    if peft == "lora":
        return LoraConfig(
            task_type="CAUSAL_LM",
            r=settings.lora_rank,
            lora_alpha=settings.lora_alpha,
            lora_dropout=0.1,
            target_modules=list(settings.lora_targets),
        )
    if peft == "prefix":
        return PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=settings.prefix_tokens)
    raise ValueError(f"unknown adapter {peft!r}")


def load_peft_model(settings: BenchSettings, peft: str, dtype: torch.dtype = torch.float32):
    """The usual recipe: `from_pretrained` in fp32 (or the given dtype), then `get_peft_model` (which keeps the
    adapter in fp32)."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = model_dir(settings)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    return get_peft_model(model, peft_config(settings, peft)), tokenizer


class _CountingCollator:
    """`DataCollatorForSeq2Seq`, noting each batch's shape in order (batch k is optimizer step k)."""

    def __init__(self, collator, log: StepLog) -> None:
        self.collator = collator
        self.log = log

    def __call__(self, features):
        batch = self.collator(features)
        self.log.batch_seen(batch_shape(batch, head="all"))
        return batch


def run(settings: BenchSettings, peft: str, precision: str) -> dict:
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments

    torch.manual_seed(settings.seed)
    base_dtype = torch.bfloat16 if precision == "bf16-base" else torch.float32
    model, tokenizer = load_peft_model(settings, peft, base_dtype)
    rows = [
        {"input_ids": e.input_ids, "attention_mask": [1] * len(e.input_ids), "labels": e.labels}
        for e in encoded_training_examples(tokenizer, settings)
    ]
    log = StepLog(settings.warmup_steps)

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            log.step_done()

    with tempfile.TemporaryDirectory(prefix="bench-hf-trainer-") as output_dir:
        arguments = TrainingArguments(
            output_dir=output_dir,
            per_device_train_batch_size=settings.batch_size,
            max_steps=settings.total_steps,
            learning_rate=settings.learning_rate,
            lr_scheduler_type="linear",
            warmup_steps=0.1,  # a fraction of the steps, as our optimizer.warmup_ratio
            max_grad_norm=1.0,
            logging_steps=5,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            bf16=precision
            in ("bf16-base", "bf16-mixed"),  # autocast; with a bf16 base only the adapter is cast
            dataloader_num_workers=0,
            disable_tqdm=True,
            seed=settings.seed,
        )
        collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
        trainer = Trainer(
            model=model,
            args=arguments,
            train_dataset=Dataset.from_list(rows),
            data_collator=_CountingCollator(collator, log),
            callbacks=[Clock()],
        )
        mark_setup_done(log)
        trainer.train()
    log.shapes = log.shapes[: len(log.stamps)]  # the loader may have collated one batch ahead
    return log.summary() | {"dims": model_dims(model, peft, settings.prefix_tokens)}
