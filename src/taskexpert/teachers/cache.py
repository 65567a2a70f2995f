"""The teacher cache: every answer stored in SQLite the moment it arrives, so nothing is paid for twice.

Key: SHA-256 of the canonical JSON of (backend kind, model, cache tag, effective sampling parameters,
messages, sample index), with credentials masked (`storable_identity`), which is also what the `request`
column holds. Each response is committed on its own (WAL journal, synchronous=FULL), so a
run killed at any moment, even with SIGKILL, keeps every answer received before the kill. Several
processes may share one cache file; the first answer stored for a key wins and later writers read it
back, so concurrent runs agree. Failures are never cached: a re-run retries them.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskexpert.errors import ConfigError
from taskexpert.utils.secrets import redact

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,      -- sha256 of the canonical request identity
    model TEXT NOT NULL,       -- teacher model name, for humans and for pruning
    request TEXT NOT NULL,     -- the canonical request identity (JSON), for inspection
    response TEXT NOT NULL,    -- the generated text, as returned by the backend
    seconds REAL NOT NULL,     -- how long the call took
    created_at REAL NOT NULL,  -- unix time of storage
    finish_reason TEXT         -- why generation ended: stop | length (cut at the token limit) | NULL (not reported)
)
"""
_FINISH_COLUMN = "finish_reason"  # added to caches written before it existed
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


class ResponseCache:
    """A SQLite file of teacher responses. Safe to use from several threads and processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(
                str(self.path), timeout=60, isolation_level=None, check_same_thread=False
            )
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=FULL")
            self._connection.execute(_SCHEMA)
            columns = {row[1] for row in self._connection.execute("PRAGMA table_info(responses)")}
            if _FINISH_COLUMN not in columns:  # an older file: its answers keep a NULL (unknown) reason
                self._connection.execute(f"ALTER TABLE responses ADD COLUMN {_FINISH_COLUMN} TEXT")
            version = self._connection.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                self._connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise ConfigError(
                    f"{self.path}: teacher cache schema version {version}, this code reads {SCHEMA_VERSION}: "
                    "point cache.path at a new file"
                )
        except sqlite3.DatabaseError as error:
            raise ConfigError(
                f"{self.path}: cannot open the teacher cache ({error}): is it a SQLite file? "
                "Point cache.path elsewhere"
            ) from None
        self._lock = threading.Lock()

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedResponse]:
        """The cached responses among `keys`."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, CachedResponse] = {}
        with self._lock:
            for start in range(0, len(keys), _QUERY_CHUNK):
                chunk = keys[start : start + _QUERY_CHUNK]
                placeholders = ",".join("?" * len(chunk))
                rows = self._connection.execute(
                    f"SELECT key, response, seconds, finish_reason FROM responses WHERE key IN ({placeholders})",
                    chunk,
                )
                for key, text, seconds, finish_reason in rows:
                    found[key] = CachedResponse(text, seconds, finish_reason)
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
    ) -> str:
        """Store and commit one response; returns the text stored for `key` (the first writer's)."""
        with self._lock:
            self._connection.execute(
                "INSERT OR IGNORE INTO responses "
                "(key, model, request, response, seconds, created_at, finish_reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    model,
                    canonical_json(storable_identity(identity)),
                    text,
                    float(seconds),
                    time.time(),
                    finish_reason,
                ),
            )
            row = self._connection.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return row[0]

    def __len__(self) -> int:
        with self._lock:
            return self._connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
