"""The Optuna study's storage across processes and machines: a SQLite file held locked by another process is
retried, then the sweep ends in one line naming the file (no traceback); Optuna's journal file, the storage for
studies whose jobs share a network filesystem, runs a real Hydra multirun; a network filesystem found in the
mount table makes it the default."""

from __future__ import annotations

import time

import optuna
import pytest
from test_cache_shared_fs import LockHolder
from test_optuna_sweeper import run_app

from hydra_plugins.taskexpert_optuna_sweeper._study import storage_url
from taskexpert.training.pruning import OptunaPruningCallback
from taskexpert.utils import filesystems
from taskexpert.utils.optuna_storage import open_optuna_storage
from taskexpert.utils.sqlite_locks import DatabaseLockedError

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _attempts(message: str) -> int:
    return int(message.split(" attempts")[0].rsplit(" ", 1)[1])


def test_a_locked_study_file_is_retried_then_refused_in_one_line(tmp_path):
    path = tmp_path / "optuna.db"
    storage = open_optuna_storage(f"sqlite:///{path}", lock_timeout=1.5)
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    trial = study.ask()
    with LockHolder(path):
        started = time.monotonic()
        with pytest.raises(DatabaseLockedError) as caught:
            trial.set_user_attr("heartbeat", 1.0)
        waited = time.monotonic() - started
    message = str(caught.value)
    assert message.startswith(f"{path}: the Optuna storage is locked by another process (waited")
    assert "hydra.sweeper.storage=journal" in message and "\n" not in message
    assert _attempts(message) >= 2 and 1.5 <= waited < 8
    trial.set_user_attr("heartbeat", 2.0)  # unlocked: the same storage goes on
    study.tell(trial, 1.0)
    assert study.best_value == 1.0

    # a job's pruning callback opens the same way: the lock ends its report in the same one line
    with (
        LockHolder(path),
        pytest.raises(DatabaseLockedError, match="optuna.db: the Optuna storage is locked"),
    ):
        OptunaPruningCallback.from_config(
            {"storage": f"sqlite:///{path}", "study_name": "s", "trial_id": 1, "lock_timeout": 1.0}, "val/x"
        )


def test_a_sweep_on_a_locked_study_file_ends_in_one_line(tmp_path):
    sweep_dir = tmp_path / "locked"
    sweep_dir.mkdir()
    open_optuna_storage(f"sqlite:///{sweep_dir / 'optuna.db'}")  # the file and its tables exist
    with LockHolder(sweep_dir / "optuna.db"):
        result = run_app(
            "app.py",
            sweep_dir,
            "hydra.sweeper.lock_timeout=1.5",
            env={"HYDRA_FULL_ERROR": "0"},  # as a user runs it
            check=False,
        )
    assert result.returncode != 0
    assert f"{sweep_dir / 'optuna.db'}: the Optuna storage is locked by another process" in result.stderr
    assert "hydra.sweeper.storage=journal" in result.stderr
    assert "Traceback" not in result.stderr
    assert not [path for path in sweep_dir.iterdir() if path.name.isdigit()]  # no job ran


def test_a_study_in_a_journal_file_runs_its_trials(tmp_path):
    sweep_dir = tmp_path / "journal"
    run_app(
        "app.py",
        sweep_dir,
        "hydra.sweeper.storage=journal",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.n_jobs=3",
    )
    assert not (sweep_dir / "optuna.db").exists()
    storage = open_optuna_storage(storage_url("journal", sweep_dir))
    (name,) = optuna.get_all_study_names(storage)
    trials = optuna.load_study(study_name=name, storage=storage).trials
    assert [trial.state for trial in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert len({tuple(sorted(trial.params.items())) for trial in trials}) == 3


def test_the_pruning_callback_reports_to_a_journal_study(tmp_path):
    url = storage_url("journal", tmp_path)
    study = optuna.create_study(storage=open_optuna_storage(url), study_name="j", direction="maximize")
    trial = study.ask()
    callback = OptunaPruningCallback.from_config(
        {"storage": url, "study_name": "j", "trial_id": trial._trial_id}, "val/x"
    )
    callback._report(0.5, 10)
    assert study.trials[0].intermediate_values == {10: 0.5}


def test_on_a_network_filesystem_the_default_storage_is_a_journal_file(tmp_path, monkeypatch):
    """A written mount table stands in for /proc/mounts of a cluster node (nothing can mount NFS here)."""
    table = tmp_path / "mounts"
    table.write_text(f"/dev/vda / ext4 rw 0 0\nnas01:/export {tmp_path / 'nfs'} nfs4 rw 0 0\n")
    monkeypatch.setattr(filesystems, "MOUNTS_FILE", str(table))
    local, shared = tmp_path / "local", tmp_path / "nfs" / "sweep"
    assert storage_url(None, local) == f"sqlite:///{local.resolve() / 'optuna.db'}"
    assert storage_url(None, shared) == f"journal://{shared.resolve() / 'optuna.journal'}"
    shared.mkdir(parents=True)
    (shared / "optuna.db").touch()  # a study started before: resumed where it is
    assert storage_url(None, shared).startswith("sqlite:///")
    monkeypatch.chdir(tmp_path)
    assert (
        storage_url("journal://runs/study.journal", local)
        == f"journal://{tmp_path.resolve()}/runs/study.journal"
    )
