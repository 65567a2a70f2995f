"""Names of the benchmark tasks and what each runs. One task runs in one subprocess (`child.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from taskexpert.bench.settings import BenchSettings

FRAMEWORK_TITLES = {
    "lightning": "(a) taskexpert: Lightning + QAModule",
    "lightning_full_logits": "(a0) taskexpert before the answer-only loss",
    "hf_trainer": "(b) HF Trainer + PEFT, DataCollatorForSeq2Seq",
    "pad512": "(c) plain loop, every example padded to 512",
}


@dataclass(frozen=True)
class TrainArm:
    framework: str  # lightning | lightning_full_logits | hf_trainer | pad512
    peft: str  # lora | prefix
    precision: str  # fp32 | bf16

    @property
    def name(self) -> str:
        return f"train:{self.framework}:{self.peft}:{self.precision}"

    @property
    def title(self) -> str:
        return f"{FRAMEWORK_TITLES[self.framework]}, {self.peft}, {self.precision}"

    @classmethod
    def parse(cls, name: str) -> TrainArm:
        _, framework, peft, precision = name.split(":")
        return cls(framework, peft, precision)


def training_arms(with_bf16: bool) -> list[TrainArm]:
    arms = [
        TrainArm("lightning", "lora", "fp32"),
        TrainArm("lightning_full_logits", "lora", "fp32"),
        TrainArm("hf_trainer", "lora", "fp32"),
        TrainArm("pad512", "lora", "fp32"),
        TrainArm("lightning", "prefix", "fp32"),
        TrainArm("hf_trainer", "prefix", "fp32"),
    ]
    if with_bf16:
        arms += [TrainArm("lightning", "lora", "bf16"), TrainArm("hf_trainer", "lora", "bf16")]
    return arms


def scaling_points(settings: BenchSettings) -> list[tuple[int, int]]:
    """(batch size, sequence length): batch sizes at a fixed length, then lengths at a fixed batch size."""
    points = [(batch, settings.scaling_fixed_length) for batch in settings.scaling_batch_sizes]
    points += [(settings.scaling_fixed_batch, length) for length in settings.scaling_lengths]
    return list(dict.fromkeys(points))


def scaling_task(batch_size: int, length: int) -> str:
    return f"scale:{batch_size}:{length}"


EVAL_TASKS = ["eval:lora", "eval:prefix"]
MATMUL_TASK = "matmul"
