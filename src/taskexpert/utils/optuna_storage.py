"""The Optuna storage a sweeper and its jobs open from one string: a SQLAlchemy URL or `journal://PATH`.

- `sqlite:///...`: one SQLite file. Each storage call that finds it locked by another process (the sweeper, its
  heartbeats, the jobs' pruning reports) is started again with backoff for `lock_timeout` seconds, then ends in a
  one-line DatabaseLockedError naming the file and what to do. SQLite's locks are not to be trusted on a network
  filesystem shared by several machines;
- `journal://PATH` (`journal:///abs/optuna.journal`): Optuna's append-only journal file with its `O_EXCL` lock file (JournalFileOpenLock), which
  Optuna documents as safe on NFS v3 and later; for studies whose jobs run on several nodes of a shared filesystem;
- any other URL (`postgresql+psycopg://...`, `mysql://...`): a database server, as Optuna opens it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage

from taskexpert.utils.sqlite_locks import retry_while_locked

JOURNAL_SCHEME = (
    "journal://"  # followed by the file's path: journal:///abs/optuna.journal, journal://relative
)
DEFAULT_LOCK_TIMEOUT_S = 60.0
BUSY_TIMEOUT_S = 5.0  # SQLite's own wait inside one statement; the retries wait across whole calls
LOCK_HINT = (
    "another sweeper or job holds it; wait for it to finish, or when the study's jobs run on several machines "
    "of a shared filesystem use hydra.sweeper.storage=journal (a journal file safe on NFS) or a PostgreSQL URL"
)


def is_journal(url: str) -> bool:
    return url.startswith(JOURNAL_SCHEME)


def journal_url(path: str | Path) -> str:
    return f"{JOURNAL_SCHEME}{Path(path).resolve()}"


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///` URL (None for other URLs and in-memory databases)."""
    if not url.startswith("sqlite") or ":///" not in url:
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0]
    return None if not path or path == ":memory:" else Path(path)


def open_optuna_storage(
    url: str, lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S
) -> optuna.storages.BaseStorage:
    """The storage behind `url` (see the module docstring); creates a missing SQLite or journal file's folder."""
    if is_journal(url):
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

        path = Path(url[len(JOURNAL_SCHEME) :])
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
    path = sqlite_path(url)
    if path is None:
        return RDBStorage(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    engine_kwargs = {"connect_args": {"timeout": min(BUSY_TIMEOUT_S, lock_timeout / 4)}}
    return retry_while_locked(
        lambda: LockRetryingRDBStorage(url, engine_kwargs=engine_kwargs, lock_timeout=lock_timeout),
        path,
        lock_timeout,
        LOCK_HINT,
        "the Optuna storage",
    )


class LockRetryingRDBStorage(RDBStorage):
    """RDBStorage on SQLite whose calls are started again while the file is locked by another process (each
    failed call rolled back its transaction, so starting it again is safe). Only the outermost call retries."""

    def __init__(self, url: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S, **kwargs: Any) -> None:
        self.lock_timeout = lock_timeout
        self.lock_path = sqlite_path(url) or Path(url)
        self._depth = threading.local()
        super().__init__(url, **kwargs)

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state.pop("_depth", None)  # thread-local state does not pickle
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._depth = threading.local()


def _retrying(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: LockRetryingRDBStorage, *args: Any, **kwargs: Any) -> Any:
        depth = getattr(self._depth, "value", 0)
        if depth:  # inside another call of this storage: the outermost one retries
            return method(self, *args, **kwargs)
        self._depth.value = 1
        try:
            return retry_while_locked(
                lambda: method(self, *args, **kwargs), self.lock_path, self.lock_timeout, LOCK_HINT,
                "the Optuna storage",
            )  # fmt: skip
        finally:
            self._depth.value = 0

    return call


# every call that reaches the database: BaseStorage's interface and what Optuna's caching layer calls directly
_CALLS = sorted(
    {name for name in dir(optuna.storages.BaseStorage) if not name.startswith("_")}
    | {"_create_new_trial", "_get_best_trial_id", "_get_stale_trial_ids", "_get_trials", "_set_trial_param"}
    | {"record_heartbeat", "check_table_schema_compatibility"}
)
for _name in _CALLS:
    if callable(getattr(RDBStorage, _name, None)):
        setattr(LockRetryingRDBStorage, _name, _retrying(getattr(RDBStorage, _name)))
