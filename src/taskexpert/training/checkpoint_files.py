"""Checkpoints as files or directories: one process writes a file; FSDP with `state_dict_type: sharded` writes a
directory (Lightning's layout: a torch.distributed.checkpoint save, one `__<rank>_0.distcp` per process and
`.metadata`, plus `meta.pt` with everything but weights and optimizer states, written last).

A directory cannot be replaced in one rename, so it is written under a fresh name and swapped in: the old one is
first moved to `<name>.old`, which a resume falls back on if the swap was interrupted between the two renames.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

# Lightning's name for the non-tensor part of a sharded checkpoint (lightning_fabric.utilities.load)
METADATA_FILENAME = "meta.pt"


def is_sharded_checkpoint(path: Path) -> bool:
    return path.is_dir() and (path / METADATA_FILENAME).is_file()


def is_checkpoint(path: Path) -> bool:
    """A complete checkpoint: a file, or a sharded directory whose metadata (written last) is there."""
    return path.is_file() or is_sharded_checkpoint(path)


def metadata_file(path: Path) -> Path:
    """The file holding a checkpoint's loop state: the checkpoint itself, or a sharded one's `meta.pt`."""
    return path / METADATA_FILENAME if path.is_dir() else path


def aside(path: Path) -> Path:
    return path.with_name(path.name + ".old")


def remove_checkpoint(path: Path) -> None:
    """Remove a checkpoint file or directory; nothing there is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def replace_checkpoint(source: Path, target: Path) -> None:
    """Make `source` the checkpoint at `target`. A file replaces a file in one rename; otherwise `target` moves
    to `<target>.old` first and is removed once `source` is in place."""
    if source.is_file() and not target.is_dir():
        os.replace(source, target)
        return
    old = aside(target)
    remove_checkpoint(old)
    if target.exists():
        os.replace(target, old)
    os.replace(source, target)
    remove_checkpoint(old)


def resumable_checkpoint(path: Path) -> Path | None:
    """`path` when it holds a complete checkpoint; else the one an interrupted swap left at `<path>.old`."""
    for candidate in (path, aside(path)):
        if is_checkpoint(candidate):
            return candidate
    return None


def save_checkpoint_atomically(trainer: Any, path: Path) -> None:
    """`trainer.save_checkpoint(path)` such that `path` always holds a whole checkpoint: written under
    `<path>.partial` (every process writes its shard), then swapped in by the first process."""
    partial = path.with_name(path.name + ".partial")
    save_fresh(trainer, partial)
    if trainer.is_global_zero:
        replace_checkpoint(partial, path)
    trainer.strategy.barrier("checkpoint swapped in")


def save_fresh(trainer: Any, path: Path) -> None:
    """`trainer.save_checkpoint(path)` into an empty place: a sharded save writes into an existing directory
    file by file, so what a killed earlier save left there goes first."""
    if trainer.is_global_zero:
        remove_checkpoint(path)
    trainer.strategy.barrier("checkpoint place cleared")
    trainer.save_checkpoint(path)
