"""Constrained vs unconstrained answers of the offline teacher (SmolLM2-135M): kept records per 100 requests,
teacher items/s, and what the grammar costs per decoding step.

    .venv/bin/python benchmarks/bench_structured.py [--runs 3] [--rewrite 12] [--new 4] [--rebase 4]
                                                    [--library-runs 1] [--write]

Each run is `augment.py` in process (the real pipeline: prompts, teacher, parsing, dedup, contamination guard)
with `teacher=smollm2` and a fresh teacher cache, so every answer is generated; run k uses `seed=k`. The two
arms differ only in `teacher.structured` (auto = grammar-constrained, off = prompt and parse); both use the
repetition penalty 2.0 over generated content and the copy ban. Rebase retrieves from the bundled
corpus (`retrieval.select.k`). `--library-runs` adds constrained rewrite runs with each grammar library, and a replay of one fixed
answer through each library's matcher on SmolLM2's tokenizer (schema compile time, mask time per token).
The machine's load average is recorded beside the figures: the CPU is shared. `--write` puts the tables into
BENCHMARKS.md (our section only).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers.augment_setup import compose_augment_config  # noqa: E402

from taskexpert.augment.pipeline import augment  # noqa: E402
from taskexpert.utils.markdown_sections import update_sections  # noqa: E402

HEADING = "## Structured teacher output"
ARMS = {"constrained": ["teacher.structured=auto"], "unconstrained": ["teacher.structured=off"]}


def method_overrides(method: str, size: int) -> list[str]:
    if method == "rebase":
        return ["method=rebase", f"retrieval.select.k={size}"]
    return [f"method={method}", f"method.max_seeds={size}"]


EXTRA: list[str] = []  # --set overrides, e.g. a tiny teacher for a smoke run


def one_run(work: Path, name: str, overrides: list[str]) -> dict:
    run_dir = work / name
    settings = [
        "teacher=smollm2",
        f"cache.path={run_dir / 'cache.sqlite'}",  # fresh: every answer is generated
        "progress=false",
        "diversity.embeddings=false",
        *overrides,
        *EXTRA,
    ]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    stats = augment(compose_augment_config(settings, run_dir))
    structured = stats["teacher_totals"]["structured"]
    return {
        "name": name,
        "requested": stats["requested"],
        "kept": stats["kept"],
        "rejected": stats["rejected"],
        "constrained": stats["constrained"],
        "items_per_second": stats["items_per_second"],
        "teacher_seconds": stats["teacher_seconds"],
        "grammar_mask_seconds": structured.get("grammar_mask_seconds", 0.0),
        "grammar_masked_tokens": structured.get("grammar_masked_tokens", 0),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "load": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


REPLAYED_ANSWER = {
    "question": "Does early mobilisation reduce delirium after hip surgery in older adults?",
    "context": "We randomised 120 patients aged over 70 to walking on the first day after surgery or to usual "
    "care. Delirium was assessed twice daily by nurses who did not know the allocation.",
    "long_answer": "Early mobilisation lowered the rate of delirium.",
    "label": "yes",
}


def replay_libraries(repeats: int = 3) -> dict:
    """Each library's engine on SmolLM2's tokenizer: build time, schema compile time (the `new` schema with the
    task's bounds), and mask time per token while replaying one fixed answer token by token."""
    import torch
    from omegaconf import OmegaConf

    from taskexpert.augment.answer_schema import answer_schema
    from taskexpert.models.loading import load_model_and_tokenizer
    from taskexpert.teachers.grammar import grammar_engine

    cfg = compose_augment_config(["teacher=smollm2"])
    teacher = cfg.teacher
    model_cfg = {
        key: teacher.get(key) for key in ("path", "source", "tiny_architecture", "revision", "dtype")
    }
    model, tokenizer = load_model_and_tokenizer(
        OmegaConf.create({"name": "smollm2", **model_cfg, "trust_remote_code": False})
    )
    vocab = model.get_output_embeddings().weight.shape[0]
    fields = ["question", "context", "long_answer", "label"]
    schema = answer_schema(fields, lengths={k: tuple(v) for k, v in cfg.task.field_lengths.items()})
    text = json.dumps(REPLAYED_ANSWER, ensure_ascii=False)
    tokens = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    results = {}
    for library in ("llguidance", "xgrammar"):
        built, compile_seconds, mask_seconds = [], [], []
        for _ in range(repeats):  # a fresh engine each time: xgrammar's compiler caches compiled schemas
            started = time.perf_counter()
            try:
                engine = grammar_engine(library, tokenizer, vocab)
            except Exception as error:  # not installed: say so in the table
                results[library] = {"error": str(error)[:120]}
                break
            built.append(time.perf_counter() - started)
            started = time.perf_counter()
            matcher = engine.matcher(schema)
            compile_seconds.append(time.perf_counter() - started)
            bitmask = torch.full((1, (vocab + 31) // 32), -1, dtype=torch.int32)
            started = time.perf_counter()
            for token in tokens:
                matcher.fill_mask(bitmask, 0)
                assert (int(bitmask[0, token // 32]) >> (token % 32)) & 1, f"{library} refused a valid token"
                assert matcher.accept(token)
            mask_seconds.append((time.perf_counter() - started) / len(tokens))
        if library in results:
            continue
        results[library] = {
            "engine_seconds": spread(built, 2),
            "compile_seconds": spread(compile_seconds, 3),
            "mask_ms_per_token": spread([1000 * value for value in mask_seconds], 3),
            "tokens": len(tokens),
        }
    return results


def spread(values: list[float], digits: int = 1) -> str:
    """Median [min–max]."""
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}–{max(values):.{digits}f}]"


def summary(runs: list[dict]) -> dict:
    kept = [100 * run["kept"] / run["requested"] for run in runs]
    rates = [run["items_per_second"] for run in runs]
    reasons = Counter()
    for run in runs:
        reasons.update(run["rejected"])
    per_token = [
        1000 * run["grammar_mask_seconds"] / run["grammar_masked_tokens"]
        for run in runs
        if run["grammar_masked_tokens"]
    ]
    share = [
        100 * run["grammar_mask_seconds"] / run["teacher_seconds"] for run in runs if run["teacher_seconds"]
    ]
    return {
        "kept_per_100": spread(kept),
        "items_per_second": spread(rates, 3),
        "rejected": ", ".join(f"{reason} {count}" for reason, count in reasons.most_common()) or "none",
        "requests": sum(run["requested"] for run in runs),
        "grammar_ms_per_token": spread(per_token, 3) if per_token else "–",
        "grammar_share": spread(share) if per_token else "–",
        "load": f"{min(r['load'][0] for r in runs):.1f}–{max(max(r['load']) for r in runs):.1f}",
    }


def tables(results: dict, library: dict, replay: dict) -> str:
    lines = [
        "| method | arm | requests (runs × size) | kept per 100 requests | teacher items/s | rejected (all runs) | load average |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, arms in results.items():
        for arm, runs in arms.items():
            row = summary(runs)
            lines.append(
                f"| {method} | {arm} | {row['requests']} ({len(runs)} × {runs[0]['requested']}) | "
                f"{row['kept_per_100']} | {row['items_per_second']} | {row['rejected']} | {row['load']} |"
            )
    lines += [
        "",
        "Grammar overhead (constrained arm): time in our grammar processor (advancing the matchers, computing and "
        "applying the token masks) per batch row and decoding step (rows that have finished still count), and its share of the teacher's time:",
        "",
        "| method | grammar ms per row and step | share of teacher time, % |",
        "|---|---|---|",
    ]
    for method, arms in results.items():
        row = summary(arms["constrained"])
        lines.append(f"| {method} | {row['grammar_ms_per_token']} | {row['grammar_share']} |")
    if replay:
        lines += [
            "",
            "The two libraries replaying one fixed `new` answer token by token on SmolLM2's tokenizer (49,152 "
            f"tokens; {next(iter(replay.values())).get('tokens', '?')} tokens; the schema with the smollm2 length "
            "bounds; 3 times, each with a fresh engine, so every compile is cold):",
            "",
            "| library | engine for the tokenizer, s | schema compile, s | mask + advance, ms per token |",
            "|---|---|---|---|",
        ]
        for name, row in replay.items():
            if "error" in row:
                lines.append(f"| {name} | not installed: {row['error']} | | |")
            else:
                lines.append(
                    f"| {name} | {row['engine_seconds']} | {row['compile_seconds']} | {row['mask_ms_per_token']} |"
                )
    if library:
        lines += [
            "",
            "Grammar libraries on the constrained rewrite (same runs, `teacher.grammar_library`; items/s includes "
            "compiling the schema in the first batch, the grammar time does not):",
            "",
            "| library | kept per 100 requests | teacher items/s | grammar ms per row and step | share of teacher time, % |",
            "|---|---|---|---|---|",
        ]
        for name, runs in library.items():
            row = summary(runs)
            lines.append(
                f"| {name} | {row['kept_per_100']} | {row['items_per_second']} | "
                f"{row['grammar_ms_per_token']} | {row['grammar_share']} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per method and arm (seeds 1..runs)")
    parser.add_argument("--rewrite", type=int, default=12, help="seeds of the rewrite runs")
    parser.add_argument("--new", type=int, default=4, help="seeds of the new runs")
    parser.add_argument("--rebase", type=int, default=4, help="passages of the rebase runs")
    parser.add_argument("--library-runs", type=int, default=1, help="constrained rewrite runs per library")
    parser.add_argument("--write", action="store_true", help="update our section of BENCHMARKS.md")
    parser.add_argument("--replay-only", action="store_true", help="only the libraries' replay table")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="extra augment override"
    )
    arguments = parser.parse_args()
    EXTRA.extend(arguments.set)
    if arguments.replay_only:
        print(tables({}, {}, replay_libraries()).split("\n\n", 2)[-1])
        return 0
    sizes = {"rewrite": arguments.rewrite, "new": arguments.new, "rebase": arguments.rebase}
    results: dict[str, dict[str, list[dict]]] = {}
    library: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        one_run(work, "warm-up", [*method_overrides("rewrite", 1)])  # imports and file caches, not timed
        for method, size in sizes.items():
            results[method] = {}
            for arm, arm_overrides in ARMS.items():
                results[method][arm] = [
                    one_run(
                        work,
                        f"{method}-{arm}-{seed}",
                        [*method_overrides(method, size), *arm_overrides, f"seed={seed}"],
                    )
                    for seed in range(1, arguments.runs + 1)
                ]
                print(json.dumps({method: {arm: results[method][arm]}}), flush=True)
        for name in ("llguidance", "xgrammar") if arguments.library_runs else ():
            library[name] = [
                one_run(
                    work,
                    f"library-{name}-{seed}",
                    [
                        *method_overrides("rewrite", sizes["rewrite"]),
                        f"teacher.grammar_library={name}",
                        f"seed={seed}",
                    ],
                )
                for seed in range(1, arguments.library_runs + 1)
            ]
            print(json.dumps({"library": {name: library[name]}}), flush=True)
    try:
        replay = replay_libraries() if arguments.library_runs else {}
    except Exception as error:  # the runs above are worth more than this table: report and go on
        replay = {"replay": {"error": f"{type(error).__name__}: {error}"[:200]}}
    print(json.dumps({"replay": replay}), flush=True)
    report = tables(results, library, replay)
    print(report)
    if arguments.write:
        update_sections(
            ROOT / "BENCHMARKS.md", {HEADING: f"{HEADING}\n\n{intro(arguments)}\n\n{report}"}, (HEADING,)
        )
    return 0


def intro(arguments: argparse.Namespace) -> str:
    return (
        "Kept records and speed of the offline teacher (`teacher=smollm2`, SmolLM2-135M-Instruct on the CPU, batch "
        "4, temperature 0.8, repetition penalty 2.0 over generated content, the copy ban, `OMP_NUM_THREADS=1`) with answers "
        "constrained to their JSON schema (`teacher.structured=auto`, llguidance) and without (`off`: prompt, "
        "prefill and parse). Each run is the whole `augment.py` pipeline with a fresh cache on the bundled sample: "
        f"rewrite of {arguments.rewrite} seeds, new records from {arguments.new} seeds, ReBase on "
        f"{arguments.rebase} retrieved passages; {arguments.runs} runs per cell (seeds 1–{arguments.runs}), "
        'median [min–max]. "Kept" is after dedup and the contamination guard. The machine is shared by several '
        "engineers (2 cores); the load average before and after each run is in the table: items/s is inflated "
        "by it, kept counts are not.\n\n"
        "```bash\n"
        f".venv/bin/python benchmarks/bench_structured.py --runs {arguments.runs} --rewrite {arguments.rewrite} "
        f"--new {arguments.new} --rebase {arguments.rebase} --library-runs {arguments.library_runs} --write\n"
        "```"
    )


if __name__ == "__main__":
    raise SystemExit(main())
