"""The study in its storage: where it lives, what it is called, how its trials count, recovery of interrupted ones."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from taskexpert.utils.filesystems import filesystem_type, is_network_filesystem
from taskexpert.utils.optuna_storage import is_journal, journal_url, open_optuna_storage
from taskexpert.utils.secrets import redact_text
from taskexpert.utils.sqlite_locks import DatabaseLockedError

from ._errors import SweepConfigError, SweepStorageLockedError
from ._liveness import current_owner, is_interrupted

log = logging.getLogger(__name__)

DEFAULT_DB_NAME = "optuna.db"
DEFAULT_JOURNAL_NAME = "optuna.journal"  # the default on a network filesystem, and `storage: journal`
JOURNAL = "journal"
FAIL_REASON_ATTR = "fail_reason"
ERROR_ATTR = "error"
RETRY_OF_ATTR = "retry_of"
INTERRUPTED = "interrupted"  # its sweeper stopped before the job ended
INVALID_CONFIG = "invalid_config"  # its job's config could not be composed; nothing ran
NOT_COUNTED = {INTERRUPTED, INVALID_CONFIG}  # failures that do not use up n_trials


def storage_url(storage: str | None, sweep_dir: Path) -> str:
    """The study's storage as one string the jobs open too. null: SQLite in the sweep dir, or on a network
    filesystem (NFS, Lustre, ...: SQLite's locks fail across machines) Optuna's journal file there; an existing
    file of either kind is kept, so a resumed study finds itself. `journal`: that journal file. SQLite and journal
    paths are made absolute, so jobs that change their working directory open the same file."""
    database, journal = sweep_dir / DEFAULT_DB_NAME, sweep_dir / DEFAULT_JOURNAL_NAME
    if not storage:
        on_network = is_network_filesystem(sweep_dir)
        if journal.exists() or (on_network and not database.exists()):
            if not journal.exists():
                log.info(
                    "%s is on a network filesystem (%s): the study is kept in Optuna's journal file %s "
                    "(SQLite's locks are unsafe across machines)",
                    sweep_dir,
                    filesystem_type(sweep_dir),
                    journal,
                )
            return journal_url(journal)
        if on_network:
            _warn_network_sqlite(database)
        return f"sqlite:///{database.resolve()}"
    if storage == JOURNAL:
        return journal_url(journal)
    if is_journal(storage):
        return journal_url(storage.removeprefix("journal://"))
    match = re.match(r"^(sqlite[^:]*:///)(.+)$", storage)
    if match and not match.group(2).startswith(("/", ":memory:")) and not match.group(2).startswith("file:"):
        storage = f"{match.group(1)}{Path(match.group(2)).resolve()}"
    if match and is_network_filesystem(Path(storage.split(":///", 1)[1]).parent):
        _warn_network_sqlite(Path(storage.split(":///", 1)[1]))
    return storage


def _warn_network_sqlite(path: Path) -> None:
    log.warning(
        "the Optuna storage %s is SQLite on a network filesystem (%s): jobs on several machines can lock it up or "
        "corrupt it; use hydra.sweeper.storage=journal or a PostgreSQL URL for such studies",
        path,
        filesystem_type(path.parent),
    )


def redacted(url: str) -> str:
    """The URL with its password hidden, for logs and result files."""
    return redact_text(url)


def default_study_name(sweep_dir: Path, job_name: str) -> str:
    return f"{job_name}_{sweep_dir.resolve().name}"


def open_storage(url: str, lock_timeout: float) -> optuna.storages.BaseStorage:
    try:
        return open_optuna_storage(url, lock_timeout)
    except DatabaseLockedError as error:
        raise SweepStorageLockedError(str(error)) from None
    except Exception as error:
        raise SweepConfigError(f"hydra.sweeper.storage: cannot open {redacted(url)}: {error}") from None


def load_or_create_study(
    storage: optuna.storages.BaseStorage,
    study_name: str,
    direction: str,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> optuna.Study:
    if direction not in ("minimize", "maximize"):
        raise SweepConfigError(f"hydra.sweeper.direction: expected minimize or maximize, got {direction!r}")
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction=direction,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    if study.direction.name.lower() != direction:
        raise SweepConfigError(
            f"hydra.sweeper.direction={direction}, but study {study_name!r} in this storage was created to "
            f"{study.direction.name.lower()}; keep its direction or choose another hydra.sweeper.study_name"
        )
    return study


@dataclass
class TrialCounts:
    complete: int = 0
    pruned: int = 0
    failed: int = 0  # failed jobs, not counting interrupted trials
    interrupted: int = 0  # interrupted trials and trials whose config could not be composed
    running: int = 0  # running under a live sweeper (this one or another sharing the study)
    waiting: int = 0  # enqueued, not yet asked

    @property
    def finished(self) -> int:
        """The trials that count toward n_trials."""
        return self.complete + self.pruned + self.failed

    def as_dict(self) -> dict[str, int]:
        return {
            "complete": self.complete,
            "pruned": self.pruned,
            "fail": self.failed,
            "interrupted": self.interrupted,
            "running": self.running,
            "waiting": self.waiting,
        }


def count_trials(study: optuna.Study) -> TrialCounts:
    counts = TrialCounts()
    for trial in study.get_trials(deepcopy=False):
        if trial.state == TrialState.COMPLETE:
            counts.complete += 1
        elif trial.state == TrialState.PRUNED:
            counts.pruned += 1
        elif trial.state == TrialState.FAIL:
            if trial.user_attrs.get(FAIL_REASON_ATTR) in NOT_COUNTED:
                counts.interrupted += 1
            else:
                counts.failed += 1
        elif trial.state == TrialState.WAITING:
            counts.waiting += 1
        elif trial.state == TrialState.RUNNING and "sweeper" in trial.user_attrs:
            counts.running += 1  # trials without an owner belong to other tools and do not count
    return counts


def mark_interrupted(study: optuna.Study, trial: FrozenTrial, requeue: bool) -> None:
    """FAIL the trial with reason "interrupted"; enqueue its parameters again, once, when `requeue`."""
    storage = study._storage
    try:
        storage.set_trial_user_attr(trial._trial_id, FAIL_REASON_ATTR, INTERRUPTED)
        storage.set_trial_user_attr(
            trial._trial_id, ERROR_ATTR, "interrupted: its sweeper stopped before the job ended"
        )
        if not storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
            return  # another sweeper got there first
    except optuna.exceptions.UpdateFinishedTrialError:
        return
    if requeue and RETRY_OF_ATTR not in trial.user_attrs and trial.params:
        study.enqueue_trial(trial.params, user_attrs={RETRY_OF_ATTR: trial.number})
        log.info("trial %d was interrupted; its parameters are queued to run again", trial.number)
    else:
        log.info("trial %d was interrupted", trial.number)


def recover_interrupted(study: optuna.Study, stale_after: float) -> int:
    """Fail the RUNNING trials whose sweeper is gone, and queue their parameters again. Returns how many."""
    me = current_owner()
    interrupted = [
        trial
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if is_interrupted(trial, stale_after, me)
    ]
    for trial in interrupted:
        mark_interrupted(study, trial, requeue=True)
    return len(interrupted)
