"""Secrets are used (the server sees them) but never written: not in configs, logs, W&B, cache or outputs."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

from servers.augment_setup import ROOT, data_overrides, write_seed_file
from servers.fault_server import FaultServer

from taskexpert.teachers.cache import request_key

KEY_ENV = "TASKEXPERT_TEST_SECRET_KEY"


def test_the_api_key_appears_in_no_file(tmp_path):
    secret = f"sk-secret-{uuid.uuid4().hex}"
    seeds = write_seed_file(tmp_path, 12)
    run_dir = tmp_path / "run"
    with FaultServer(plan={"Zorvane": ["http_500"]}) as server:
        process = subprocess.run(
            [
                sys.executable,
                str(ROOT / "augment.py"),
                "teacher=openai",
                f"teacher.base_url={server.base_url}",
                "teacher.model=secret-model",
                f"teacher.api_key_env={KEY_ENV}",
                "teacher.backoff_base=0.05",
                "method.max_seeds=3",
                f"cache.path={tmp_path / 'cache' / 'teacher_cache.sqlite'}",
                f"hydra.run.dir={run_dir}",
                "wandb.enabled=true",
                "wandb.mode=offline",
                "diversity.embeddings=false",
                *data_overrides(seeds),
            ],
            cwd=ROOT,
            env={**os.environ, KEY_ENV: secret, "HF_HUB_OFFLINE": "1", "WANDB_SILENT": "true"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        seen = {entry["authorization"] for entry in server.requests}
    assert process.returncode == 0, process.stderr[-3000:]
    assert seen == {f"Bearer {secret}"}  # the key was really used

    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    names = {path.name for path in written}
    assert {
        "augmented.jsonl",
        "augment_stats.json",
        "config.yaml",
        "augment.log",
        "teacher_cache.sqlite",
    } <= names
    assert any("wandb" in path.parts for path in written)  # W&B files are among those checked
    leaking = [str(path) for path in written if secret.encode() in path.read_bytes()]
    assert leaking == []
    assert secret not in process.stdout and secret not in process.stderr


# Planted secrets of the end-to-end test: each must reach the server (or the config) and no file.
URL_PASSWORD = f"urlpw{uuid.uuid4().hex[:16]}"  # inside teacher.base_url
ENV_KEY = f"sk-envkey-{uuid.uuid4().hex}"  # the value of the variable named by teacher.api_key_env
CLI_SECRET = f"clitoken{uuid.uuid4().hex[:16]}"  # the value of a secret-named key given on the command line
BASIC = base64.b64encode(
    f"user:{URL_PASSWORD}".encode()
).decode()  # what the client sends for the URL's password
PLANTED = (URL_PASSWORD, ENV_KEY, CLI_SECRET, BASIC)


def _run(script: str, arguments: list[str], cwd: Path) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        KEY_ENV: ENV_KEY,
        "HF_HUB_OFFLINE": "1",
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
    }
    process = subprocess.run(
        [sys.executable, str(ROOT / script), *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    return process


def _augment(tmp_path: Path, base_url: str, name: str, seeds: Path) -> subprocess.CompletedProcess:
    return _run(
        "augment.py",
        [
            "teacher=openai",
            f"teacher.base_url={base_url}",
            "teacher.model=secret-model",
            f"teacher.api_key_env={KEY_ENV}",
            "teacher.backoff_base=0.05",
            "method.max_seeds=3",
            f"cache.path={tmp_path / 'cache' / 'teacher_cache.sqlite'}",
            f"hydra.run.dir={tmp_path / name}",
            "wandb.enabled=true",
            "wandb.mode=offline",
            f"+wandb.api_key={CLI_SECRET}",
            "diversity.embeddings=false",
            "progress=false",
            *data_overrides(seeds),
        ],
        tmp_path,
    )


def test_planted_secrets_reach_no_file_cache_row_or_wandb_run(tmp_path):
    """A password in teacher.base_url, the API key from the environment and a secret-named key on the command
    line: augment.py against a server that echoes credentials in its error bodies, then train.py with W&B
    offline. Every file under the run directories, the cache's bytes and rows, and W&B's offline files are
    searched for each planted string."""
    seeds = write_seed_file(tmp_path, 12)
    with FaultServer(plan={"Zorvane": ["echo_credentials"] * 2, "Kelmane": ["http_500"]}) as server:
        with_password = server.base_url.replace("http://", f"http://user:{URL_PASSWORD}@")
        first = _augment(tmp_path, with_password, "augment_password", seeds)
        second = _augment(tmp_path, server.base_url, "augment_key", seeds)  # the API key goes as Bearer
        seen = {entry["authorization"] for entry in server.requests}
        echoed = server.actions["echo_credentials"]
    assert seen == {f"Basic {BASIC}", f"Bearer {ENV_KEY}"}  # both secrets were really sent
    assert echoed == 2  # each run's Zorvane call failed with its credentials echoed

    train = _run(
        "train.py",
        [
            "model=tiny_llama",
            "trainer=fast",
            "logger=wandb",
            "checkpoint.enabled=false",
            f"+teacher.base_url={with_password}",
            f"+teacher.api_key={CLI_SECRET}",
            f"+teacher.api_key_env={KEY_ENV}",
            f"hydra.run.dir={tmp_path / 'train'}",
            f"paths.output_root={tmp_path}",
        ],
        tmp_path,
    )

    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    names = {path.name for path in written}
    assert {
        "augment_stats.json",
        "augmented.jsonl",
        "augment.log",
        "teacher_cache.sqlite",
        "config.yaml",
        "overrides.yaml",
        "hydra.yaml",
        "metrics.json",
        "splits.json",
        "predictions.jsonl",
    } <= names
    assert len(list(tmp_path.rglob("run-*.wandb"))) == 3  # W&B's offline runs are among the files searched
    leaks = [f"{secret} in {p}" for secret in PLANTED for p in written if secret.encode() in p.read_bytes()]
    assert not leaks, "\n".join(leaks)
    for process in (first, second, train):
        assert not any(secret in process.stdout + process.stderr for secret in PLANTED)

    with sqlite3.connect(tmp_path / "cache" / "teacher_cache.sqlite") as connection:
        rows = connection.execute("SELECT * FROM responses").fetchall()
    cells = [str(cell) for row in rows for cell in row]
    assert rows and not [cell for cell in cells if any(secret in cell for secret in PLANTED)]
    assert any(f"user:***@127.0.0.1:{server._server.server_port}" in cell for cell in cells)

    for run, scheme in (("augment_password", "Basic"), ("augment_key", "Bearer")):  # each echo, masked
        stats = json.loads((tmp_path / run / "augment_stats.json").read_text())
        (failure,) = [item for item in stats["failures"] if item["reason"].endswith("http_401")]
        assert f"invalid credentials: Authorization: {scheme} ***" in failure["detail"]
    overrides = (tmp_path / "train" / ".hydra" / "overrides.yaml").read_text()
    assert "+teacher.api_key=${oc.env:" in overrides  # the key is there by reference only


def test_the_cache_key_tells_servers_apart_but_not_passwords():
    """The password is a credential, not part of what answers: a rotated password keeps the cache's answers,
    while another host, port or path is another server (and another key)."""
    request = {"kind": "openai", "model": "m", "messages": [["user", "hi"]], "sample_index": 0}

    def key(base_url: str) -> str:
        return request_key({**request, "base_url": base_url})

    assert key("http://u:first@h:8000/v1") == key("http://u:second@h:8000/v1")
    assert key("http://u:first@h:8000/v1") != key("http://u:first@h:8001/v1")
    assert key("http://u:first@h:8000/v1") != key("http://u:first@other:8000/v1")
    assert key("http://u:first@h:8000/v1") != key("http://h:8000/v1")
    assert key("http://h:8000/v1") == request_key({**request, "base_url": "http://h:8000/v1"})  # unchanged
