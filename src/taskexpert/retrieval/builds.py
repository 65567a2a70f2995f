"""Index builds on disk: one directory per fingerprint, committed by a rename, reused while it matches.

A build is written into a hidden scratch directory beside its target and renamed into place only
when complete (its manifest is written last, inside the scratch directory). So a build killed
half-way leaves the previous builds untouched and no directory that looks usable; readers never
see a partial index. Old builds beyond `keep` are removed, least recently used first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from taskexpert.utils.atomic import atomic_write_json

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
_STALE_SCRATCH_SECONDS = 24 * 3600  # a scratch directory this old belongs to a build that died


def fingerprint_of(settings: dict[str, Any]) -> str:
    """SHA-256 of JSON-serialisable settings, independent of key order."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def build_dir(root: Path, kind: str, fingerprint: str) -> Path:
    return Path(root) / f"{kind}-{fingerprint[:24]}"


def find_build(root: Path, kind: str, fingerprint: str) -> Path | None:
    """The complete build for this fingerprint, if there is one."""
    directory = build_dir(root, kind, fingerprint)
    manifest = read_manifest(directory)
    if manifest and manifest.get("fingerprint") == fingerprint and manifest.get("kind") == kind:
        return directory
    return None


def cached_build(
    root: Path,
    kind: str,
    fingerprint: str,
    build: Callable[[Path], dict[str, Any]],
    keep: int = 2,
) -> tuple[Path, bool]:
    """Return `(directory, built)`: the existing build for `fingerprint`, or a new one made by `build`.

    `build(scratch_dir)` writes the index files and returns facts for the manifest (counts, settings).
    """
    root = Path(root)
    existing = find_build(root, kind, fingerprint)
    if existing is not None:
        with contextlib.suppress(OSError):  # a read-only shared cache is fine to read from
            os.utime(existing / MANIFEST)  # marks it recently used, for pruning
        return existing, False
    root.mkdir(parents=True, exist_ok=True)
    target = build_dir(root, kind, fingerprint)
    scratch = Path(tempfile.mkdtemp(dir=root, prefix=f".{kind}-", suffix=".building"))
    try:
        started = time.perf_counter()
        facts = build(scratch)
        manifest = {
            "kind": kind,
            "fingerprint": fingerprint,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "build_seconds": round(time.perf_counter() - started, 3),
            **facts,
        }
        atomic_write_json(scratch / MANIFEST, manifest)
        scratch.chmod(0o755)  # mkdtemp makes it private; an index cache may be shared
        if target.exists() and find_build(root, kind, fingerprint) is None:
            shutil.rmtree(target)  # an incomplete directory under the target name: never usable
        try:
            scratch.rename(target)
        except OSError:  # another process committed the same build first: use theirs
            if find_build(root, kind, fingerprint) is None:
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    _prune(root, kind, keep, current=target)
    return target, True


def _prune(root: Path, kind: str, keep: int, current: Path) -> None:
    builds = [path for path in root.glob(f"{kind}-*") if path.is_dir() and path != current]
    builds.sort(key=lambda path: _mtime(path / MANIFEST), reverse=True)
    for old in builds[max(keep - 1, 0) :]:
        log.info("removing old %s index %s", kind, old)
        shutil.rmtree(old, ignore_errors=True)
    now = time.time()
    for scratch in root.glob(f".{kind}-*.building"):
        if now - _mtime(scratch) > _STALE_SCRATCH_SECONDS:
            shutil.rmtree(scratch, ignore_errors=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
