"""The teacher cache: every answer stored in SQLite the moment it arrives, so nothing is paid for twice.

Key: SHA-256 of the canonical JSON of (backend kind, model, cache tag, effective sampling parameters,
messages, sample index), with credentials masked (`storable_identity`), which is also what the `request`
column holds. Each response is committed on its own (synchronous=FULL), so a run killed at any
moment, even with SIGKILL, keeps every answer received before the kill. Failures are never cached: a re-run
retries them.

`cache.mode` says how processes share it:
- `single`: one file, `cache.path`, for every process of one machine (WAL journal); the first answer stored for a
  key wins and later writers read it back, so concurrent runs agree;
- `sharded`: for jobs on several machines sharing a network filesystem, where one SQLite file written by all is
  unsafe: each job writes its own shard and reads all of them (teachers/cache_shards.py), and
  `python -m taskexpert.teachers.cache merge SHARD_DIR` folds the shards into `cache.path` afterwards;
- `auto` (the default): `sharded` when `cache.path` lies on a network filesystem (NFS, Lustre, GPFS, BeeGFS,
  CIFS, ...), else `single`.
A file locked by another process is retried with backoff for `cache.lock_timeout` seconds, then a one-line
error names it and says what to do.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from taskexpert.errors import ConfigError, TaskExpertError
from taskexpert.teachers.cache_file import (
    COLUMNS,
    LOCK_HINT,
    READ_COLUMNS,
    SCHEMA_VERSION,
    open_for_reading,
    open_for_writing,
)
from taskexpert.teachers.cache_shards import ShardReaders, default_shard_dir, merge_shards, shard_name
from taskexpert.utils.filesystems import filesystem_type, is_network_filesystem
from taskexpert.utils.secrets import redact
from taskexpert.utils.sqlite_locks import retry_while_locked

__all__ = ["SCHEMA_VERSION", "CachedResponse", "ResponseCache", "open_cache", "request_key"]

log = logging.getLogger(__name__)

T = TypeVar("T")
MODES = ("auto", "single", "sharded")
DEFAULT_LOCK_TIMEOUT_S = 60.0
_QUERY_CHUNK = 500  # SQLite limits the number of bound parameters per statement


def storable_identity(identity: dict[str, Any]) -> dict[str, Any]:
    """The identity without credentials: a password inside the server's URL, secret-named query parameters and
    the values of secret-named keys masked; the messages (the user's data) as they are. A credential does not
    change the answers, so a rotated password keeps its cache; the rest of the URL (scheme, host, port, path)
    stays and tells servers apart. Masking depends on the identity alone, never on what a process remembers, so
    keys are stable, and a key never hashes a password that a dictionary attack on the file could recover."""
    masked = redact({name: value for name, value in identity.items() if name != "messages"}, remembered=False)
    return {**masked, "messages": identity["messages"]} if "messages" in identity else masked


def request_key(identity: dict[str, Any]) -> str:
    """A stable key for a request identity (any JSON-serialisable dict); credentials do not count."""
    return hashlib.sha256(canonical_json(storable_identity(identity)).encode("utf-8")).hexdigest()


def canonical_json(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class CachedResponse:
    text: str
    seconds: float
    finish_reason: str | None = None
    prompt_tokens: int | None = None  # None: not reported by the backend, or stored before tokens were
    completion_tokens: int | None = None


def _cached(row: tuple) -> tuple[str, float, CachedResponse]:
    """(key, created_at, response) of one row of READ_COLUMNS."""
    key, text, seconds, created, finish, prompt_tokens, completion_tokens = row
    return key, created, CachedResponse(text, seconds, finish, prompt_tokens, completion_tokens)


class ResponseCache:
    """The teacher's SQLite cache (see the module docstring for the modes). Safe to use from several threads
    and processes."""

    def __init__(
        self,
        path: str | Path,
        mode: str = "auto",
        shard_dir: str | Path | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S,
        shard: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.lock_timeout = float(lock_timeout)
        self.mode = _resolve_mode(mode, self.path)
        self._merged: sqlite3.Connection | None = None  # sharded: the merged file, read only
        self._others: ShardReaders | None = None  # sharded: the other jobs' shards
        if self.mode == "single":
            on_network = is_network_filesystem(self.path.parent)
            if on_network:
                log.warning(
                    "%s is on a network filesystem (%s): one SQLite file written from several machines can "
                    "lock up or corrupt; use cache.mode=sharded (or auto) when jobs run on several nodes",
                    self.path,
                    filesystem_type(self.path.parent),
                )
            self.write_path = self.path
            self._connection = open_for_writing(
                self.path, "DELETE" if on_network else "WAL", self.lock_timeout
            )
        else:
            self.shard_dir = Path(shard_dir) if shard_dir else default_shard_dir(self.path)
            self.write_path = self.shard_dir / f"{shard or shard_name()}.sqlite"
            self._connection = open_for_writing(self.write_path, "DELETE", self.lock_timeout)
            self._others = ShardReaders(self.shard_dir, self.write_path)
        self._lock = threading.Lock()

    def _retrying(self, action: Callable[[], T]) -> T:
        return retry_while_locked(action, self.write_path, self.lock_timeout, LOCK_HINT, "the teacher cache")

    def _merged_file(self) -> sqlite3.Connection | None:
        """Sharded mode: the merged file, opened once it exists (a merge may create it while jobs run)."""
        if self._merged is None and self.path.is_file():
            try:
                self._merged = open_for_reading(self.path)
            except sqlite3.DatabaseError as error:
                log.debug("merged cache %s not readable now: %s", self.path, error)
        return self._merged

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedResponse]:
        """The cached responses among `keys`."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, CachedResponse] = {}
        with self._lock:
            for start in range(0, len(keys), _QUERY_CHUNK):
                chunk = keys[start : start + _QUERY_CHUNK]
                found.update(self._lookup(chunk))
        return found

    def _lookup(self, keys: list[str]) -> dict[str, CachedResponse]:
        placeholders = ",".join("?" * len(keys))
        query = f"SELECT {READ_COLUMNS} FROM responses WHERE key IN ({placeholders})"
        if self.mode == "single":
            rows = self._retrying(lambda: self._connection.execute(query, keys).fetchall())
            return {key: response for key, _, response in map(_cached, rows)}
        found: dict[str, CachedResponse] = {}
        merged = self._merged_file()
        if merged is not None:
            try:
                found = {key: response for key, _, response in map(_cached, merged.execute(query, keys))}
            except sqlite3.DatabaseError as error:  # being merged into right now: the shards still answer
                log.debug("merged cache %s skipped for now: %s", self.path, error)
        missing = [key for key in keys if key not in found]
        if missing:
            assert self._others is not None
            own = self._retrying(lambda: self._connection.execute(query, keys).fetchall())
            earliest: dict[str, tuple[float, CachedResponse]] = {}
            for key, created, response in map(_cached, own + self._others.rows(missing)):
                if key in found or (key in earliest and earliest[key][0] <= created):
                    continue
                earliest[key] = (created, response)
            found.update({key: response for key, (_, response) in earliest.items()})
        return found

    def get(self, key: str) -> CachedResponse | None:
        return self.get_many([key]).get(key)

    def put(
        self,
        key: str,
        model: str,
        identity: dict[str, Any],
        text: str,
        seconds: float,
        finish_reason: str | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
    ) -> str:
        """Store and commit one response with its token counts; returns the text stored for `key` (the first
        writer's)."""
        request = canonical_json(storable_identity(identity))
        with self._lock:
            self._retrying(
                lambda: self._connection.execute(
                    f"INSERT OR IGNORE INTO responses ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        model,
                        request,
                        text,
                        float(seconds),
                        time.time(),
                        finish_reason,
                        prompt_tokens,
                        completion_tokens,
                    ),
                )
            )
            row = self._retrying(
                lambda: self._connection.execute(
                    "SELECT response FROM responses WHERE key = ?", (key,)
                ).fetchone()
            )
        return row[0]

    def __len__(self) -> int:
        """Distinct keys stored (sharded: in the merged file and every shard)."""
        with self._lock:
            if self.mode == "single":
                return self._retrying(
                    lambda: self._connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
                )
            assert self._others is not None
            keys = {
                row[0]
                for row in self._retrying(
                    lambda: self._connection.execute("SELECT key FROM responses").fetchall()
                )
            }
            merged = self._merged_file()
            if merged is not None:
                with contextlib.suppress(sqlite3.DatabaseError):  # being merged into: the shards still count
                    keys.update(row[0] for row in merged.execute("SELECT key FROM responses"))
            return len(keys | self._others.keys())

    def close(self) -> None:
        with self._lock:
            self._connection.close()
            if self._merged is not None:
                self._merged.close()
            if self._others is not None:
                self._others.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_cache(cache_cfg: Any) -> ResponseCache:
    """The cache an `augment.yaml` `cache:` block describes (a bare path means the defaults)."""
    if isinstance(cache_cfg, (str, Path)):
        return ResponseCache(cache_cfg)
    return ResponseCache(
        cache_cfg["path"],
        mode=str(cache_cfg.get("mode") or "auto"),
        shard_dir=cache_cfg.get("shard_dir"),
        lock_timeout=float(cache_cfg.get("lock_timeout") or DEFAULT_LOCK_TIMEOUT_S),
    )


def _resolve_mode(mode: str, path: Path) -> str:
    if mode not in MODES:
        raise ConfigError(f"cache.mode={mode!r}: use auto, single or sharded")
    if mode != "auto":
        return mode
    if is_network_filesystem(path.parent):
        log.info(
            "%s is on a network filesystem (%s): this job writes its own cache shard (cache.mode=sharded); "
            "merge the shards when the jobs are done: python -m taskexpert.teachers.cache merge %s",
            path,
            filesystem_type(path.parent),
            default_shard_dir(path),
        )
        return "sharded"
    return "single"


def main(argv: list[str] | None = None) -> int:
    """`python -m taskexpert.teachers.cache merge SHARD_DIR [--into FILE]`: fold a sharded cache into one file."""
    parser = argparse.ArgumentParser(prog="python -m taskexpert.teachers.cache", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    merge = commands.add_parser(
        "merge", help="fold the shards of SHARD_DIR into one cache file, then remove them"
    )
    merge.add_argument("shard_dir", help="the shard directory (cache.shard_dir; default <cache>.shards/)")
    merge.add_argument(
        "--into", default=None, help="the merged file; default <cache>.sqlite beside SHARD_DIR"
    )
    merge.add_argument(
        "--lock-timeout", type=float, default=DEFAULT_LOCK_TIMEOUT_S, help="seconds to wait for a lock"
    )
    arguments = parser.parse_args(argv)
    try:
        result = merge_shards(arguments.shard_dir, arguments.into, arguments.lock_timeout)
    except TaskExpertError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"merged {result['shards']} shards into {result['into']}: {result['added']} new entries, "
        f"{result['entries']} in all"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
