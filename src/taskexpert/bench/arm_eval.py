"""Evaluation arms: label scoring (one forward pass) against Dr. LLaMA's generate-and-parse, on one model.

The adapter first learns the answer format in a short, untimed fp32 training run on truncated examples, so
generate-and-parse has something to parse; then both methods score the same full-length examples,
interleaved, through the same functions `QAModule` uses, in fp32 and (where measured) on a bf16 copy of the base
carrying the same fp32 adapter, as a bf16-base run evaluates.
"""

from __future__ import annotations

import copy
import time

import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from taskexpert.bench.data import encoder_for, evaluation_records, training_records
from taskexpert.bench.settings import BenchSettings, model_dir
from taskexpert.data.collate import EvalCollator, TrainCollator
from taskexpert.models import cpu_attention
from taskexpert.models.adapter_compute import compute_lora_in_input_dtype
from taskexpert.models.adapters import apply_adapter, store_frozen_weights_in
from taskexpert.models.decoding import greedy_generate
from taskexpert.models.label_sequences import score_task_labels
from taskexpert.models.loading import attention_implementation, load_model_and_tokenizer
from taskexpert.tasks import load_task

FORMAT_LEARNING_RATE = {"lora": 1e-3, "prefix": 1e-2}


def _adapter_config(settings: BenchSettings, peft: str):
    if peft == "lora":
        node = {
            "_target_": "peft.LoraConfig",
            "task_type": "CAUSAL_LM",
            "r": settings.lora_rank,
            "lora_alpha": settings.lora_alpha,
            "lora_dropout": 0.1,
            "target_modules": list(settings.lora_targets),
        }
    else:
        node = {
            "_target_": "peft.PrefixTuningConfig",
            "task_type": "CAUSAL_LM",
            "num_virtual_tokens": settings.prefix_tokens,
        }
    return OmegaConf.create(node)


def teach_answer_format(model, tokenizer, settings: BenchSettings, peft: str) -> float:
    """A few optimizer steps on short examples; returns the last loss."""
    encoder = encoder_for(tokenizer, settings.format_max_length)
    examples = encoder.encode(training_records(settings, settings.format_steps), "format examples")
    loader = DataLoader(
        examples,
        batch_size=settings.batch_size,
        shuffle=True,
        collate_fn=TrainCollator(tokenizer.pad_token_id),
    )
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=FORMAT_LEARNING_RATE[peft]
    )
    model.train()
    loss = torch.tensor(float("nan"))
    for batch in loader:
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    model.eval()
    return float(loss.detach())


def _batches(tokenizer, settings: BenchSettings, eval_mode: str, count: int) -> list[dict]:
    encoder = encoder_for(tokenizer, settings.max_length, eval_mode)
    examples = encoder.encode(evaluation_records(settings)[:count], "evaluation examples")
    collate = EvalCollator(tokenizer.pad_token_id)
    size = settings.eval_batch_size
    return [collate(examples[start : start + size]) for start in range(0, len(examples), size)]


def label_scoring_pass(model, batches, label_tokens, pad_token_id: int) -> torch.Tensor:
    """[examples, labels] label log-probabilities, batch by batch."""
    return torch.cat([score_task_labels(model, batch, label_tokens, pad_token_id) for batch in batches])


def generate_and_parse_pass(
    model, tokenizer, batches, max_new_tokens: int
) -> tuple[list[str], list[bool], list[int]]:
    predictions, parsed, new_tokens = [], [], []
    for batch in batches:
        generated = greedy_generate(
            model, batch, max_new_tokens, tokenizer.eos_token_id, tokenizer.pad_token_id
        )
        for tokens, text in zip(
            generated, tokenizer.batch_decode(generated, skip_special_tokens=True), strict=True
        ):
            task = load_task()
            label, ok = task.kind.read_generated(task, text)
            predictions.append(label)
            parsed.append(ok)
            new_tokens.append(len(tokens))
    return predictions, parsed, new_tokens


def bf16_twin(model):
    """The same adapter (fp32) on the same base weights stored in bf16, its LoRA computing in bf16, with the
    attention a bf16-base run loads on this device (`model.attn_implementation=auto`): evaluation as such a run
    does it."""
    twin = store_frozen_weights_in(copy.deepcopy(model), torch.bfloat16)
    compute_lora_in_input_dtype(twin)
    attention = attention_implementation("auto", compiled=False, device="cpu", bf16=True)
    if attention is not None:
        cpu_attention.ensure_registered(attention)
        twin.get_base_model().set_attn_implementation(attention)
    return twin


def _summary(
    examples: int, names: list[str], timings: dict, scores: torch.Tensor, generated, parsed, new_tokens
) -> dict:
    scored = [names[i] for i in scores.argmax(dim=-1).tolist()]
    disagreements = sum(a != b for a, b in zip(scored, generated, strict=True))
    parsed_agreements = sum(a == b for a, b, ok in zip(scored, generated, parsed, strict=True) if ok)
    return {
        "seconds": timings,
        "examples_per_second": {name: [examples / s for s in runs] for name, runs in timings.items()},
        "disagreement_rate": disagreements / examples,
        "parse_failure_rate": parsed.count(False) / examples,
        "agreement_when_parsed": parsed_agreements / max(1, sum(parsed)),
        "mean_new_tokens": sum(new_tokens) / examples,
    }


def run(settings: BenchSettings, peft: str, precisions: list[str] | None = None) -> dict:
    """Both methods in each precision (fp32, and bf16 on a bf16 copy of the base with the same adapter),
    interleaved round by round so that load changes hit all of them alike."""
    precisions = precisions or ["fp32"]
    torch.manual_seed(settings.seed)
    model, tokenizer = load_model_and_tokenizer(
        OmegaConf.create({"path": str(model_dir(settings))}), "float32"
    )
    model = apply_adapter(model, _adapter_config(settings, peft))
    format_loss = teach_answer_format(model, tokenizer, settings, peft)
    models = {"fp32": model} | ({"bf16": bf16_twin(model).eval()} if "bf16" in precisions else {})
    count = settings.eval_examples
    label_batches = _batches(tokenizer, settings, "label", count)
    generate_batches = _batches(tokenizer, settings, "generate", count)
    label_tokens = encoder_for(tokenizer, settings.max_length).label_tokens
    examples = sum(len(b["ids"]) for b in label_batches)
    timings = {name: {"label_scoring": [], "generate_and_parse": []} for name in models}
    outputs: dict[str, tuple] = {}
    for _ in range(settings.repeats):
        for name, evaluated in models.items():
            start = time.perf_counter()
            scores = label_scoring_pass(evaluated, label_batches, label_tokens, tokenizer.pad_token_id)
            timings[name]["label_scoring"].append(time.perf_counter() - start)
            start = time.perf_counter()
            generated = generate_and_parse_pass(
                evaluated, tokenizer, generate_batches, settings.eval_max_new_tokens
            )
            timings[name]["generate_and_parse"].append(time.perf_counter() - start)
            outputs[name] = (scores, *generated)
    result = {
        "examples": examples,
        "format_loss": format_loss,
        "precisions": list(models),
        "mean_prompt_tokens": sum(int(b["lengths"].sum()) for b in generate_batches) / examples,
        "by_precision": {
            name: _summary(examples, list(label_tokens.names), timings[name], *outputs[name])
            for name in models
        },
    }
    if "bf16" in models:
        fp32_scores, bf16_scores = outputs["fp32"][0], outputs["bf16"][0]
        result["bf16_vs_fp32"] = {
            "label_agreement": float((fp32_scores.argmax(-1) == bf16_scores.argmax(-1)).float().mean()),
            "max_label_score_difference": float((fp32_scores - bf16_scores).abs().max()),
            "generated_label_agreement": sum(
                a == b for a, b in zip(outputs["fp32"][1], outputs["bf16"][1], strict=True)
            )
            / examples,
        }
    return result
