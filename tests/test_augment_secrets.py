"""The API key is used (the server sees it) but never written: not in configs, logs, W&B, cache or outputs."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from servers.augment_setup import ROOT, data_overrides, write_seed_file
from servers.fault_server import FaultServer

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
