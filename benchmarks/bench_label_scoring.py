"""Label scoring cost per example: a task whose labels are several tokens (TREC: 6 labels) against one whose
labels are single tokens (PubMedQA: 3 labels, one forward pass over prompt + prefix).

Multi-token labels are scored on the rows prompt + prefix + label, one row per label, batched together (see
models/label_sequences.py), so their cost grows with the number of labels and the prompt length. Both tasks are
scored on their bundled samples' test items with the same model and batch size, interleaved over the rounds.

    .venv/bin/python benchmarks/bench_label_scoring.py                    # SmolLM2-135M, offline
    .venv/bin/python benchmarks/bench_label_scoring.py --model tiny_llama
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import compose_config  # noqa: E402

from taskexpert.data.collate import EvalCollator  # noqa: E402
from taskexpert.data.encoding import ExampleEncoder  # noqa: E402
from taskexpert.data.lengths import length_setting  # noqa: E402
from taskexpert.data.loading import load_splits  # noqa: E402
from taskexpert.models.label_sequences import score_task_labels  # noqa: E402
from taskexpert.models.loading import load_model_and_tokenizer  # noqa: E402
from taskexpert.tasks import build_task  # noqa: E402


def batches_for(task_name: str, model: str, tokenizer, batch_size: int, examples: int):
    cfg = compose_config([f"task={task_name}", f"model={model}"])
    task = build_task(cfg.task)
    splits = load_splits(cfg.data, task)
    records = (splits.test + splits.validation + splits.train)[:examples]
    encoder = ExampleEncoder(tokenizer, task, length_setting(cfg.data), "label")
    encoded = encoder.encode(records, task_name)
    collate = EvalCollator(tokenizer.pad_token_id)
    batches = [collate(encoded[i : i + batch_size]) for i in range(0, len(encoded), batch_size)]
    prompt_tokens = sum(len(e.eval_ids) for e in encoded) / len(encoded)
    labels = encoder.label_tokens
    rows = 1 if labels.single_token else len(labels.sequences)
    label_tokens = 0 if labels.single_token else sum(len(ids) for ids in labels.sequences)
    forward_tokens = rows * prompt_tokens + label_tokens  # tokens through the model per example
    return labels, batches, len(encoded), (prompt_tokens, forward_tokens)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2_135m", help="model config (conf/model)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--examples", type=int, default=16, help="examples per task")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cfg = compose_config([f"model={args.model}"])
    model, tokenizer = load_model_and_tokenizer(cfg.model)
    model.eval()
    tasks = {
        name: batches_for(name, args.model, tokenizer, args.batch_size, args.examples)
        for name in ("pubmedqa", "trec")
    }
    seconds: dict[str, list[float]] = {name: [] for name in tasks}
    for _ in range(args.rounds):
        for name, (labels, batches, _, _) in tasks.items():
            started = time.perf_counter()
            for batch in batches:
                score_task_labels(model, batch, labels, tokenizer.pad_token_id)
            seconds[name].append(time.perf_counter() - started)
    print(
        f"model {args.model}, batch {args.batch_size}, {args.rounds} rounds, {torch.get_num_threads()} threads"
    )
    print(
        "| task | labels | tokens per label | mode | prompt tokens (mean) | tokens through the model per example "
        "| ms per example (median) | rounds (ms/ex) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, (labels, _, count, (prompt_tokens, forward_tokens)) in tasks.items():
        per_example = [1000 * s / count for s in seconds[name]]
        lengths = sorted({len(ids) for ids in labels.sequences})
        mode = "one pass" if labels.single_token else f"{len(labels.names)} rows per example"
        print(
            f"| {name} | {len(labels.names)} | {'-'.join(map(str, (lengths[0], lengths[-1])))} | {mode} "
            f"| {prompt_tokens:.0f} | {forward_tokens:.0f} | {statistics.median(per_example):.1f} "
            f"| {', '.join(f'{v:.1f}' for v in per_example)} |"
        )


if __name__ == "__main__":
    main()
