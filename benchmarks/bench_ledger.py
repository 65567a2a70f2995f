"""What the teacher ledger costs per call: the same requests through `Teacher.generate` with this checkout's
ledger (token counts from the server's `usage`, kept in the cache; pricing; budgets) and with the code just
before the ledger existed, measured in one run, alternating, each in its own process.

    PYTHONPATH=src:. .venv/bin/python benchmarks/bench_ledger.py [--items 400] [--repeats 3] [--before REV]

Every request goes the real way: OpenAI client -> HTTP -> our server (tests/servers/fault_server.py, stdlib,
127.0.0.1, no delay, so the teacher's own bookkeeping is what is timed) -> SQLite cache. Measured per workload:
paid calls (a fresh cache), and the cached re-run (every answer from the cache). The budget rows use this
checkout only: a call cap is exact and costs nothing; a token or cost cap sends calls in groups of
`BUDGET_GROUP`, which caps concurrency, so they are timed against a server with a delay as well.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEFORE_LEDGER = "5d999e1^"  # the commit before the ledger was added


def child(items: int, delay: float, budget: str, scratch: Path) -> dict[str, float]:
    """Run in a process whose `taskexpert` is the code under test; print seconds per call."""
    sys.path.insert(0, str(ROOT / "tests"))
    from servers.fault_server import FaultServer

    from taskexpert.teachers.backends.openai_compatible import OpenAICompatibleBackend
    from taskexpert.teachers.cache import ResponseCache
    from taskexpert.teachers.sampling import Sampling
    from taskexpert.teachers.teacher import Teacher
    from taskexpert.teachers.types import TeacherRequest

    def teacher_for(server, path: Path) -> Teacher:
        backend = OpenAICompatibleBackend(
            model="bench-model", base_url=server.base_url, api_key_env=None, max_concurrency=16, timeout=30
        )
        extra = {}
        if budget != "none":
            from taskexpert.teachers.ledger import Budget, Price

            extra["price"] = Price(0.15, 0.6)
            extra["budget"] = Budget(max_calls=10**9) if budget == "calls" else Budget(max_tokens=10**12)
        return Teacher(backend, ResponseCache(path), Sampling(), **extra)

    requests = [
        TeacherRequest.chat(
            [("user", f"Rewrite question {index}: does drug {index % 37} help?")], sample_index=0
        )
        for index in range(items + 1)
    ]
    with FaultServer(delay=delay, lifetime=3600) as server:
        path = scratch / f"{os.getpid()}.sqlite"
        teacher = teacher_for(server, path)
        teacher.generate(requests[:1])  # warm-up: client, connection, cache file
        started = time.perf_counter()
        paid = teacher.generate(requests[1:])
        paid_seconds = time.perf_counter() - started
        teacher.cache.close()
        assert all(response.text is not None and not response.cached for response in paid)
        teacher = teacher_for(server, path)
        started = time.perf_counter()
        cached = teacher.generate(requests[1:])
        cached_seconds = time.perf_counter() - started
        teacher.cache.close()
        assert all(response.cached for response in cached)
        assert len(server.requests) == items + 1, "the cached re-run must not call the server"
    return {
        "paid_ms_per_call": 1000 * paid_seconds / items,
        "cached_ms_per_call": 1000 * cached_seconds / items,
    }


def export_before(revision: str, into: Path) -> Path:
    """The package as it was at `revision`, extracted from git (the checkout is not touched)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "src"], check=True, capture_output=True
    ).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def run_child(source: Path, items: int, delay: float, budget: str, scratch: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{source}:{ROOT}", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, __file__, "--child", "--items", str(items), "--delay", str(delay)]
    command += ["--budget", budget, "--scratch", str(scratch)]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=400, help="requests per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs per code version (median)")
    parser.add_argument("--before", default=BEFORE_LEDGER, help="git revision of the code without the ledger")
    parser.add_argument("--delay", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--budget", default="none", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(child(arguments.items, arguments.delay, arguments.budget, Path(arguments.scratch))))
        return
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        before = export_before(arguments.before, scratch / "before")
        now = ROOT / "src"
        runs: dict[str, list[dict[str, float]]] = {}
        plan = [("before the ledger", before, 0.0, "none"), ("ledger", now, 0.0, "none")]
        plan += [("ledger + pricing + max_calls", now, 0.0, "calls")]
        plan += [("ledger + pricing + max_tokens", now, 0.0, "tokens")]
        plan += [
            ("ledger, 50 ms server", now, 0.05, "none"),
            ("ledger + max_tokens, 50 ms server", now, 0.05, "tokens"),
        ]
        for _ in range(arguments.repeats):  # alternating, so load on the machine hits every version alike
            for name, source, delay, budget in plan:
                runs.setdefault(name, []).append(run_child(source, arguments.items, delay, budget, scratch))
    medians = {
        name: {key: round(statistics.median(run[key] for run in measured), 3) for key in measured[0]}
        for name, measured in runs.items()
    }
    base = medians["before the ledger"]
    for name, row in medians.items():
        if "50 ms" not in name:
            row["paid_ratio_to_before"] = round(row["paid_ms_per_call"] / base["paid_ms_per_call"], 3)
            row["cached_ratio_to_before"] = round(row["cached_ms_per_call"] / base["cached_ms_per_call"], 3)
    print(json.dumps({"items": arguments.items, "repeats": arguments.repeats, "results": medians}, indent=2))


if __name__ == "__main__":
    main()
