"""Kill augment.py with SIGKILL mid-run, run it again: the same dataset, and no answered request asked twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from servers.augment_setup import ROOT, compose_augment_config, data_overrides, write_seed_file
from servers.fault_server import FaultServer

from taskexpert.augment.pipeline import augment
from taskexpert.teachers.cache import ResponseCache

N_TRAIN, N_PER_SEED = 10, 2  # 20 requests


def run_overrides(server: FaultServer, cache, run_dir, seeds) -> list[str]:
    return [
        "teacher=openai",
        f"teacher.base_url={server.base_url}",
        "teacher.model=fault-model",
        "teacher.api_key_env=null",
        "teacher.max_concurrency=2",
        "method.rewrite.n_per_seed=2",
        f"cache.path={cache}",
        f"hydra.run.dir={run_dir}",
        "progress=false",
        "diversity.embeddings=false",
        *data_overrides(seeds, train=N_TRAIN, val=1, test=1),
    ]


def start_augment(overrides: list[str]) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "augment.py"), *overrides],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    return output


def cached_requests(cache_path) -> set[tuple[str, int]]:
    """(user message, seed) of every request the cache holds."""
    with ResponseCache(cache_path) as cache:
        rows = cache._connection.execute("SELECT request FROM responses").fetchall()
    found = set()
    for (request,) in rows:
        identity = json.loads(request)
        user = "\n".join(content for role, content in identity["messages"] if role == "user")
        found.add((user, identity["params"]["seed"]))
    return found


def server_requests(server: FaultServer, start: int = 0) -> list[tuple[str, int]]:
    """(user message, seed) of every request the server received from index `start` on."""
    texts, entries = server.user_messages()[start:], server.requests[start:]
    return [(text, entry["body"]["seed"]) for text, entry in zip(texts, entries, strict=True)]


def test_sigkill_then_rerun_gives_the_same_dataset_without_repeated_calls(tmp_path):
    seeds = write_seed_file(tmp_path, N_TRAIN + 2)

    # the reference: one uninterrupted run (in this process) with its own cache
    with FaultServer() as reference_server:
        overrides = run_overrides(reference_server, tmp_path / "ref.sqlite", tmp_path / "ref", seeds)
        augment(
            compose_augment_config([o for o in overrides if not o.startswith("hydra.")], tmp_path / "ref")
        )
    reference = (tmp_path / "ref" / "augmented.jsonl").read_text()
    assert len(reference.splitlines()) == N_TRAIN * N_PER_SEED

    with FaultServer(delay=0.4) as server:
        cache = tmp_path / "cache.sqlite"
        process = start_augment(run_overrides(server, cache, tmp_path / "killed", seeds))
        deadline = time.monotonic() + 240
        while len(server.requests) < 7 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        answered = cached_requests(cache)
        assert 1 <= len(answered) < N_TRAIN * N_PER_SEED  # killed mid-run, with answers kept
        assert not (tmp_path / "killed" / "augmented.jsonl").exists()  # no half-written output
        asked_before_rerun = len(server.requests)

        finish(start_augment(run_overrides(server, cache, tmp_path / "rerun", seeds)))
        asked_in_rerun = server_requests(server, asked_before_rerun)

    assert (tmp_path / "rerun" / "augmented.jsonl").read_text() == reference
    assert not set(asked_in_rerun) & answered  # nothing already answered was asked again
    everything = set(server_requests(server))
    assert len(everything) == N_TRAIN * N_PER_SEED
    # at most the calls in flight at the kill were made twice (their answers never reached the cache)
    assert len(server.requests) - len(everything) <= 2
    stats = json.loads((tmp_path / "rerun" / "augment_stats.json").read_text())
    assert stats["cache_hits"] == len(answered) and stats["generated"] == len(asked_in_rerun)


LOCAL_TRAIN = 12  # x N_PER_SEED = 24 calls, six batches of four


def local_overrides(cache, run_dir, seeds, batch_size: int) -> list[str]:
    """The tiny local teacher under its grammar, in float32 (bfloat16's rounding depends on the batch's
    shape; float32's stays far below what would change a draw)."""
    return [
        "teacher.source=tiny",
        "teacher.tiny_architecture=llama",
        "teacher.model=tiny-llama",
        "teacher.dtype=float32",
        f"teacher.batch_size={batch_size}",
        "teacher.structured=schema",
        "method.rewrite.n_per_seed=2",
        "method.rewrite.max_new_tokens=24",
        f"cache.path={cache}",
        f"hydra.run.dir={run_dir}",
        "progress=false",
        "diversity.embeddings=false",
        *data_overrides(seeds, train=LOCAL_TRAIN, val=1, test=1),
    ]


def cached_answers(cache_path) -> dict[str, str]:
    with ResponseCache(cache_path) as cache:
        return dict(cache._connection.execute("SELECT key, response FROM responses").fetchall())


def answers_committed(cache_path) -> int:
    """How many answers another process has committed so far (read only: the writer is left alone)."""
    if not cache_path.exists():
        return 0
    connection = sqlite3.connect(f"file:{cache_path}?mode=ro", uri=True, timeout=5)
    try:
        return connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not there yet
        return 0
    finally:
        connection.close()


def test_a_local_teacher_killed_and_resumed_samples_what_an_uninterrupted_run_does(tmp_path):
    """The tiny local teacher, killed with SIGKILL after its first answers and resumed with a smaller batch
    (as after running out of memory): every answer, kept or rejected, is the one an uninterrupted run
    samples, although the calls left after the kill are batched differently. (With the same batch size the
    calls left would mostly form the batches they had before: the kill lands between two batches.)"""
    seeds = write_seed_file(tmp_path, LOCAL_TRAIN + 2)
    reference_cache = tmp_path / "ref.sqlite"
    overrides = local_overrides(reference_cache, tmp_path / "ref", seeds, batch_size=4)
    augment(compose_augment_config([o for o in overrides if not o.startswith("hydra.")], tmp_path / "ref"))
    total = LOCAL_TRAIN * N_PER_SEED
    assert len(cached_answers(reference_cache)) == total

    cache = tmp_path / "cache.sqlite"
    process = start_augment(local_overrides(cache, tmp_path / "killed", seeds, batch_size=4))
    deadline = time.monotonic() + 240
    while answers_committed(cache) == 0 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    answered = cached_answers(cache)
    assert 1 <= len(answered) < total  # killed mid-run, with answers kept
    assert not (tmp_path / "killed" / "augmented.jsonl").exists()

    finish(start_augment(local_overrides(cache, tmp_path / "rerun", seeds, batch_size=3)))
    assert cached_answers(cache) == cached_answers(reference_cache)
    for name in ("augmented.jsonl", "augment_rejected.jsonl"):
        assert (tmp_path / "rerun" / name).read_text() == (tmp_path / "ref" / name).read_text(), name
    stats = json.loads((tmp_path / "rerun" / "augment_stats.json").read_text())
    assert stats["cache_hits"] == len(answered) and stats["generated"] == total - len(answered)
