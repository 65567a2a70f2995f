"""The machine's matmul speed: a large square fp32 (and bf16) matrix multiply on all cores."""

from __future__ import annotations

import time

import torch

from taskexpert.bench.settings import BenchSettings


def matmul_flops_per_second(size: int, dtype: torch.dtype, repeats: int = 5) -> float:
    left, right = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    left @ right  # warm-up: thread pool, kernel choice
    start = time.perf_counter()
    for _ in range(repeats):
        left @ right
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def _affordable_size(dtype: torch.dtype, wanted: int, budget_seconds: float = 3.0) -> int:
    """CPUs without native bf16 fall back to a slow generic kernel: shrink the matrix so that still finishes."""
    size = 256
    flops = matmul_flops_per_second(size, dtype, repeats=1)
    while size * 2 <= wanted and 2 * (size * 2) ** 3 * 6 / flops < budget_seconds:
        size *= 2
    return size


def run(settings: BenchSettings) -> dict:
    bf16_size = _affordable_size(torch.bfloat16, settings.matmul_size)
    return {
        "threads": torch.get_num_threads(),
        "fp32_size": settings.matmul_size,
        "fp32_flops": matmul_flops_per_second(settings.matmul_size, torch.float32),
        "bf16_size": bf16_size,
        "bf16_flops": matmul_flops_per_second(bf16_size, torch.bfloat16),
    }
