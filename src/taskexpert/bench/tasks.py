"""Names of the benchmark tasks and what each runs. One task runs in one subprocess (`child.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from taskexpert.bench.settings import BenchSettings

FRAMEWORK_TITLES = {
    "lightning": "(a) taskexpert: Lightning + QAModule",
    "lightning_compiled": "(a+) taskexpert, decoder blocks under torch.compile",
    "lightning_full_logits": "(a0) taskexpert before the answer-only loss",
    "lightning_stock_kernels": "(a1) taskexpert with torch's LoRA dropout, SDPA attention, PEFT's fp32 LoRA compute",
    "hf_trainer": "(b) HF Trainer + PEFT, DataCollatorForSeq2Seq",
    "pad512": "(c) plain loop, every example padded to 512",
}
# What each precision means for each framework: ours is `trainer.precision`; the Trainer's bf16 arms load the
# base in fp32 (the usual recipe) or in bf16 (`from_pretrained(dtype=torch.bfloat16)`), both with `bf16=True`.
PRECISIONS = ("fp32", "bf16-base", "bf16-mixed")
BF16_PRECISIONS = ("bf16-base", "bf16-mixed")


@dataclass(frozen=True)
class TrainArm:
    framework: str  # lightning | lightning_compiled | lightning_full_logits | lightning_stock_kernels | hf_trainer | pad512
    peft: str  # lora | prefix
    precision: str  # fp32 | bf16-base | bf16-mixed

    @property
    def bf16(self) -> bool:
        return self.precision in BF16_PRECISIONS

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
        arms += [
            TrainArm("lightning", "lora", "bf16-base"),
            TrainArm("lightning", "lora", "bf16-mixed"),
            TrainArm("hf_trainer", "lora", "bf16-mixed"),
        ]
    return arms


def precision_arms(with_bf16: bool) -> list[TrainArm]:
    """The `precision` part: our fp32 and bf16 paths against the Trainer's, and torch.compile of our step."""
    arms = [TrainArm("lightning", "lora", "fp32"), TrainArm("hf_trainer", "lora", "fp32")]
    if with_bf16:
        arms += [
            TrainArm("lightning", "lora", "bf16-base"),
            TrainArm("lightning_stock_kernels", "lora", "bf16-base"),
            TrainArm("lightning", "lora", "bf16-mixed"),
            TrainArm("hf_trainer", "lora", "bf16-mixed"),
            TrainArm("hf_trainer", "lora", "bf16-base"),
            TrainArm("lightning", "prefix", "bf16-base"),
            TrainArm("hf_trainer", "prefix", "bf16-mixed"),
        ]
    best = "bf16-base" if with_bf16 else "fp32"
    return [*arms, TrainArm("lightning_compiled", "lora", best)]


def scaling_points(settings: BenchSettings) -> list[tuple[int, int]]:
    """(batch size, sequence length): batch sizes at a fixed length, then lengths at a fixed batch size."""
    points = [(batch, settings.scaling_fixed_length) for batch in settings.scaling_batch_sizes]
    points += [(settings.scaling_fixed_batch, length) for length in settings.scaling_lengths]
    return list(dict.fromkeys(points))


def scaling_task(batch_size: int, length: int) -> str:
    return f"scale:{batch_size}:{length}"


EVAL_ADAPTERS = ("lora", "prefix")


def eval_tasks(with_bf16: bool, adapters: tuple[str, ...] = EVAL_ADAPTERS) -> list[str]:
    """`eval:ADAPTER:PRECISIONS`: one process scores and generates with one adapter in each precision, interleaved."""
    precisions = "fp32,bf16" if with_bf16 else "fp32"
    return [f"eval:{adapter}:{precisions}" for adapter in adapters]


def parse_eval_task(name: str) -> tuple[str, list[str]]:
    _, adapter, *rest = name.split(":")
    return adapter, (rest[0].split(",") if rest else ["fp32"])


MATMUL_TASK = "matmul"
