"""Benchmark results -> the Markdown sections of BENCHMARKS.md (every figure next to its baseline)."""

from __future__ import annotations

from taskexpert.bench.report_eval import EVAL_HEADING, eval_section
from taskexpert.bench.report_precision import PRECISION_HEADING, precision_section
from taskexpert.bench.results_view import (
    Results,
    arm_flops,
    baseline_b,
    baseline_c,
    padding_share,
    ratio_cell,
    run_note,
    step_seconds,
    verdict,
)
from taskexpert.bench.stats import median, paired_ratios, with_spread
from taskexpert.bench.tasks import MATMUL_TASK, TrainArm, scaling_points, scaling_task, training_arms

SETUP_HEADING = "## Speed benchmark: machine, versions, settings"
TRAINING_HEADING = "## Training throughput and memory"
MACHINE_HEADING = "## How close to the machine"
SCALING_HEADING = "## Scaling with batch size and sequence length"
GENERATED_HEADINGS = (
    SETUP_HEADING,
    TRAINING_HEADING,
    EVAL_HEADING,
    MACHINE_HEADING,
    SCALING_HEADING,
    PRECISION_HEADING,
)


def setup_section(results: Results, environment: dict) -> str:
    settings, machine, data = results.raw["settings"], environment["machine"], environment["data"]
    versions = ", ".join(f"{name} {version}" for name, version in environment["versions"].items())
    matmul = results.by_task[MATMUL_TASK]
    lines = [
        SETUP_HEADING,
        "",
        "Reproduce with `make bench` (`python -m taskexpert.bench`; about 65 minutes on 2 idle cores; `--parts` runs a "
        "subset and replaces only its sections). Each arm runs in its own subprocess, "
        "the arms interleaved round by round (a, b, c, a, b, c, ...) so that load from other processes hits all of them "
        "alike; figures are the median over rounds with (min–max), ratios are paired within a round.",
        "",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB; SIMD: "
        f"{', '.join(machine['simd']) or 'none found'}; torch kernels: {machine['torch_cpu_capability']}; "
        f"{machine['torch_threads']} torch threads.",
        f"- Versions: {versions}.",
        f"- {run_note(results, ('matmul',))}",
        f"- fp32 matmul ({matmul[0]['result']['fp32_size']}²): "
        f"{with_spread([r['result']['fp32_flops'] / 1e9 for r in matmul], 1)} GFLOP/s; bf16 matmul "
        f"({matmul[0]['result']['bf16_size']}²): {with_spread([r['result']['bf16_flops'] / 1e9 for r in matmul], 1)} GFLOP/s.",
        f"- Model: {'SmolLM2-135M-Instruct' if settings['model'] == 'smollm2' else 'tiny random LLaMA (smoke run)'}; "
        f"LoRA r={settings['lora_rank']}, alpha={settings['lora_alpha']}, dropout 0.1 on {', '.join(settings['lora_targets'])}; "
        f"prefix tuning with {settings['prefix_tokens']} virtual tokens; AdamW lr {settings['learning_rate']}, "
        "linear schedule with 10% warm-up, gradient clipping 1.0.",
        f"- Data: {data['examples']} invented records with the default task's lengths (questions 10–19 words, contexts 200–300 "
        f"words, label target ` the answer to the question given the context is <label>.`): "
        f"{data['mean_tokens']:.0f} tokens per example on average (min {data['min_tokens']}, median "
        f"{data['median_tokens']:.0f}, max {data['max_tokens']}), {data['mean_answer_tokens']:.0f} of them answer tokens; "
        f"max_length {settings['max_length']}, batch size {settings['batch_size']}.",
        f"- Clock: {settings['warmup_steps']} warm-up optimizer steps, then {settings['measured_steps']} measured ones "
        f"(data loading, forward, backward, clipping, optimizer and scheduler included); {settings['repeats']} rounds.",
    ]
    if not results.raw.get("isolated", True):
        lines.append(
            "- All tasks ran in one process (`--in-process`): memory figures are training-phase peaks, not comparable."
        )
    if not results.raw["bf16_measured"]:
        lines.append(
            "- bf16 arms skipped: this CPU has no native bf16 matrix units, so torch falls back to a generic kernel and "
            "bf16 matmuls are slower than fp32 ones (figures above); `--bf16 always` measures them anyway."
        )
    return "\n".join(lines)


def training_section(results: Results) -> str:
    lines = [
        TRAINING_HEADING,
        "",
        "Real (non-padding) tokens trained per second and the peak resident memory of the whole process "
        "(from the kernel's accounting of the child, model loading included). (b) is the baseline of each adapter "
        "and precision (for bf16 arms the Trainer's `bf16=True` on an fp32 base); (c) exists for LoRA in fp32. (a0) is "
        "this project before its loss computed logits only at answer positions. Precisions: `fp32` = "
        "`trainer.precision=32-true`; `bf16-base` = the frozen base stored in bf16, fp32 adapter, optimizer and loss; "
        "`bf16-mixed` = fp32 weights under autocast.",
        "",
        run_note(results, ("train:",)),
        "",
        "| arm | real tokens/s | vs (b) | vs (c) | peak RSS MiB | RSS vs (b) | padding | s/step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm in results.training_arms(training_arms(results.raw["bf16_measured"])):
        task = arm.name
        lines.append(
            f"| {arm.title} | {with_spread(results.values(task, 'tokens_per_second'), 1)} "
            f"| {ratio_cell(results, task, baseline_b(arm))} | {ratio_cell(results, task, baseline_c(arm))} "
            f"| {with_spread(results.peaks(task))} | {ratio_cell(results, task, baseline_b(arm), 'peak_rss_mb')} "
            f"| {padding_share(results, task)} | {with_spread(step_seconds(results, task), 1)} |"
        )
    lines += ["", *_training_targets(results)]
    return "\n".join(lines)


def _training_targets(results: Results) -> list[str]:
    a, b, c = (TrainArm(f, "lora", "fp32").name for f in ("lightning", "hf_trainer", "pad512"))
    if not (results.has(a) and results.has(b)):
        return []
    speed_b = paired_ratios(results.values(a, "tokens_per_second"), results.values(b, "tokens_per_second"))
    memory_b = paired_ratios(results.peaks(a), results.peaks(b))
    lines = [
        "Targets (LoRA, fp32):",
        f"- (a) at least 1.0x (b) on tokens/s: {verdict(speed_b, 1.0)}; with no more peak memory than (b): "
        f"{verdict(memory_b, 1.0, at_least=False)}.",
    ]
    if results.has(c):
        speed_c = paired_ratios(
            results.values(a, "tokens_per_second"), results.values(c, "tokens_per_second")
        )
        lines.append(f"- (a) at least 2x (c) on tokens/s: {verdict(speed_c, 2.0)}.")
    prefix_a, prefix_b = (
        TrainArm("lightning", "prefix", "fp32").name,
        TrainArm("hf_trainer", "prefix", "fp32").name,
    )
    if results.has(prefix_a) and results.has(prefix_b):
        speed = paired_ratios(
            results.values(prefix_a, "tokens_per_second"), results.values(prefix_b, "tokens_per_second")
        )
        memory = paired_ratios(results.peaks(prefix_a), results.peaks(prefix_b))
        lines.append(
            f"- Prefix tuning, (a) against (b): tokens/s {verdict(speed, 1.0)}, peak memory {verdict(memory, 1.0, at_least=False)}."
        )
    return lines


def machine_section(results: Results) -> str:
    fp32_rate = results.matmul_rate(bf16=False)
    bf16_note = ""
    if results.raw["bf16_measured"]:
        bf16_note = f" (bf16 arms: the bf16 matmul, {results.matmul_rate(bf16=True) / 1e9:.1f} GFLOP/s)"
    lines = [
        MACHINE_HEADING,
        "",
        "Achieved training FLOP/s divided by the best round's matmul FLOP/s of the same cores in the arm's compute precision: "
        f"the fp32 matmul ({fp32_rate / 1e9:.1f} GFLOP/s){bf16_note}.",
        "N = weights of the matmuls a token passes through (transformer blocks plus the d x V LM head), "
        "counted on real tokens:",
        "- LoRA: (4·N + 6·N_adapter) per token: forward 2N, backward through the activations 2N, weight gradients "
        "only for the adapter (plus its own forward and backward);",
        "- prefix tuning: 4·N per token (the prefix gradients come out of the attention backward);",
        "- full fine-tuning: 6·N per token;",
        "- plus attention, 12·L·d·n·(n+P) per example of n real tokens (P virtual tokens), no causal discount.",
        '"Useful" counts that work on real tokens, the same for every arm; "executed" counts what the arm computes: '
        "padding included, and the LM head only where it ran (all positions for (b) and (c), answer positions for (a)).",
        "",
        "| arm | useful GFLOP/s | useful / matmul | executed GFLOP/s | executed / matmul | matmul rate |",
        "|---|---|---|---|---|---|",
    ]
    for arm in results.training_arms():
        useful, executed = arm_flops(results, arm)
        peak = results.matmul_rate(arm.bf16)
        lines.append(
            f"| {arm.title} | {with_spread([u / 1e9 for u in useful], 1)} | {100 * median(useful) / peak:.0f}% "
            f"| {with_spread([e / 1e9 for e in executed], 1)} | {100 * median(executed) / peak:.0f}% "
            f"| {'bf16' if arm.bf16 else 'fp32'} |"
        )
    return "\n".join(lines)


def scaling_section(results: Results) -> str:
    settings = results.raw["settings"]
    points = [(b, n) for b, n in scaling_points(_SettingsView(settings)) if results.has(scaling_task(b, n))]
    if not points:
        return ""
    base = scaling_task(*points[0])
    lines = [
        SCALING_HEADING,
        "",
        f"Arm (a), LoRA fp32, on examples truncated to exactly the given length (no padding); "
        f"{settings['scaling_warmup_steps']} warm-up step(s), {settings['scaling_steps']} measured; ratios against "
        f"batch {points[0][0]} x {points[0][1]} tokens in the same round.",
        "",
        run_note(results, ("scale:",)),
        "",
        "| batch size | tokens per example | real tokens/s | vs first row | s/step | peak RSS MiB |",
        "|---|---|---|---|---|---|",
    ]
    for batch, length in points:
        task = scaling_task(batch, length)
        lines.append(
            f"| {batch} | {length} | {with_spread(results.values(task, 'tokens_per_second'), 1)} "
            f"| {ratio_cell(results, task, base)} | {with_spread(step_seconds(results, task), 1)} "
            f"| {with_spread(results.peaks(task))} |"
        )
    return "\n".join(lines)


class _SettingsView:
    """Attribute access to a settings dict, for helpers written against BenchSettings."""

    def __init__(self, values: dict) -> None:
        self.__dict__.update(values)


def build_sections(results: dict, environment: dict) -> dict[str, str]:
    view = Results(results)
    sections = {}
    if set(results["parts"]) - {"precision"}:  # the precision section describes its own machine
        sections[SETUP_HEADING] = setup_section(view, environment)
    if "training" in results["parts"]:
        sections[TRAINING_HEADING] = training_section(view)
        sections[MACHINE_HEADING] = machine_section(view)
    if "eval" in results["parts"]:
        sections[EVAL_HEADING] = eval_section(view)
    if "scaling" in results["parts"]:
        sections[SCALING_HEADING] = scaling_section(view)
    if "precision" in results["parts"]:
        sections[PRECISION_HEADING] = precision_section(view, environment)
    return {heading: text for heading, text in sections.items() if text}
