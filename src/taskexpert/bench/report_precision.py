"""The `precision` part's section of BENCHMARKS.md: bf16 and fp32 training and evaluation, and their targets."""

from __future__ import annotations

from taskexpert.bench.report_eval import eval_bf16_ratios, eval_bf16_table
from taskexpert.bench.results_view import (
    Results,
    arm_flops,
    baseline_b,
    ratio_cell,
    run_note,
    step_seconds,
    verdict,
)
from taskexpert.bench.stats import median, paired_ratios, ratio_text, with_spread
from taskexpert.bench.tasks import MATMUL_TASK, TrainArm, precision_arms

PRECISION_HEADING = "## Precision: bf16 against fp32"
COMMAND = "python -m taskexpert.bench --parts precision"


def _arm_table(results: Results, arms: list[TrainArm]) -> list[str]:
    ours_fp32 = {peft: TrainArm("lightning", peft, "fp32").name for peft in ("lora", "prefix")}
    lines = [
        "| arm | real tokens/s | vs Trainer, same precision | vs our fp32 | useful / its matmul rate "
        "| peak RSS MiB | RSS vs Trainer | s/step | warm-up s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for arm in arms:
        useful, _ = arm_flops(results, arm)
        warmups = [w for w in results.values(arm.name, "warmup_seconds") if w is not None]
        fp32 = ours_fp32[arm.peft] if arm.framework.startswith("lightning") and arm.bf16 else None
        lines.append(
            f"| {arm.title} | {with_spread(results.values(arm.name, 'tokens_per_second'), 1)} "
            f"| {ratio_cell(results, arm.name, baseline_b(arm))} | {ratio_cell(results, arm.name, fp32)} "
            f"| {100 * median(useful) / results.matmul_rate(arm.bf16):.0f}% ({'bf16' if arm.bf16 else 'fp32'}) "
            f"| {with_spread(results.peaks(arm.name))} "
            f"| {ratio_cell(results, arm.name, baseline_b(arm), 'peak_rss_mb')} "
            f"| {with_spread(step_seconds(results, arm.name), 2)} | {with_spread(warmups, 1)} |"
        )
    return lines


def _speed_ratio(results: Results, arm: TrainArm, baseline: TrainArm) -> list[float]:
    if not (results.has(arm.name) and results.has(baseline.name)):
        return []
    return paired_ratios(
        results.values(arm.name, "tokens_per_second"), results.values(baseline.name, "tokens_per_second")
    )


def _memory_ratio(results: Results, arm: TrainArm, baseline: TrainArm) -> list[float]:
    if not (results.has(arm.name) and results.has(baseline.name)):
        return []
    return paired_ratios(results.peaks(arm.name), results.peaks(baseline.name))


def _targets(results: Results) -> list[str]:
    ours = {p: TrainArm("lightning", "lora", p) for p in ("fp32", "bf16-base", "bf16-mixed")}
    trainer = {p: TrainArm("hf_trainer", "lora", p) for p in ("fp32", "bf16-base", "bf16-mixed")}
    lines = [
        "Targets (LoRA; the Trainer's bf16 is its usual `bf16=True` on an fp32 base):",
        f"- fp32: at least 1.4x the Trainer's fp32: {verdict(_speed_ratio(results, ours['fp32'], trainer['fp32']), 1.4)}; "
        f"peak memory at most the Trainer's: "
        f"{verdict(_memory_ratio(results, ours['fp32'], trainer['fp32']), 1.0, at_least=False)}.",
    ]
    if not results.raw["bf16_measured"]:
        return lines
    bf16 = ours["bf16-base"]
    useful, _ = arm_flops(results, bf16) if results.has(bf16.name) else ([], [])
    share = [u / results.matmul_rate(bf16=True) for u in useful]
    lines += [
        f"- bf16-base: at least 2x the Trainer's bf16: "
        f"{verdict(_speed_ratio(results, bf16, trainer['bf16-mixed']), 2.0)} (against the Trainer on a bf16 base: "
        f"{verdict(_speed_ratio(results, bf16, trainer['bf16-base']), 2.0)}); "
        f"at least 50% of the bf16 matmul rate: {_share_verdict(share, 0.5)}; "
        f"peak memory at most the Trainer's bf16: "
        f"{verdict(_memory_ratio(results, bf16, trainer['bf16-mixed']), 1.0, at_least=False)}.",
        f"- Not targets, for comparison: bf16-base against our bf16-mixed (the per-step recast it avoids) "
        f"{ratio_text(_speed_ratio(results, bf16, ours['bf16-mixed']))}, against our fp32 "
        f"{ratio_text(_speed_ratio(results, bf16, ours['fp32']))}, against the same step with torch's LoRA dropout, "
        f"SDPA attention and PEFT's fp32 LoRA compute (what `model.lora_dropout_mask`, `model.attn_implementation` "
        f"and `model.lora_compute` replace under `auto` on a CPU) "
        f"{ratio_text(_speed_ratio(results, bf16, TrainArm('lightning_stock_kernels', 'lora', 'bf16-base')))}.",
    ]
    for adapter, result in results.eval_runs():
        if "bf16" in result["by_precision"]:
            lines.append(
                f"- Evaluation ({adapter}), bf16 at least 2x fp32 examples/s: label scoring "
                f"{verdict(eval_bf16_ratios(result, 'label_scoring'), 2.0)}, generate-and-parse "
                f"{verdict(eval_bf16_ratios(result, 'generate_and_parse'), 2.0)}."
            )
    return lines


def _share_verdict(shares: list[float], target: float) -> str:
    if not shares:
        return "not measured"
    value = median(shares)
    return f"{'met' if value >= target else 'MISSED'} ({100 * value:.0f}%)"


def _compile_line(results: Results, arms: list[TrainArm]) -> list[str]:
    compiled = next((arm for arm in arms if arm.framework == "lightning_compiled"), None)
    if compiled is None or not results.has(compiled.name):
        return []
    plain = TrainArm("lightning", compiled.peft, compiled.precision)
    warmups = [w for w in results.values(compiled.name, "warmup_seconds") if w is not None]
    plain_warmups = [w for w in results.values(plain.name, "warmup_seconds") if w is not None]
    return [
        f"- torch.compile of the decoder blocks ({compiled.precision}), does it pay: steady-state tokens/s against "
        f"the same step uncompiled {verdict(_speed_ratio(results, compiled, plain), 1.0)}; the warm-up steps, where "
        f"it compiles (a static shape, then a dynamic one), took {with_spread(warmups, 0)} s against "
        f"{with_spread(plain_warmups, 0)} s uncompiled.",
    ]


def machine_line(environment: dict) -> str:
    machine, versions = environment["machine"], environment["versions"]
    return (
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB; SIMD: "
        f"{', '.join(machine['simd']) or 'none found'}; torch kernels: {machine['torch_cpu_capability']}; "
        f"{machine['torch_threads']} torch threads; "
        + ", ".join(f"{name} {version}" for name, version in versions.items())
        + "."
    )


def settings_line(results: Results, environment: dict) -> str:
    settings, data = results.raw["settings"], environment["data"]
    model = "SmolLM2-135M-Instruct" if settings["model"] == "smollm2" else "tiny random LLaMA (smoke run)"
    return (
        f"{model}; LoRA r={settings['lora_rank']} on {', '.join(settings['lora_targets'])}, prefix tuning with "
        f"{settings['prefix_tokens']} virtual tokens; batch {settings['batch_size']} of {data['mean_tokens']:.0f} "
        "tokens per example on average (invented records as long as the default task's); "
        f"{settings['warmup_steps']} warm-up and {settings['measured_steps']} measured optimizer steps per arm, "
        f"{settings['repeats']} rounds; evaluation of {settings['eval_examples']} examples, batch "
        f"{settings['eval_batch_size']}, up to {settings['eval_max_new_tokens']} new tokens."
    )


def _rounds(results: Results) -> str:
    """Every round's matmul rates, e.g. `fp32 168/108, bf16 757/380 GFLOP/s`, so a disturbed round shows."""
    runs = results.by_task.get(MATMUL_TASK, [])
    fp32 = "/".join(f"{run['result']['fp32_flops'] / 1e9:.0f}" for run in runs)
    bf16 = "/".join(f"{run['result']['bf16_flops'] / 1e9:.0f}" for run in runs)
    rounds = f"{len(runs)} round" + ("s" if len(runs) != 1 else "")
    return f"{rounds}: fp32 {fp32}, bf16 {bf16} GFLOP/s"


def precision_section(results: Results, environment: dict) -> str:
    arms = results.training_arms(precision_arms(results.raw["bf16_measured"]))
    fp32_rate, bf16_rate = results.matmul_rate(bf16=False), results.matmul_rate(bf16=True)
    lines = [
        PRECISION_HEADING,
        "",
        f"Reproduce with `{COMMAND}` (LoRA and prefix arms in fp32 and bf16, the Trainer's at the same precisions, "
        "torch.compile of our step, and label scoring and generation in both precisions; the arms interleaved round "
        "by round, so ratios are paired under the same load). Precisions: `fp32` = `trainer.precision=32-true`; "
        "`bf16-base` = the frozen base stored in bf16, the adapter, its gradients, AdamW state and the loss in fp32, no "
        "autocast; `bf16-mixed` = fp32 weights cast to bf16 by autocast in every forward. The Trainer's bf16: "
        "`bf16=True` on an fp32 base (its usual recipe) or on a base loaded in bf16.",
        "",
        f"- {machine_line(environment)}",
        f"- {settings_line(results, environment)}",
        f"- Matmul rates of these cores (the best of {_rounds(results)}): fp32 {fp32_rate / 1e9:.1f} GFLOP/s, "
        f"bf16 {bf16_rate / 1e9:.1f} GFLOP/s ({bf16_rate / fp32_rate:.1f}x). Each arm's useful FLOP/s (see "
        '"How close to the machine") is divided by the rate of the precision it computes in.',
        f"- {run_note(results, ('train:', 'matmul'))}",
    ]
    if not results.raw["bf16_measured"]:
        lines.append(
            "- bf16 arms not measured: this CPU has no native bf16 (no avx512_bf16 or amx_bf16); the bf16 figures "
            f"await such a machine (`{COMMAND}`; `--bf16 always` forces them here, slowly)."
        )
    lines += ["", *_arm_table(results, arms), "", *_targets(results), *_compile_line(results, arms)]
    bf16_eval = eval_bf16_table(results)
    if bf16_eval:
        lines += ["", *bf16_eval, "", run_note(results, ("eval:",))]
    return "\n".join(lines)
