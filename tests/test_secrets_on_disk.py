"""Nothing secret on disk: a password in the Optuna storage URL (a real PostgreSQL server that needs it) and a key
pasted where a variable's name belongs reach no file, log or console; redaction hides secrets by whole key words
only, so swept values such as `peft.num_virtual_tokens` stay visible."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import uuid

import optuna
import pytest
from conftest import ROOT
from servers.postgres_server import PostgresServer, PostgresUnavailable

from taskexpert.utils.secrets import (
    REDACTED,
    RedactingFilter,
    env_override_problem,
    forget_secrets,
    is_secret_key,
    mask_patterns,
    move_secrets_to_environment,
    move_url_passwords_to_environment,
    redact,
    redact_text,
    remember_run_secrets,
    scrub,
)

PLANTED = f"PLANTED{uuid.uuid4().hex[:12]}"  # the database password: must appear in no file


@pytest.fixture(scope="module")
def postgres():
    try:
        server = PostgresServer(PLANTED)
    except PostgresUnavailable as error:
        pytest.skip(str(error))
    with server:
        yield server


def files_holding(root, secret: str) -> list[str]:
    return [str(path) for path in root.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]


def test_a_sweep_with_a_password_in_its_storage_url_writes_it_nowhere(postgres, tmp_path):
    command = [
        sys.executable, str(ROOT / "train.py"), "-m",
        "hydra/sweeper=taskexpert_optuna",
        f"hydra.sweeper.storage={postgres.url()}",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.pruner.name=none",
        "peft=prefix", "peft.num_virtual_tokens=choice(4,8)",  # the swept key: its values must stay visible
        "model=tiny_llama", "trainer=fast", "trainer.val_check_interval=1", "logger=wandb",
        "checkpoint.enabled=false", "eval.test=false",
        f"hydra.sweep.dir={tmp_path / 'sweep'}", f"paths.output_root={tmp_path}",
    ]  # fmt: skip
    result = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert PLANTED not in result.stdout + result.stderr

    # the study really lives in PostgreSQL, and each job reached it with the password (its pruning reports)
    (study_name,) = optuna.get_all_study_names(postgres.url())
    trials = optuna.load_study(study_name=study_name, storage=postgres.url()).trials
    assert sorted(trial.params["peft.num_virtual_tokens"] for trial in trials) == [4, 8]
    assert all(trial.intermediate_values for trial in trials)

    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    names = {path.name for path in written}
    assert {
        "multirun.yaml",
        "optimization_results.yaml",
        "overrides.yaml",
        "hydra.yaml",
        "hparams.yaml",
    } <= names
    wandb_runs = sorted(tmp_path.rglob("run-*.wandb"))
    assert len(wandb_runs) == 2  # W&B's offline files are among those searched
    assert files_holding(tmp_path, PLANTED) == []

    for trial in trials:  # W&B and the CSV log show each job's swept value and max_new_tokens, not <redacted>
        job_dir = tmp_path / "sweep" / str(trial.number)
        value = trial.params["peft.num_virtual_tokens"]
        hparams = (job_dir / "csv" / "hparams.yaml").read_text()
        assert f"num_virtual_tokens: {value}\n" in hparams and "max_new_tokens: 32\n" in hparams
        (wandb_run,) = job_dir.rglob("run-*.wandb")
        wandb_bytes = wandb_run.read_bytes()
        assert re.search(rb'"num_virtual_tokens":%d[,}]' % value, wandb_bytes)
        assert b'"max_new_tokens":32' in wandb_bytes and REDACTED.encode() not in wandb_bytes
    storage_line = f"storage: postgresql+psycopg://taskexpert:***@127.0.0.1:{postgres.port}/postgres"
    assert storage_line in (tmp_path / "sweep" / "optimization_results.yaml").read_text()


def test_a_key_pasted_as_a_variable_name_is_refused_before_anything_is_written(tmp_path):
    pasted = f"sk-proj-{uuid.uuid4().hex}"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "augment.py"),
            "teacher=openai",
            f"teacher.api_key_env={pasted}",
            f"hydra.run.dir={tmp_path / 'run'}",
            f"paths.output_root={tmp_path}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: teacher.api_key_env must be the NAME of an environment variable (e.g. OPENAI_API_KEY), not a "
        "value: export the value in a variable and pass teacher.api_key_env=THAT_VARIABLE (nothing was written)"
    ]
    assert pasted not in result.stdout + result.stderr
    assert files_holding(tmp_path, pasted) == []
    assert not (tmp_path / "run").exists()


def test_redaction_matches_whole_key_words_and_url_passwords():
    config = {
        "teacher": {
            "api_key": "k1",
            "api_key_env": "OPENAI_API_KEY",
            "base_url": "https://h/v1?token=k2&n=1",
        },
        "hub": {"hf_token": "k3", "authToken": "k4", "tokenizer": "gpt2", "password": None},
        "peft": {"num_virtual_tokens": 64},
        "eval": {"max_new_tokens": 32},
        "storage": "postgresql+psycopg://user:k5@db.example:5432/optuna",
        "urls": ["redis://:k6@cache:6379/0", "sqlite:////tmp/optuna.db"],
    }
    assert redact(config) == {
        "teacher": {
            "api_key": REDACTED,
            "api_key_env": "OPENAI_API_KEY",
            "base_url": "https://h/v1?token=***&n=1",
        },
        "hub": {"hf_token": REDACTED, "authToken": REDACTED, "tokenizer": "gpt2", "password": None},
        "peft": {"num_virtual_tokens": 64},
        "eval": {"max_new_tokens": 32},
        "storage": "postgresql+psycopg://user:***@db.example:5432/optuna",
        "urls": ["redis://:***@cache:6379/0", "sqlite:////tmp/optuna.db"],
    }
    assert [is_secret_key(key) for key in ("secret_key", "access_key_id", "credentials", "sort_key")] == [
        True,
        True,
        True,
        False,
    ]
    assert redact_text("from postgresql://u:k7@h/db at x") == "from postgresql://u:***@h/db at x"


def test_command_line_checks_before_hydra():
    assert env_override_problem("++teacher.api_key_env=MY_KEY") is None
    assert env_override_problem("teacher.api_key_env=null") is None
    assert env_override_problem("teacher.api_key_env='sk-abc'").startswith("teacher.api_key_env must be")
    assert env_override_problem("seed=sk-abc") is None  # only *_env keys hold variable names
    environ: dict[str, str] = {}
    moved = move_url_passwords_to_environment(
        ["train.py", "hydra.sweeper.storage=postgresql://u:p%40ss@h/db", "x=1"], environ
    )
    assert moved == [
        "train.py",
        "hydra.sweeper.storage=postgresql://u:${oc.env:TASKEXPERT_URL_PASSWORD_1}@h/db",
        "x=1",
    ]
    assert environ == {"TASKEXPERT_URL_PASSWORD_1": "p%40ss"}


@pytest.fixture
def no_remembered_secrets():
    forget_secrets()
    yield
    forget_secrets()


def test_secret_named_values_on_the_command_line_move_to_the_environment(no_remembered_secrets):
    environ: dict[str, str] = {}
    moved = move_secrets_to_environment(
        [
            "+teacher.api_key=sk-one",
            "++hub.hf_token='hf two'",
            "teacher.api_key_env=OPENAI_API_KEY",  # a variable's name: stays
            "peft.num_virtual_tokens=8",  # not a secret word: stays
            "+db.password=${oc.env:DB_PASSWORD}",  # already a reference: stays
            "~hub.token",
            "hub.token=null",
        ],
        environ,
    )
    assert moved == [
        "+teacher.api_key=${oc.env:TASKEXPERT_SECRET_1}",
        "++hub.hf_token=${oc.env:TASKEXPERT_SECRET_2}",
        "teacher.api_key_env=OPENAI_API_KEY",
        "peft.num_virtual_tokens=8",
        "+db.password=${oc.env:DB_PASSWORD}",
        "~hub.token",
        "hub.token=null",
    ]
    assert environ == {"TASKEXPERT_SECRET_1": "sk-one", "TASKEXPERT_SECRET_2": "hf two"}
    assert redact_text("server said: bad key sk-one") == "server said: bad key ***"  # remembered


def test_a_run_remembers_the_secrets_its_config_reaches(no_remembered_secrets):
    """A job started elsewhere (a SLURM node) finds the moved values in its environment; the variable named by
    a secret `*_env` key and URL passwords come from the config."""
    environ = {"TASKEXPERT_SECRET_1": "moved-value", "MY_KEY": "sk-from-env", "HOME": "/home/someone"}
    config = {
        "teacher": {"base_url": "http://u:url-pass@h/v1", "api_key_env": "MY_KEY", "model": "m"},
        "paths": {"home_env": "HOME"},  # not a secret's variable
    }
    remember_run_secrets(config, environ)
    echoed = "moved-value sk-from-env url-pass /home/someone m"
    assert redact_text(echoed) == "*** *** *** /home/someone m"


def test_credentials_are_masked_but_english_is_not():
    assert mask_patterns("Authorization: Bearer sk-abc123def") == "Authorization: Bearer ***"
    assert mask_patterns('{"authorization": "Basic dXNlcjpwYXNz="}') == '{"authorization": "Basic ***"}'
    assert mask_patterns("Basic dXNlcjpwYXNz") == "Basic ***"  # base64 of user:pass, letters only
    assert mask_patterns("Basic understanding of Bearer Bonds") == "Basic understanding of Bearer Bonds"
    assert scrub({"token_f1": "see https://h/x?api_key=k9&n=2", "n": 3}) == {
        "token_f1": "see https://h/x?api_key=***&n=2",  # data keys stay, values are masked
        "n": 3,
    }


def test_log_records_are_masked_arguments_and_traceback_included(no_remembered_secrets):
    remember_run_secrets({"hub": {"token": "hf-remembered"}}, {})
    try:
        raise RuntimeError("failed with hf-remembered")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "call to %s: %s", None, sys.exc_info())
    record.args = ("http://u:pw1234@h/v1", "Bearer sk-123456789")
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "call to http://u:***@h/v1: Bearer ***"
    assert "hf-remembered" not in record.exc_text and "failed with ***" in record.exc_text
