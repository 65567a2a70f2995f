"""A SQLite file locked by another process: wait with backoff, then one line naming the file and what to do.

SQLite's own busy timeout waits inside one statement; a transaction that still finds the file locked fails with
`database is locked`. Callers wrap each whole operation (a statement, a transaction, an Optuna storage call) in
`retry_while_locked`, which starts it again after a growing pause until `timeout` seconds have passed.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from taskexpert.errors import TaskExpertError

log = logging.getLogger(__name__)

T = TypeVar("T")
FIRST_PAUSE_S = 0.05  # the first wait after a locked attempt; doubled after each, up to MAX_PAUSE_S
MAX_PAUSE_S = 2.0
LOCK_MESSAGES = ("database is locked", "database table is locked", "database schema is locked")


class DatabaseLockedError(TaskExpertError):
    """A SQLite file stayed locked by another process for longer than the configured wait."""


def is_locked_error(error: BaseException | None) -> bool:
    """True for SQLite's lock errors, also when wrapped (SQLAlchemy, Optuna keep the cause)."""
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, sqlite3.OperationalError) and any(m in str(error) for m in LOCK_MESSAGES):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def retry_while_locked(
    action: Callable[[], T], path: str | Path, timeout: float, what_to_do: str, what: str = "the database"
) -> T:
    """`action()`, started again while it fails because `path` is locked; after `timeout` seconds a
    DatabaseLockedError: `<path>: <what> is locked by another process (waited N s, M attempts): <what_to_do>`."""
    started = time.monotonic()
    pause = FIRST_PAUSE_S
    attempts = 0
    while True:
        attempts += 1
        try:
            return action()
        except Exception as error:
            if not is_locked_error(error):
                raise
            waited = time.monotonic() - started
            if waited >= timeout:
                raise DatabaseLockedError(
                    f"{path}: {what} is locked by another process (waited {waited:.1f} s, {attempts} attempts): "
                    f"{what_to_do}"
                ) from None
            if attempts == 1:
                log.info("%s is locked by another process: retrying for up to %.0f s", path, timeout)
            time.sleep(min(pause, max(timeout - waited, 0.0)))
            pause = min(pause * 2, MAX_PAUSE_S)
