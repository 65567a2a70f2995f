"""What a benchmark run measures: one settings object, shared by the parent and every arm's subprocess."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class BenchSettings:
    model: str = "smollm2"  # smollm2 (SmolLM2-135M-Instruct) | tiny (random 2-layer LLaMA, for smoke tests)
    batch_size: int = 4
    max_length: int = 512  # tokens per example; also the width of the pad-to-512 loop
    warmup_steps: int = 2  # optimizer steps before the clock starts
    measured_steps: int = 8  # optimizer steps on the clock
    repeats: int = 3  # runs of every arm, interleaved
    lora_rank: int = 4
    lora_alpha: int = 32
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    prefix_tokens: int = 64
    learning_rate: float = 3e-4
    bf16: str = "auto"  # auto (only if bf16 matmuls beat fp32 here) | always | never
    eval_examples: int = 16
    eval_batch_size: int = 8
    eval_max_new_tokens: int = 32
    format_steps: int = 16  # short LoRA training that teaches the answer format before evaluation
    format_max_length: int = 96
    scaling_batch_sizes: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    scaling_lengths: list[int] = field(default_factory=lambda: [128, 256, 512])
    scaling_fixed_batch: int = 4
    scaling_fixed_length: int = 256
    scaling_warmup_steps: int = 1
    scaling_steps: int = 3
    matmul_size: int = 2048
    threads: int | None = None  # torch threads per task; None = torch's default (all cores)
    compile_backend: str = "inductor"  # the compiled arm's torch.compile backend (smoke: eager, no C++)
    seed: int = 0

    @property
    def total_steps(self) -> int:
        return self.warmup_steps + self.measured_steps

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> BenchSettings:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def model_dir(settings: BenchSettings) -> Path:
    """The local model directory: converted SmolLM2, or the tiny LLaMA built offline."""
    if settings.model == "smollm2":
        from taskexpert.models.smollm2 import smollm2_dir

        return smollm2_dir()
    if settings.model == "tiny":
        from taskexpert.models.tiny import tiny_model_dir

        return tiny_model_dir("llama")
    raise ValueError(f"unknown benchmark model {settings.model!r}: use smollm2 or tiny")


def hydra_model_option(settings: BenchSettings) -> str:
    """The `model=` option of conf/model that loads the same weights."""
    return {"smollm2": "smollm2_135m", "tiny": "tiny_llama"}[settings.model]
