"""Token-length measurement (`data.max_length: auto`) at full size: seconds and peak memory.

Invented records of the real sizes and length distributions (SQuAD 98,169 questions over paragraphs of several
hundred words, five questions a paragraph; SST-2 68,221 sentences; MNLI 402,517 pairs) are measured as a run
measures them at start (`ExampleEncoder.measure`: every distinct text tokenized once, in batches), with the
model's tokenizer. Each dataset runs in its own process, so its peak resident memory is its own (`baseline`: the
interpreter, imports and records before measuring).

    PYTHONPATH=src:. python benchmarks/bench_lengths.py [--tasks squad,sst2,mnli] [--model smollm2_135m]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"squad": 87_599 + 10_570, "sst2": 67_349 + 872, "mnli": 392_702 + 9_815}
WORDS = [
    "the",
    "of",
    "a",
    "river",
    "city",
    "was",
    "in",
    "to",
    "and",
    "by",
    "court",
    "held",
    "that",
    "film",
    "is",
    "not",
    "one",
    "more",
    "team",
    "year",
    "light",
]


def text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) + str(rng.randrange(50)) for _ in range(rng.randint(low, high)))


def records(task, name: str):
    from taskexpert.records import Record

    rng = random.Random(0)
    paragraphs = [text(rng, 120, 400) for _ in range(SIZES[name] // 5 + 1)]
    made = []
    for n in range(SIZES[name]):
        if name == "squad":
            inputs = {"question": text(rng, 6, 18), "context": paragraphs[n // 5]}
            target = text(rng, 1, 5)
        elif name == "sst2":
            inputs, target = {"sentence": text(rng, 3, 50)}, rng.choice(task.labels)
        else:
            inputs = {"premise": text(rng, 8, 60), "hypothesis": text(rng, 4, 20)}
            target = rng.choice(task.labels)
        made.append(Record(id=f"{name}:{n}", source=name, inputs=inputs, target=target))
    return made


def measure(name: str, model: str) -> dict:
    from hydra import compose, initialize_config_dir

    from taskexpert.data.lengths import measuring_encoder
    from taskexpert.models.loading import load_model_and_tokenizer
    from taskexpert.tasks import build_task

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"task={name}", f"model={model}"])
    task = build_task(cfg.task)
    tokenizer = load_model_and_tokenizer(cfg.model)[1]
    items = records(task, name)
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    began = time.perf_counter()
    encoder = measuring_encoder(cfg, tokenizer, task)
    measured = encoder.measure(items)
    seconds = time.perf_counter() - began
    return {
        "task": name,
        "records": len(items),
        "fits_all": max(m.needed(encoder.eval_budget) for m in measured),
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "baseline_rss_mb": round(floor),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="squad,sst2,mnli")
    parser.add_argument("--model", default="smollm2_135m")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.model)))
        return
    for name in args.tasks.split(","):
        child = subprocess.run(
            [sys.executable, __file__, "--one", name, "--model", args.model],
            capture_output=True,
            text=True,
            check=True,
        )
        print(child.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
