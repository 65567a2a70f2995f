"""Teacher throughput and cache: items/s against our local server with a fixed delay at several concurrencies,
and the time of a fully cached re-run.

    .venv/bin/python benchmarks/bench_teacher.py [--delay 0.2] [--items 64] [--concurrency 1 4 16] [--cached 1000]

Every request goes the real way: OpenAI client -> HTTP -> our server (tests/servers/fault_server.py, stdlib,
127.0.0.1) -> answer committed to a fresh SQLite cache. The cached re-run builds a new Teacher over the filled
cache and runs the full record path (parse, validate, dedup, contamination filter) on the same items.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers.fault_server import FaultServer  # noqa: E402

from taskexpert.augment.contamination import ContaminationGuard  # noqa: E402
from taskexpert.augment.dedup import Deduplicator  # noqa: E402
from taskexpert.augment.generation import generate_records  # noqa: E402
from taskexpert.augment.jobs import rewrite_jobs  # noqa: E402
from taskexpert.augment.prompts import PromptTemplate  # noqa: E402
from taskexpert.records import Record, write_jsonl  # noqa: E402
from taskexpert.tasks import load_task  # noqa: E402
from taskexpert.teachers.backends.openai_compatible import OpenAICompatibleBackend  # noqa: E402
from taskexpert.teachers.cache import ResponseCache  # noqa: E402
from taskexpert.teachers.sampling import Sampling  # noqa: E402
from taskexpert.teachers.teacher import Teacher  # noqa: E402


def seeds(count: int) -> list[Record]:
    return [
        Record(
            id=f"b{index:05d}",
            inputs={
                "question": f"Does treatment number {index} reduce symptom score {index % 97} in cohort {index // 97}?",
                "context": f"Cohort {index // 97} received treatment {index} for {index % 13 + 1} weeks; scores were recorded.",
            },
            reference=f"Treatment {index} changed the score.",
            target=load_task().labels[0],
        )
        for index in range(count)
    ]


def teacher_for(server: FaultServer, cache_path: Path, concurrency: int) -> Teacher:
    backend = OpenAICompatibleBackend(
        model="bench-model",
        base_url=server.base_url,
        api_key_env=None,
        max_concurrency=concurrency,
        timeout=30,
    )
    return Teacher(backend, ResponseCache(cache_path), Sampling())


def jobs_for(count: int, per_seed: int = 1):
    template = PromptTemplate.load(ROOT / "conf" / "prompts" / "rewrite.txt")
    return rewrite_jobs(load_task(), seeds(count // per_seed), template, ["question"], per_seed)


def throughput(delay: float, items: int, concurrency: int, scratch: Path) -> float:
    jobs = jobs_for(items + 1)
    with FaultServer(delay=delay, lifetime=3600) as server:
        teacher = teacher_for(server, scratch / f"throughput-{concurrency}.sqlite", concurrency)
        generate_records(teacher, jobs[:1])  # warm-up: client, connection, cache file
        started = time.perf_counter()
        result = generate_records(teacher, jobs[1:])
        seconds = time.perf_counter() - started
        assert result.generated == items and len(server.requests) == items + 1, result.stats()
    return items / seconds


def cached_rerun(items: int, scratch: Path) -> dict[str, float]:
    cache_path = scratch / "cached.sqlite"
    jobs = jobs_for(items, per_seed=10)
    evaluation = seeds(items // 10 + 50)[-50:]
    with FaultServer(lifetime=3600) as server:
        started = time.perf_counter()
        first = generate_records(teacher_for(server, cache_path, 16), jobs)
        fill_seconds = time.perf_counter() - started
        asked = len(server.requests)
        teacher = teacher_for(server, cache_path, 16)
        started = time.perf_counter()
        responses = teacher.generate([job.request for job in jobs])
        teacher_seconds = time.perf_counter() - started
        filters = [Deduplicator(), ContaminationGuard(evaluation)]
        teacher = teacher_for(server, cache_path, 16)
        started = time.perf_counter()
        again = generate_records(teacher, jobs, filters)
        pipeline_seconds = time.perf_counter() - started
        assert len(server.requests) == asked == items, "a cached re-run must not call the server"
    assert all(response.cached for response in responses) and again.cache_hits == items
    assert first.generated == items
    return {
        "fill_seconds": round(fill_seconds, 3),
        "teacher_generate_cached_seconds": round(teacher_seconds, 3),
        "records_with_filters_cached_seconds": round(pipeline_seconds, 3),
        "kept": len(again.records),
    }


def cli_cached_rerun(items: int, scratch: Path) -> dict[str, float]:
    """`python augment.py` twice on `items` seeds: the second run is the user's fully cached re-run."""
    data = write_jsonl(seeds(items + 20), scratch / "seeds.jsonl")
    with FaultServer(lifetime=3600) as server:
        overrides = [
            "teacher=openai",
            f"teacher.base_url={server.base_url}",
            "teacher.model=bench-model",
            "teacher.api_key_env=null",
            "teacher.max_concurrency=16",
            f"cache.path={scratch / 'cli.sqlite'}",
            f"data.path={data}",
            "data.format=jsonl",
            f"data.split.train_size={items}",
            "data.split.val_size=10",
            "data.split.test_size=10",
            "progress=false",
            "diversity.embeddings=false",  # MiniLM over 2,000 texts on a CPU would dominate the time
        ]
        seconds = []
        for attempt in ("fill", "cached"):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, str(ROOT / "augment.py"), *overrides, f"hydra.run.dir={scratch / attempt}"],
                cwd=ROOT,
                env={**os.environ, "HF_HUB_OFFLINE": "1"},
                check=True,
                capture_output=True,
            )
            seconds.append(time.perf_counter() - started)
        assert len(server.requests) == items, "the cached run must not call the server"
    stats = json.loads((scratch / "cached" / "augment_stats.json").read_text())
    assert stats["cache_hits"] == items
    return {"cli_fill_seconds": round(seconds[0], 3), "cli_cached_rerun_seconds": round(seconds[1], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.2, help="server delay per request, seconds")
    parser.add_argument("--items", type=int, default=64, help="requests per throughput measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--cached", type=int, default=1000, help="items of the cached re-run")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        rates = {c: throughput(arguments.delay, arguments.items, c, scratch) for c in arguments.concurrency}
        base = rates[arguments.concurrency[0]]
        results = {
            "delay_seconds": arguments.delay,
            "items": arguments.items,
            "items_per_second": {str(c): round(rate, 2) for c, rate in rates.items()},
            "ratio_to_sequential": {str(c): round(rate / base, 2) for c, rate in rates.items()},
            "cached_rerun": {
                "items": arguments.cached,
                **cached_rerun(arguments.cached, scratch),
                **cli_cached_rerun(arguments.cached, scratch),
            },
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
