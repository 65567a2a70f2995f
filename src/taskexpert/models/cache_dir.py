"""Where prepared models live: `$TASKEXPERT_CACHE`, else `~/.cache/taskexpert`."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("TASKEXPERT_CACHE", Path.home() / ".cache" / "taskexpert"))


def prepared_dir(name: str, build: Callable[[Path], None]) -> Path:
    """Return the cached directory `name`, building it first with `build(tmp_dir)` if absent.

    The build writes into a temporary directory that is renamed into place, so a killed build
    never leaves a half-written model behind and concurrent jobs do not see a partial directory.
    """
    target = cache_root() / "models" / name
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}."))
    try:
        build(scratch)
        scratch.chmod(0o755)  # mkdtemp makes it private; the cache is meant to be shared
        try:
            scratch.rename(target)
        except OSError:  # another job finished first: keep theirs
            if not (target / "config.json").is_file():
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return target
