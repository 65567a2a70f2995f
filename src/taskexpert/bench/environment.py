"""What a benchmark ran on: the CPU, the library versions, and the token lengths of the data."""

from __future__ import annotations

import os
import platform
from importlib import metadata

PACKAGES = ("torch", "transformers", "peft", "pytorch-lightning", "accelerate", "datasets", "hydra-core")
SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def _cpuinfo() -> dict[str, str]:
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def _memory_gib() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            return int(meminfo.readline().split()[1]) / 1024**2
    except (OSError, ValueError, IndexError):
        return float("nan")


def machine_info() -> dict:
    import torch

    cpu = _cpuinfo()
    flags = set(cpu.get("flags", "").split())
    return {
        "cpu": cpu.get("model name", platform.processor() or "unknown"),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": round(_memory_gib(), 1),
        "simd": [flag for flag in SIMD_FLAGS if flag in flags],
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "os": platform.platform(),
    }


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def data_profile(settings) -> dict:
    """Token lengths (prompt + answer + eos) of the training examples every arm sees."""
    import statistics

    from taskexpert.bench.data import encoded_training_examples
    from taskexpert.bench.settings import model_dir
    from taskexpert.models.loading import load_tokenizer

    tokenizer = load_tokenizer({}, str(model_dir(settings)))
    examples = encoded_training_examples(tokenizer, settings)
    lengths = sorted(len(e.input_ids) for e in examples)
    answers = [sum(label != -100 for label in e.labels) for e in examples]
    return {
        "examples": len(lengths),
        "mean_tokens": statistics.mean(lengths),
        "min_tokens": lengths[0],
        "median_tokens": statistics.median(lengths),
        "max_tokens": lengths[-1],
        "mean_answer_tokens": statistics.mean(answers),
    }
