"""`python -m taskexpert.bench`: measure training and evaluation speed side by side, write BENCHMARKS.md.

python -m taskexpert.bench                        # SmolLM2-135M, 3 rounds of every arm (about 65 minutes on 2 idle cores)
python -m taskexpert.bench --parts eval           # one part only; its sections are replaced, the rest kept
python -m taskexpert.bench --parts precision      # bf16 against fp32, training and evaluation (29 min at --repeats 2 --steps 6)
python -m taskexpert.bench --smoke --out /tmp/b.md  # tiny model, one step per arm: checks the plumbing only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from taskexpert.bench.environment import data_profile, machine_info, versions
from taskexpert.bench.report import GENERATED_HEADINGS, build_sections
from taskexpert.bench.runner import PARTS, run_benchmark
from taskexpert.bench.settings import BenchSettings
from taskexpert.utils.markdown_sections import update_sections


def smoke_settings() -> BenchSettings:
    """The tiny model and one measured step per arm: seconds, not an hour; the figures mean nothing."""
    return BenchSettings(
        model="tiny",
        max_length=128,
        warmup_steps=1,
        measured_steps=1,
        repeats=1,
        bf16="never",
        eval_examples=4,
        eval_batch_size=4,
        eval_max_new_tokens=4,
        format_steps=1,
        format_max_length=64,
        scaling_batch_sizes=[1, 2],
        scaling_lengths=[64],
        scaling_fixed_batch=2,
        scaling_fixed_length=64,
        scaling_steps=1,
        matmul_size=256,
        compile_backend="eager",
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m taskexpert.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny model, one step per arm (for tests)")
    parser.add_argument("--model", choices=["smollm2", "tiny"], help="default: smollm2 (tiny with --smoke)")
    parser.add_argument("--repeats", type=int, help="rounds of every arm (default 3)")
    parser.add_argument("--steps", type=int, help="measured optimizer steps per training arm (default 8)")
    parser.add_argument("--warmup", type=int, help="warm-up optimizer steps before the clock (default 2)")
    parser.add_argument(
        "--bf16", choices=["auto", "always", "never"], help="bf16 arms (default auto: where bf16 is native)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads per task (default: all cores; 1 is steadier on a busy machine)",
    )
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}"
    )
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"), help="Markdown file to update")
    parser.add_argument("--work-dir", type=Path, help="raw results and logs (default outputs/bench/<time>)")
    parser.add_argument(
        "--from-results",
        type=Path,
        help="write the report from a saved results.json (a run's --work-dir) without measuring again",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run every task in this process (quick checks; memory figures not comparable)",
    )
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> BenchSettings:
    settings = smoke_settings() if args.smoke else BenchSettings()
    for option, field_name in (
        ("model", "model"),
        ("repeats", "repeats"),
        ("steps", "measured_steps"),
        ("warmup", "warmup_steps"),
        ("bf16", "bf16"),
        ("threads", "threads"),
    ):
        if getattr(args, option) is not None:
            setattr(settings, field_name, getattr(args, option))
    return settings


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    parts = tuple(part.strip() for part in args.parts.split(",") if part.strip())
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        print(f"error: unknown part(s) {', '.join(unknown)}: use {', '.join(PARTS)}", file=sys.stderr)
        return 2
    if args.from_results:
        saved = json.loads(args.from_results.read_text(encoding="utf-8"))
        environment = saved.pop("environment")
        update_sections(args.out, build_sections(saved, environment), GENERATED_HEADINGS)
        print(f"[bench] wrote {args.out} from {args.from_results}", file=sys.stderr)
        return 0
    settings = settings_from(args)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d_%H-%M-%S")
    work_dir = args.work_dir or Path("outputs") / "bench" / stamp
    started = time.perf_counter()
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    results = run_benchmark(settings, work_dir, parts, say=say, isolate=not args.in_process)
    machine = machine_info()
    machine["torch_threads"] = settings.threads or machine["torch_threads"]
    environment = {
        "machine": machine,
        "versions": versions(),
        "data": data_profile(settings),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    results["meta"] = {
        "date": environment["date"],
        "command": " ".join(["python -m taskexpert.bench", *argv]),
        "cores": environment["machine"]["cores"],
    }
    (work_dir / "results.json").write_text(
        json.dumps(results | {"environment": environment}, indent=1), encoding="utf-8"
    )
    update_sections(args.out, build_sections(results, environment), GENERATED_HEADINGS)
    minutes = (time.perf_counter() - started) / 60
    print(
        f"[bench] wrote {args.out} ({minutes:.1f} min); raw results and logs in {work_dir}", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
