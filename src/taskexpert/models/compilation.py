"""`model.compile`: torch.compile of the transformer blocks, the one part of the step that repeats.

Each block runs the same code, so it compiles once per shape family: once for the first batch's shape, once more
for a dynamic sequence length when the second batch differs. That costs about two minutes on a CPU and pays back
over a run of more than a few dozen steps (BENCHMARKS.md, "Precision"); the adapter layers inside the blocks are
compiled with them, and the loss and optimizer stay eager.
"""

from __future__ import annotations

from typing import Any


def compile_backend(setting: Any) -> str | None:
    """`false`/null = off, `true` = inductor (C++ code generation on CPU), or a torch.compile backend name."""
    if setting is None or setting is False:
        return None
    if setting is True:
        return "inductor"
    return str(setting)


def compile_decoder_blocks(model, setting: Any) -> int:
    """Compile every decoder block of `model` (PEFT-wrapped or not) in place; returns how many (0 when off)."""
    backend = compile_backend(setting)
    if backend is None:
        return 0
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    blocks = base.get_decoder().layers
    for block in blocks:
        block.compile(backend=backend)
    return len(blocks)
