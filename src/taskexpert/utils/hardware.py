"""What the device can do fast: native bf16 matrix units on this CPU or GPU."""

from __future__ import annotations

from pathlib import Path

# CPU flags of native bf16 matrix instructions (Linux /proc/cpuinfo names). Without them torch runs bf16
# matmuls in a generic kernel, about 100x slower than fp32 on an AVX2 CPU (see BENCHMARKS.md).
NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path | None = None) -> set[str]:
    """The first processor's flags; empty where there is no /proc/cpuinfo (macOS, Windows)."""
    try:
        with (cpuinfo or CPUINFO).open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return set(value.split())
    except OSError:
        pass
    return set()


def resolve_device(device: str) -> str:
    """`auto` -> `cuda` when a GPU is visible, else `cpu`; Lightning's `gpu` is `cuda`; others unchanged."""
    if device == "gpu":
        return "cuda"
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def has_native_bf16(device: str, cpuinfo: Path | None = None) -> bool:
    """True on CUDA devices that support bf16 and on CPUs with AVX512-BF16 or AMX-BF16; False elsewhere
    (MPS and other accelerators included: fp32 is the safe choice where we cannot tell)."""
    device = resolve_device(device)
    if device.startswith("cuda"):
        import torch

        # without `including_emulation=False` torch also says yes for GPUs that only emulate bf16 (pre-Ampere)
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device == "cpu":
        return bool(cpu_flags(cpuinfo) & set(NATIVE_BF16_CPU_FLAGS))
    return False


def inference_dtype(requested: str | None, device: str = "cpu") -> str:
    """The weight dtype name of a model that only evaluates or generates: `auto` (or nothing) is bfloat16 where
    `device` has native bf16, else float32; an explicit dtype stays."""
    if requested and requested != "auto":
        return requested
    return "bfloat16" if has_native_bf16(device) else "float32"
