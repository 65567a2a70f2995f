"""One SQLite file of the teacher cache: its table, and how it is opened for writing or for reading only.

Journal modes: WAL on a local disk (readers never wait for the writer); the rollback journal (`DELETE`) on a
network filesystem or for a per-job shard, since WAL's shared memory does not work across machines.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from taskexpert.errors import ConfigError
from taskexpert.utils.sqlite_locks import retry_while_locked

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,      -- sha256 of the canonical request identity
    model TEXT NOT NULL,       -- teacher model name, for humans and for pruning
    request TEXT NOT NULL,     -- the canonical request identity (JSON), for inspection
    response TEXT NOT NULL,    -- the generated text, as returned by the backend
    seconds REAL NOT NULL,     -- how long the call took
    created_at REAL NOT NULL,  -- unix time of storage
    finish_reason TEXT,        -- why generation ended: stop | length (cut at the token limit) | NULL (not reported)
    prompt_tokens INTEGER,     -- tokens the teacher read for this answer | NULL (not reported)
    completion_tokens INTEGER  -- tokens it wrote | NULL (not reported)
)
"""
COLUMNS = (
    "key, model, request, response, seconds, created_at, finish_reason, prompt_tokens, completion_tokens"
)
READ_COLUMNS = "key, response, seconds, created_at, finish_reason, prompt_tokens, completion_tokens"
FINISH_COLUMN = "finish_reason"  # added to caches written before it existed
ADDED_COLUMNS = {FINISH_COLUMN: "TEXT", "prompt_tokens": "INTEGER", "completion_tokens": "INTEGER"}
BUSY_TIMEOUT_S = 2.0  # SQLite's own wait inside one statement; retry_while_locked waits across attempts
READ_TIMEOUT_S = 1.0  # a shard being written by another job: a short wait, then it is skipped for this lookup
LOCK_HINT = (
    "another run holds it; wait for it to end, give this run its own file (cache.path=...), or on a "
    "filesystem shared by several machines use cache.mode=sharded"
)


def open_for_writing(path: Path, journal_mode: str, lock_timeout: float) -> sqlite3.Connection:
    """A connection to `path` (created with its table when new) in autocommit mode: each statement commits."""

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(
            str(path),
            timeout=min(BUSY_TIMEOUT_S, lock_timeout / 4),  # several attempts fit in lock_timeout
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            connection.execute(f"PRAGMA journal_mode={journal_mode}")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute(SCHEMA)
            add_missing_columns(connection)
            check_version(connection, path, writable=True)
        except BaseException:
            connection.close()
            raise
        return connection

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return retry_while_locked(connect, path, lock_timeout, LOCK_HINT, "the teacher cache")
    except sqlite3.DatabaseError as error:
        raise ConfigError(
            f"{path}: cannot open the teacher cache ({error}): is it a SQLite file? Point cache.path elsewhere"
        ) from None


def open_for_reading(path: Path) -> sqlite3.Connection:
    """A read-only connection (another job's shard, or the merged file in sharded mode)."""
    connection = sqlite3.connect(
        f"file:{path.resolve()}?mode=ro", uri=True, timeout=READ_TIMEOUT_S, check_same_thread=False
    )
    try:
        check_version(connection, path, writable=False)
    except BaseException:
        connection.close()
        raise
    return connection


def add_missing_columns(connection: sqlite3.Connection) -> None:
    """An older file gets the columns added since (finish reason, token counts); its answers keep NULL there
    (not known)."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(responses)")}
    for name, kind in ADDED_COLUMNS.items():
        if name not in columns:
            connection.execute(f"ALTER TABLE responses ADD COLUMN {name} {kind}")


def check_version(connection: sqlite3.Connection, path: Path, writable: bool) -> None:
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version == 0 and writable:
        connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    elif version not in (0, SCHEMA_VERSION):
        raise ConfigError(
            f"{path}: teacher cache schema version {version}, this code reads {SCHEMA_VERSION}: "
            "point cache.path at a new file"
        )
