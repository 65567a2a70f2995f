"""LLM2LLM cost per iteration on the bundled sample: student training time, teacher calls, records added.

    .venv/bin/python benchmarks/bench_llm2llm.py [--iterations 3] [--epochs 2] [--teacher-delay 0.0] [--write]

The student is the tiny random LLaMA (`model=tiny_llama`, 2 layers, width 64): the numbers measure the loop's
own cost (training, scoring the training split, filtering) and say nothing about what LLM2LLM is worth. The
teacher is our local OpenAI-compatible server (tests/servers/fault_server.py on 127.0.0.1) answering valid
records with the label the prompt asks for, after `--teacher-delay` seconds per call, so teacher time is the
HTTP path plus the delay, not a model's. A second run in a fresh run directory with the same cache shows
what the cache saves when a loop is repeated. `--write` puts the table into BENCHMARKS.md (our section only).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers.augment_setup import compose_augment_config  # noqa: E402
from servers.fault_server import FaultServer, deterministic_answer  # noqa: E402

from taskexpert.augment.llm2llm import run_llm2llm  # noqa: E402
from taskexpert.utils.markdown_sections import update_sections  # noqa: E402

HEADING = "## LLM2LLM cost per iteration"


def answer_with_requested_label(body: dict) -> str:
    record = json.loads(deterministic_answer(body))
    user = "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
    match = re.search(r'must be "(yes|no|maybe)"', user)
    record["label"] = match.group(1) if match else "yes"
    return json.dumps(record)


def run_loop(server: FaultServer, work: Path, name: str, arguments: argparse.Namespace) -> dict:
    overrides = [
        "method=llm2llm",
        f"method.iterations={arguments.iterations}",
        "model=tiny_llama",
        f"trainer.max_epochs={arguments.epochs}",
        "trainer.enable_progress_bar=false",
        "logger=csv",
        "teacher=openai",
        f"teacher.base_url={server.base_url}",
        "teacher.model=bench-server",
        "teacher.api_key_env=null",
        f"cache.path={work / 'cache.sqlite'}",
        "progress=false",
        "diversity.embeddings=false",
    ]
    started = time.perf_counter()
    stats = run_llm2llm(compose_augment_config(overrides, work / name))
    history = json.loads((work / name / "llm2llm_history.json").read_text())["iterations"]
    return {"stats": stats, "history": history, "seconds": time.perf_counter() - started}


def table(result: dict) -> str:
    lines = [
        "| iteration | trained on (seeds + generated) | train + score, s | seed-train acc | wrong | teacher calls | cache hits | teacher s | added | val acc | test acc |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in result["history"]:
        lines.append(
            f"| {entry['iteration']} | {entry['seeds']} + {entry['trained_on_generated']} | "
            f"{entry['train_seconds']:.1f} | {entry['seed_train_acc']:.3f} | {entry['wrong']} | "
            f"{entry['teacher_calls']} | {entry['cache_hits']} | {entry['teacher_seconds']:.2f} | "
            f"{entry['added']} | {entry['val/acc']:.3f} | {entry['test/acc']:.3f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--teacher-delay", type=float, default=0.0, help="seconds per teacher answer")
    parser.add_argument("--write", action="store_true", help="update our section of BENCHMARKS.md")
    arguments = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as directory,
        FaultServer(
            answer=answer_with_requested_label, delay=arguments.teacher_delay, lifetime=3600
        ) as server,
    ):
        work = Path(directory)
        first = run_loop(server, work, "first", arguments)
        repeat = run_loop(server, work, "repeat", arguments)  # same prompts, same cache
    report = (
        f"{table(first)}\n\nWhole loop: {first['seconds']:.1f} s; final dataset {first['stats']['kept']} records.\n"
        f"Repeated in a fresh run directory with the same cache: {repeat['seconds']:.1f} s, "
        f"{repeat['stats']['teacher_calls']} teacher calls, {repeat['stats']['cache_hits']} cache hits "
        f"(training is repeated, the teacher is not).\n"
    )
    print(report)
    if arguments.write:
        update_sections(
            ROOT / "BENCHMARKS.md", {HEADING: f"{HEADING}\n\n{intro(arguments)}\n\n{report}"}, (HEADING,)
        )
    return 0


def intro(arguments: argparse.Namespace) -> str:
    return (
        "What one LLM2LLM iteration costs on the bundled sample (36 seeds, 8 validation, 16 test items) with the "
        "**tiny random student** (`model=tiny_llama`: it measures the loop's plumbing, not what LLM2LLM is worth) "
        f"trained for {arguments.epochs} epochs per iteration on the CPU trainer with checkpoints on, and our "
        f"local OpenAI-compatible server as teacher ({arguments.teacher_delay} s per answer): teacher time is the "
        'HTTP path, not a model. "train + score" is `train(cfg)` of the iteration: loading the model, training, '
        "validation, test and scoring the whole training split. The machine was shared and busy (2 cores), so "
        "times are inflated.\n\n"
        "```bash\n"
        f"HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_llm2llm.py --iterations {arguments.iterations} "
        f"--epochs {arguments.epochs} --teacher-delay {arguments.teacher_delay} --write\n"
        "```"
    )


if __name__ == "__main__":
    raise SystemExit(main())
