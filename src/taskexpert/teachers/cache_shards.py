"""The sharded teacher cache, for jobs on several machines sharing one network filesystem.

Each job writes only its own shard, `<shard dir>/<job>.sqlite` (rollback journal), named by its SLURM job (array
job and task, and the task rank) or by host and process id, so no two machines ever write one SQLite file. Every job
reads the merged file and all shards, so an answer one job stored is a hit for the others. Once the jobs are done,
`python -m taskexpert.teachers.cache merge SHARD_DIR` folds the shards into the merged file (one writer) and
removes them. A key stored by two jobs at once keeps its earliest answer, in reads and in the merge alike.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from taskexpert.errors import ConfigError
from taskexpert.teachers.cache_file import (
    COLUMNS,
    LOCK_HINT,
    READ_COLUMNS,
    open_for_reading,
    open_for_writing,
)
from taskexpert.utils.sqlite_locks import retry_while_locked

log = logging.getLogger(__name__)

SHARDS_SUFFIX = ".shards"  # teacher_cache.sqlite -> teacher_cache.shards/
SHARD_SUFFIX = ".sqlite"


def default_shard_dir(cache_path: str | Path) -> Path:
    path = Path(cache_path)
    return path.with_name(path.stem + SHARDS_SUFFIX)


def merged_path(shard_dir: str | Path) -> Path:
    """teacher_cache.shards/ -> teacher_cache.sqlite beside it (the default of `merge --into`)."""
    directory = Path(shard_dir)
    if not directory.name.endswith(SHARDS_SUFFIX) or directory.name == SHARDS_SUFFIX:
        raise ConfigError(
            f"{directory}: not named <cache>{SHARDS_SUFFIX}; say where to merge with --into FILE"
        )
    return directory.with_name(directory.name.removesuffix(SHARDS_SUFFIX) + SHARD_SUFFIX)


def shard_name(environ: Mapping[str, str] | None = None) -> str:
    """This job's shard: slurm-<array job>_<array task>-<rank>, slurm-<job>-<rank>, or <host>-<pid>."""
    environ = os.environ if environ is None else environ
    job = environ.get("SLURM_JOB_ID")
    if job:
        array_job, array_task = environ.get("SLURM_ARRAY_JOB_ID"), environ.get("SLURM_ARRAY_TASK_ID")
        if array_job and array_task:
            job = f"{array_job}_{array_task}"
        return f"slurm-{job}-{environ.get('SLURM_PROCID', '0')}"
    return f"{socket.gethostname()}-{os.getpid()}"


def shard_files(shard_dir: Path) -> list[Path]:
    return sorted(shard_dir.glob(f"*{SHARD_SUFFIX}")) if shard_dir.is_dir() else []


class ShardReaders:
    """Read-only connections to the other jobs' shards, found anew at each lookup (jobs start at any time). A
    shard that cannot be read right now (locked by its writer, half-visible over the network) is skipped for
    that lookup: its answers are a miss this time, never an error."""

    def __init__(self, shard_dir: Path, own: Path) -> None:
        self.shard_dir = shard_dir
        self.own = own.resolve()
        self._connections: dict[Path, sqlite3.Connection] = {}

    def rows(self, keys: list[str]) -> list[tuple]:
        """Rows of READ_COLUMNS (key, response, seconds, created_at, finish_reason, token counts) for `keys`,
        from every other shard."""
        found = []
        placeholders = ",".join("?" * len(keys))
        for path in shard_files(self.shard_dir):
            if path.resolve() == self.own:
                continue
            try:
                connection = self._connections.get(path) or self._connect(path)
                found += connection.execute(
                    f"SELECT {READ_COLUMNS} FROM responses WHERE key IN ({placeholders})",
                    keys,
                ).fetchall()
            except sqlite3.DatabaseError as error:
                log.debug("cache shard %s skipped for now: %s", path, error)
                self._drop(path)
        return found

    def keys(self) -> set[str]:
        found: set[str] = set()
        for path in shard_files(self.shard_dir):
            if path.resolve() == self.own:
                continue
            try:
                connection = self._connections.get(path) or self._connect(path)
                found.update(row[0] for row in connection.execute("SELECT key FROM responses"))
            except sqlite3.DatabaseError:
                self._drop(path)
        return found

    def _connect(self, path: Path) -> sqlite3.Connection:
        connection = open_for_reading(path)
        self._connections[path] = connection
        return connection

    def _drop(self, path: Path) -> None:
        connection = self._connections.pop(path, None)
        if connection is not None:
            connection.close()

    def close(self) -> None:
        for path in list(self._connections):
            self._drop(path)


def merge_shards(shard_dir: str | Path, into: str | Path | None = None, lock_timeout: float = 60.0) -> dict:
    """Fold every shard of `shard_dir` into the merged file in one transaction (rollback journal; an entry the
    merged file has stays, otherwise the earliest answer of the shards wins), then delete the shards. Run it when
    no job writes: a shard merged while its job still writes would lose the job's later answers."""
    directory = Path(shard_dir)
    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such shard directory (cache.shard_dir of the runs)")
    target = Path(into) if into is not None else merged_path(directory)
    shards = shard_files(directory)
    connection = open_for_writing(target, "DELETE", lock_timeout)
    try:
        before = connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        retry_while_locked(
            lambda: _merge(connection, shards), target, lock_timeout, LOCK_HINT, "the teacher cache"
        )
        after = connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    finally:
        connection.close()
    for shard in shards:  # only once their rows are committed: a merge killed before this loses nothing
        shard.unlink()
        shard.with_name(shard.name + "-journal").unlink(missing_ok=True)
    return {"into": str(target), "shards": len(shards), "added": after - before, "entries": after}


def _merge(connection: sqlite3.Connection, shards: list[Path]) -> None:
    connection.execute("CREATE TEMP TABLE IF NOT EXISTS incoming AS SELECT * FROM responses WHERE 0")
    connection.execute("CREATE UNIQUE INDEX IF NOT EXISTS temp.incoming_key ON incoming (key)")
    connection.execute("DELETE FROM incoming")
    for shard in shards:  # one at a time: SQLite attaches at most ten files
        connection.execute("ATTACH DATABASE ? AS shard", (str(shard),))
        try:
            connection.execute(
                f"INSERT INTO incoming ({COLUMNS}) SELECT {COLUMNS} FROM shard.responses WHERE true "
                "ON CONFLICT (key) DO UPDATE SET model = excluded.model, request = excluded.request, "
                "response = excluded.response, seconds = excluded.seconds, created_at = excluded.created_at, "
                "finish_reason = excluded.finish_reason, prompt_tokens = excluded.prompt_tokens, "
                "completion_tokens = excluded.completion_tokens "
                "WHERE excluded.created_at < incoming.created_at"
            )
        finally:
            connection.execute("DETACH DATABASE shard")
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(f"INSERT OR IGNORE INTO responses ({COLUMNS}) SELECT {COLUMNS} FROM incoming")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    finally:
        connection.execute("DELETE FROM incoming")
