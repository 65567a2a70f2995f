"""The teacher cache on a filesystem shared by several machines: per-job shards written by real processes at
once, read through by every job, merged by the command; network filesystems found in the mount table; a file
locked by another process retried, then refused in one line."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT
from test_cache import CountingBackend, request

from taskexpert.teachers.cache import ResponseCache, open_cache
from taskexpert.teachers.cache_shards import default_shard_dir, shard_files, shard_name
from taskexpert.teachers.sampling import Sampling
from taskexpert.teachers.teacher import Teacher
from taskexpert.utils import filesystems
from taskexpert.utils.filesystems import filesystem_type, is_network_filesystem
from taskexpert.utils.sqlite_locks import DatabaseLockedError

WORKERS, OWN_KEYS, SHARED_KEYS = 3, 30, 10
MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
nas01:/export/home /home nfs4 rw,vers=4.2 0 0
10.0.0.5@tcp:/scratch /scratch lustre rw 0 0
/dev/vdb /scratch/local\\040disk ext4 rw 0 0
"""


def _write_shard(cache_path: str, worker: int, started) -> None:
    """One job: its own keys and the keys every job asks, all in its own shard."""
    started.wait(30)  # every worker writes at the same time
    with ResponseCache(cache_path, mode="sharded", shard=f"job-{worker}") as cache:
        for index in range(OWN_KEYS):
            cache.put(f"own-{worker}-{index}", "m", {"worker": worker}, f"text {worker} {index}", 0.1)
            if index < SHARED_KEYS:
                cache.put(f"shared-{index}", "m", {}, f"shared {index} from {worker}", 0.1)


def _merge(shard_dir) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "taskexpert.teachers.cache", "merge", str(shard_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_jobs_write_their_own_shards_at_once_and_the_merge_loses_and_doubles_nothing(tmp_path):
    cache_path = tmp_path / "teacher_cache.sqlite"
    context = multiprocessing.get_context("spawn")
    started = context.Event()
    workers = [
        context.Process(target=_write_shard, args=(str(cache_path), w, started)) for w in range(WORKERS)
    ]
    for process in workers:
        process.start()
    started.set()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    shard_dir = default_shard_dir(cache_path)
    assert shard_dir == tmp_path / "teacher_cache.shards"
    assert [path.name for path in shard_files(shard_dir)] == [f"job-{w}.sqlite" for w in range(WORKERS)]
    for path in shard_files(shard_dir):  # rollback journal: no WAL shared memory across machines
        assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    expected = WORKERS * OWN_KEYS + SHARED_KEYS

    # before the merge, a job reads through every shard
    with ResponseCache(cache_path, mode="sharded", shard="reader") as reader:
        assert len(reader) == expected
        assert reader.get("own-2-29").text == "text 2 29"
        shared_before = {index: reader.get(f"shared-{index}").text for index in range(SHARED_KEYS)}

    result = _merge(shard_dir)
    assert result.returncode == 0, result.stderr
    assert f"into {cache_path}: {expected} new entries" in result.stdout
    assert shard_files(shard_dir) == []
    merged = sqlite3.connect(cache_path)
    keys = [row[0] for row in merged.execute("SELECT key FROM responses")]
    assert len(keys) == len(set(keys)) == expected
    assert set(keys) == {f"own-{w}-{i}" for w in range(WORKERS) for i in range(OWN_KEYS)} | {
        f"shared-{i}" for i in range(SHARED_KEYS)
    }
    # the merge keeps the answer reads through the shards gave: the earliest stored
    assert dict(merged.execute("SELECT key, response FROM responses WHERE key LIKE 'shared-%'")) == {
        f"shared-{index}": text for index, text in shared_before.items()
    }
    assert _merge(shard_dir).stdout.startswith("merged 0 shards")  # merging again adds nothing

    # a second run, sharded or not, answers every request from the cache
    with ResponseCache(cache_path, mode="sharded", shard="second") as second:
        assert len(second) == expected and second.get("own-0-0").text == "text 0 0"
    with ResponseCache(cache_path, mode="single") as single:
        assert len(single) == expected


def test_a_second_run_of_teachers_on_shards_makes_no_call(tmp_path):
    """Two jobs ask the teacher for overlapping requests; after the merge a third asks for all: every one a hit."""
    cache_path = tmp_path / "teacher_cache.sqlite"
    asked = [request(f"q{index}") for index in range(6)]
    for job, part in (("a", asked[:4]), ("b", asked[2:])):
        backend = CountingBackend()
        with ResponseCache(cache_path, mode="sharded", shard=job) as cache:
            Teacher(backend, cache, Sampling(seed=1)).generate(part)
        assert len(backend.calls) == (4 if job == "a" else 2)  # b finds a's answers in a's shard
    assert _merge(default_shard_dir(cache_path)).returncode == 0
    backend = CountingBackend()
    with ResponseCache(cache_path, mode="sharded", shard="c") as cache:
        teacher = Teacher(backend, cache, Sampling(seed=1))
        assert all(response.cached for response in teacher.generate(asked))
    assert backend.calls == [] and teacher.stats.cache_hits == 6


def test_shards_are_named_by_slurm_job_or_host_and_pid():
    assert shard_name({"SLURM_JOB_ID": "812", "SLURM_PROCID": "1"}) == "slurm-812-1"
    array = {"SLURM_JOB_ID": "900", "SLURM_ARRAY_JOB_ID": "899", "SLURM_ARRAY_TASK_ID": "7"}
    assert shard_name(array) == "slurm-899_7-0"
    assert shard_name({}).endswith(f"-{os.getpid()}")


def test_network_filesystems_are_found_in_the_mount_table(tmp_path, monkeypatch):
    """A written mount table stands in for /proc/mounts of a cluster node (nothing can mount NFS here)."""
    table = tmp_path / "mounts"
    table.write_text(MOUNTS)
    assert filesystem_type("/home/ana/outputs/teacher_cache.sqlite", table) == "nfs4"
    assert filesystem_type("/scratch/run", table) == "lustre"
    assert filesystem_type("/scratch/local disk/run", table) == "ext4"  # the deepest mount wins
    assert filesystem_type("/homework", table) == "ext4"
    assert is_network_filesystem("/scratch/x", table) and not is_network_filesystem("/tmp", table)
    assert filesystem_type("/tmp", tmp_path / "missing") is None
    assert not is_network_filesystem(tmp_path)  # this machine's real table: a local disk

    # cache.mode=auto writes a shard when the cache lies on a network filesystem
    nfs_table = tmp_path / "nfs_mounts"
    nfs_table.write_text(f"nas01:/export {tmp_path} nfs4 rw 0 0\n")
    monkeypatch.setattr(filesystems, "MOUNTS_FILE", str(nfs_table))
    with open_cache({"path": str(tmp_path / "c.sqlite"), "mode": "auto"}) as cache:
        assert cache.mode == "sharded" and cache.write_path.parent == tmp_path / "c.shards"
    with open_cache({"path": str(tmp_path / "d.sqlite"), "mode": "single"}) as cache:  # warned, no WAL
        assert cache.mode == "single"
    assert sqlite3.connect(tmp_path / "d.sqlite").execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    monkeypatch.setattr(filesystems, "MOUNTS_FILE", str(table))
    with open_cache({"path": str(tmp_path / "e.sqlite"), "mode": "auto"}) as cache:
        assert cache.mode == "single"


class LockHolder:
    """A second process that opens `path` and holds a write transaction (BEGIN EXCLUSIVE) until stopped."""

    def __init__(self, path) -> None:
        code = (
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout.readline().strip() == "locked"

    def __enter__(self) -> LockHolder:
        return self

    def __exit__(self, *exc_info) -> None:
        self.process.stdin.close()
        self.process.wait(10)


def test_a_locked_cache_is_retried_then_refused_in_one_line(tmp_path):
    path = tmp_path / "teacher_cache.sqlite"
    with ResponseCache(path, mode="single") as cache:
        cache.put("before", "m", {}, "stored", 0.0)
    cache = ResponseCache(path, mode="single", lock_timeout=1.5)
    with LockHolder(path):
        started = time.monotonic()
        with pytest.raises(DatabaseLockedError) as caught:
            cache.put("k", "m", {}, "text", 0.0)
        waited = time.monotonic() - started
    message = str(caught.value)
    assert message.startswith(f"{path}: the teacher cache is locked by another process (waited")
    assert "cache.mode=sharded" in message and "\n" not in message
    attempts = int(message.split(" attempts")[0].rsplit(" ", 1)[1])
    assert attempts >= 2 and 1.5 <= waited < 6
    assert cache.put("k", "m", {}, "text", 0.0) == "text"  # the lock is gone: the same cache works again
    cache.close()


def test_the_lock_released_during_the_retries_lets_the_write_through(tmp_path):
    path = tmp_path / "teacher_cache.sqlite"
    ResponseCache(path, mode="single").close()
    holder = LockHolder(path)
    threading.Timer(1.0, holder.process.stdin.close).start()  # the other process ends its transaction
    with ResponseCache(path, mode="single", lock_timeout=20) as cache:
        assert cache.put("k", "m", {}, "late", 0.0) == "late"
    holder.process.wait(10)


def test_the_merge_command_on_a_locked_file_prints_one_line(tmp_path):
    cache_path = tmp_path / "teacher_cache.sqlite"
    with ResponseCache(cache_path, mode="sharded", shard="job") as cache:
        cache.put("k", "m", {}, "text", 0.0)
    ResponseCache(cache_path, mode="single").close()
    with LockHolder(cache_path):
        result = subprocess.run(
            [sys.executable, "-m", "taskexpert.teachers.cache", "merge", str(default_shard_dir(cache_path))]
            + ["--lock-timeout", "1"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {cache_path}: the teacher cache is locked by another process")
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert len(shard_files(default_shard_dir(cache_path))) == 1  # nothing merged, nothing deleted


def test_augment_on_a_locked_cache_ends_in_one_line(tmp_path):
    """`augment.py` as a user runs it, its teacher a real HTTP server of ours, its cache file held locked by
    another process: the answer cannot be stored, the run stops with exit status 2 and one line, no traceback."""
    from servers.fault_server import FaultServer
    from test_augment_exit_status import run_augment

    cache_path = tmp_path / "cache.sqlite"
    ResponseCache(cache_path, mode="single").close()
    with FaultServer() as server, LockHolder(cache_path):
        result = run_augment(server, tmp_path, "cache.lock_timeout=1.5")
    assert result.returncode == 2, result.stderr[-3000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert error_lines[0].startswith(f"error: {cache_path}: the teacher cache is locked by another process")
    assert "Traceback" not in result.stderr
