"""`augment.py` against our fault-injecting HTTP server: a run whose every teacher request fails writes its stats
and exits non-zero with one line, instead of an empty augmented.jsonl and exit 0."""

from __future__ import annotations

import json
import subprocess
import sys

from servers.augment_setup import INTERVENTIONS, ROOT, data_overrides, write_seed_file
from servers.fault_server import FaultServer

from taskexpert.augment.cli import teacher_failure_reason


def run_augment(server: FaultServer, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    seeds = write_seed_file(tmp_path, 12)
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "augment.py"),
            "teacher=openai",
            f"teacher.base_url={server.base_url}",
            "teacher.model=fault-model",
            "teacher.api_key_env=null",
            "teacher.max_retries=1",
            "teacher.backoff_base=0.01",
            "teacher.backoff_max=0.02",
            "method.max_seeds=3",
            "progress=false",
            "diversity.embeddings=false",
            f"cache.path={tmp_path / 'cache.sqlite'}",
            f"hydra.run.dir={tmp_path / 'run'}",
            *data_overrides(seeds),
            *extra,
        ],  # fmt: skip
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_teacher_request_failing_exits_non_zero_with_stats_written(tmp_path):
    with FaultServer(plan={name: ["always_500"] for name in INTERVENTIONS}) as server:
        result = run_augment(server, tmp_path)
    assert result.returncode == 3, result.stderr[-3000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    stats_path = tmp_path / "run" / "augment_stats.json"
    assert error_lines == [
        "error: kept no record: 3 of 3 teacher requests failed (http_500 x3); check the teacher "
        "(teacher.base_url, teacher.model, the server's log) and run again (answers already received are "
        f"cached); counts and failures in {stats_path}"
    ]
    stats = json.loads(stats_path.read_text())
    assert (stats["requested"], stats["failed"], stats["kept"]) == (3, 3, 0)
    assert (tmp_path / "run" / "augmented.jsonl").read_text() == ""
    assert server.actions["http_500"] >= 6  # each request was really tried, and retried


def test_a_run_that_kept_records_exits_zero_despite_some_failures(tmp_path):
    with FaultServer(plan={INTERVENTIONS[0]: ["always_500"]}) as server:
        result = run_augment(server, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    stats = json.loads((tmp_path / "run" / "augment_stats.json").read_text())
    assert stats["failed"] == 1 and stats["kept"] >= 1


def test_failure_reason_only_when_nothing_was_added_and_requests_failed(tmp_path):
    path = tmp_path / "augment_stats.json"
    assert teacher_failure_reason({"requested": 4, "failed": 0, "kept": 0}, path) is None  # filters only
    assert teacher_failure_reason({"requested": 4, "failed": 3, "kept": 1}, path) is None
    llm2llm = {"requested": 2, "failed": 2, "kept": 40, "added_total": 0}  # kept = its whole final dataset
    assert teacher_failure_reason(llm2llm, path).startswith("kept no record: 2 of 2 teacher requests failed;")
