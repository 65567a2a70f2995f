"""Tiny randomly initialised models of the real architecture classes, with tokenizers built offline.

They exercise every code path of the real models (same classes, same PEFT targets) in seconds on a CPU;
they know nothing, so they are for testing plumbing, never for claims about quality.
"""

from __future__ import annotations

import json
from pathlib import Path

from taskexpert.models.cache_dir import prepared_dir

TINY_VERSION = 1  # bump when the recipe changes so caches rebuild
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
# Words the tokenizer should hold whole (the bundled sample's prompt and label words), so label words are single
# tokens as in real vocabularies. Other tasks' label words are several tokens of this byte-level vocabulary.
_SEED_TEXT = (Path(__file__).with_name("tiny_seed_text.txt")).read_text(encoding="utf-8").rstrip("\n")


def _training_text() -> list[str]:
    sample = Path(__file__).resolve().parents[1] / "data" / "sample" / "ori_pqal.json"
    lines = [_SEED_TEXT] * 50
    if sample.is_file():
        for item in json.loads(sample.read_text(encoding="utf-8")).values():
            lines.extend([item["QUESTION"], *item["CONTEXTS"], item["LONG_ANSWER"]])
    return lines


def build_tokenizer(vocab_size: int = 1024):
    """A byte-level BPE tokenizer trained on the bundled sample: any text encodes, nothing is unknown."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_training_text(), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, **SPECIAL_TOKENS)


def _model_config(architecture: str, tokenizer):
    from transformers import BioGptConfig, LlamaConfig

    shared = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    if architecture == "llama":
        return LlamaConfig(num_key_value_heads=2, tie_word_embeddings=False, **shared)
    if architecture == "biogpt":
        return BioGptConfig(**shared)
    raise ValueError(f"no tiny recipe for architecture {architecture!r}: use llama or biogpt")


def _build(architecture: str, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer = build_tokenizer()
    # A private RNG stream: building on first use must not move the caller's seeded stream, or a run that
    # builds the model would initialise its adapter differently from every later run that finds it cached.
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(_model_config(architecture, tokenizer))
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def tiny_model_dir(architecture: str) -> Path:
    """A cached directory holding a tiny `architecture` model and its tokenizer, built on first use."""
    return prepared_dir(f"tiny-{architecture}-v{TINY_VERSION}", lambda out_dir: _build(architecture, out_dir))
