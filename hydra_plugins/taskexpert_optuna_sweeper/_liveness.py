"""Which RUNNING trials still have a live sweeper behind them.

Every trial a sweeper asks carries its owner (host, boot id, pid, process start time) and a heartbeat that a
background thread refreshes while the trial's job runs. A RUNNING trial is interrupted when its owner is a
process of this machine that no longer exists, or when its heartbeat is older than `stale_after` seconds
(owners on other machines). Optuna's own heartbeat belongs to `Study.optimize`; this sweeper asks and tells.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

log = logging.getLogger(__name__)

OWNER_ATTR = "sweeper"
HEARTBEAT_ATTR = "heartbeat"


def _boot_id() -> str:
    path = Path("/proc/sys/kernel/random/boot_id")
    return path.read_text().strip() if path.is_file() else ""


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux); tells a pid apart from its reuse."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def current_owner() -> dict[str, Any]:
    pid = os.getpid()
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": pid, "start": _start_ticks(pid)}


def _same_machine(owner: dict[str, Any], me: dict[str, Any]) -> bool:
    return owner.get("host") == me["host"] and owner.get("boot", "") == me["boot"]


def _process_alive(owner: dict[str, Any]) -> bool:
    pid = int(owner.get("pid", -1))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        pass
    start = owner.get("start")
    return start is None or _start_ticks(pid) in (None, start)


def is_interrupted(trial: FrozenTrial, stale_after: float, me: dict[str, Any] | None = None) -> bool:
    """True for a RUNNING trial whose sweeper is gone. Trials without an owner belong to someone else."""
    owner = trial.user_attrs.get(OWNER_ATTR)
    if trial.state != optuna.trial.TrialState.RUNNING or not isinstance(owner, dict):
        return False
    me = me or current_owner()
    if owner.get("pid") == me["pid"] and _same_machine(owner, me) and owner.get("start") == me["start"]:
        return False  # ours and in flight
    if _same_machine(owner, me):
        return not _process_alive(owner)
    heartbeat = trial.user_attrs.get(HEARTBEAT_ATTR)
    return not isinstance(heartbeat, (int, float)) or time.time() - heartbeat > stale_after


class Heartbeat:
    """Refreshes the heartbeat of this sweeper's in-flight trials every `interval` seconds, in a thread."""

    def __init__(self, storage: optuna.storages.BaseStorage, interval: float) -> None:
        self._storage, self._interval = storage, interval
        self._trial_ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="optuna-sweeper-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def track(self, trial_ids: list[int]) -> None:
        with self._lock:
            self._trial_ids = set(trial_ids)
        self.beat()

    def beat(self) -> None:
        with self._lock:
            trial_ids = sorted(self._trial_ids)
        now = time.time()
        for trial_id in trial_ids:
            try:
                self._storage.set_trial_user_attr(trial_id, HEARTBEAT_ATTR, now)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # told meanwhile
            except Exception as error:  # a busy database must not end the sweep; the next beat retries
                log.warning("heartbeat of trial id %s not recorded: %s", trial_id, error)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.beat()
