"""Benchmark results -> the Markdown sections of BENCHMARKS.md (every figure next to its baseline)."""

from __future__ import annotations

from collections import defaultdict

from taskexpert.bench.flops import executed_flops, useful_flops
from taskexpert.bench.stats import median, paired_ratios, ratio_text, with_spread
from taskexpert.bench.tasks import MATMUL_TASK, TrainArm, scaling_points, scaling_task

SETUP_HEADING = "## Speed benchmark: machine, versions, settings"
TRAINING_HEADING = "## Training throughput and memory"
EVAL_HEADING = "## Evaluation throughput"
MACHINE_HEADING = "## How close to the machine"
SCALING_HEADING = "## Scaling with batch size and sequence length"
GENERATED_HEADINGS = (SETUP_HEADING, TRAINING_HEADING, EVAL_HEADING, MACHINE_HEADING, SCALING_HEADING)


class Results:
    """Runs grouped by task, in round order."""

    def __init__(self, results: dict) -> None:
        self.raw = results
        self.by_task: dict[str, list[dict]] = defaultdict(list)
        for run in results["runs"]:
            self.by_task[run["task"]].append(run)

    def has(self, task: str) -> bool:
        return task in self.by_task

    def values(self, task: str, key: str) -> list[float]:
        return [run["result"][key] for run in self.by_task.get(task, [])]

    def peaks(self, task: str) -> list[float]:
        return [run["peak_rss_mb"] for run in self.by_task.get(task, [])]

    def training_arms(self) -> list[TrainArm]:
        return [TrainArm.parse(task) for task in self.by_task if task.startswith("train:")]


def _baseline_b(arm: TrainArm) -> str:
    return TrainArm("hf_trainer", arm.peft, arm.precision).name


def _baseline_c(arm: TrainArm) -> str | None:
    return TrainArm("pad512", "lora", "fp32").name if (arm.peft, arm.precision) == ("lora", "fp32") else None


def _ratio_cell(results: Results, task: str, baseline: str | None, key: str = "tokens_per_second") -> str:
    if baseline is None or not results.has(baseline):
        return "—"
    if key == "peak_rss_mb":
        return ratio_text(paired_ratios(results.peaks(task), results.peaks(baseline)))
    return ratio_text(paired_ratios(results.values(task, key), results.values(baseline, key)))


def _padding_share(results: Results, task: str) -> str:
    runs = results.by_task[task]
    shares = [1 - run["result"]["real_tokens"] / run["result"]["padded_tokens"] for run in runs]
    return f"{100 * median(shares):.0f}%"


def _step_seconds(results: Results, task: str) -> list[float]:
    return [run["result"]["seconds"] / run["result"]["measured_steps"] for run in results.by_task[task]]


def run_note(results: Results, prefixes: tuple[str, ...]) -> str:
    """When, with which command, and under what load a section's figures were taken."""
    loads = [run["load_before"] for run in results.raw["runs"] if run["task"].startswith(prefixes)]
    meta = results.raw["meta"]
    return (
        f"Measured {meta['date']} with `{meta['command']}`; 1-minute load average at the start of these runs: "
        f"{with_spread(loads, 2)} on {meta['cores']} cores (other work on the machine included)."
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
        "and precision; (c) exists for LoRA in fp32. (a0) is this project before its loss computed logits only at "
        "answer positions.",
        "",
        run_note(results, ("train:",)),
        "",
        "| arm | real tokens/s | vs (b) | vs (c) | peak RSS MiB | RSS vs (b) | padding | s/step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm in results.training_arms():
        task = arm.name
        lines.append(
            f"| {arm.title} | {with_spread(results.values(task, 'tokens_per_second'), 1)} "
            f"| {_ratio_cell(results, task, _baseline_b(arm))} | {_ratio_cell(results, task, _baseline_c(arm))} "
            f"| {with_spread(results.peaks(task))} | {_ratio_cell(results, task, _baseline_b(arm), 'peak_rss_mb')} "
            f"| {_padding_share(results, task)} | {with_spread(_step_seconds(results, task), 1)} |"
        )
    lines += ["", *_training_targets(results)]
    return "\n".join(lines)


def _verdict(ratios: list[float], target: float, at_least: bool = True) -> str:
    if not ratios:
        return "not measured"
    value = median(ratios)
    met = value >= target if at_least else value <= target
    return f"{'met' if met else 'MISSED'} ({value:.2f}x)"


def _training_targets(results: Results) -> list[str]:
    a, b, c = (TrainArm(f, "lora", "fp32").name for f in ("lightning", "hf_trainer", "pad512"))
    if not (results.has(a) and results.has(b)):
        return []
    speed_b = paired_ratios(results.values(a, "tokens_per_second"), results.values(b, "tokens_per_second"))
    memory_b = paired_ratios(results.peaks(a), results.peaks(b))
    lines = [
        "Targets (LoRA, fp32):",
        f"- (a) at least 1.0x (b) on tokens/s: {_verdict(speed_b, 1.0)}; with no more peak memory than (b): "
        f"{_verdict(memory_b, 1.0, at_least=False)}.",
    ]
    if results.has(c):
        speed_c = paired_ratios(
            results.values(a, "tokens_per_second"), results.values(c, "tokens_per_second")
        )
        lines.append(f"- (a) at least 2x (c) on tokens/s: {_verdict(speed_c, 2.0)}.")
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
            f"- Prefix tuning, (a) against (b): tokens/s {_verdict(speed, 1.0)}, peak memory {_verdict(memory, 1.0, at_least=False)}."
        )
    return lines


def eval_section(results: Results) -> str:
    lines = [
        EVAL_HEADING,
        "",
        "Examples per second on the same full-length examples and the same adapter (taught the answer format first in a "
        f"short untimed run), batch size {results.raw['settings']['eval_batch_size']}, generation up to "
        f"{results.raw['settings']['eval_max_new_tokens']} new tokens, greedy. Label scoring: one forward pass, logits "
        "at the last position only. Generate-and-parse: `generate` with its KV cache for LoRA; for prefix tuning our "
        "own KV-cached greedy loop (see README: `generate` drops the prefix).",
        "",
        "| adapter | label scoring ex/s | generate-and-parse ex/s | label scoring vs generate | predictions differ "
        "| parse failures | new tokens per example |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for task in ("eval:lora", "eval:prefix"):
        if not results.has(task):
            continue
        result = results.by_task[task][0]["result"]
        scoring, generating = (
            result["examples_per_second"][k] for k in ("label_scoring", "generate_and_parse")
        )
        ratios = paired_ratios(scoring, generating)
        adapter = task.split(":")[1]
        lines.append(
            f"| {adapter} | {with_spread(scoring, 2)} | {with_spread(generating, 2)} | {ratio_text(ratios)} "
            f"| {100 * result['disagreement_rate']:.0f}% | {100 * result['parse_failure_rate']:.0f}% "
            f"| {result['mean_new_tokens']:.1f} |"
        )
        verdicts.append(
            f"- {adapter}: label scoring at least 10x generate-and-parse: {_verdict(ratios, 10.0)}."
        )
    lines += ["", "Target:", *verdicts, *_eval_bound(results), "", run_note(results, ("eval:",))]
    return "\n".join(lines)


def _eval_bound(results: Results) -> list[str]:
    """Why label scoring cannot be much faster than a cached decoder of short answers: both pay the prompt pass."""
    if not results.has("eval:lora"):
        return []
    result = results.by_task["eval:lora"][0]["result"]
    seconds = result["seconds"]
    prompt = median(seconds["label_scoring"])
    decode = median(seconds["generate_and_parse"]) - prompt
    steps = result["mean_new_tokens"]
    return [
        "",
        f"Why: both methods pay for the same forward pass over the prompt ({result['mean_prompt_tokens']:.0f} tokens "
        f"on average); generate-and-parse then adds {steps:.0f} one-token steps on its KV cache. Here the prompt pass "
        f"took {prompt:.1f} s for {result['examples']} examples and the decoding steps {decode:.1f} s more, so no "
        "label scorer can be more than (prompt + decoding) / prompt faster than a cached decoder of answers this short; "
        "10x would need answers whose decoding costs nine prompt passes (long free-text answers, or a decoder without "
        "a KV cache). What label scoring saves besides time: no parse failures, and a probability for every label.",
    ]


def machine_section(results: Results) -> str:
    peaks = [run["result"]["fp32_flops"] for run in results.by_task[MATMUL_TASK]]
    peak = median(peaks)
    lines = [
        MACHINE_HEADING,
        "",
        f"Achieved training FLOP/s divided by the median fp32 matmul FLOP/s of the same cores ({peak / 1e9:.1f} GFLOP/s).",
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
        "| arm | useful GFLOP/s | useful / matmul | executed GFLOP/s | executed / matmul |",
        "|---|---|---|---|---|",
    ]
    for arm in results.training_arms():
        useful, executed = [], []
        for run in results.by_task[arm.name]:
            result = run["result"]
            useful.append(useful_flops(result["dims"], result["shapes"]) / result["seconds"])
            executed.append(executed_flops(result["dims"], result["shapes"]) / result["seconds"])
        lines.append(
            f"| {arm.title} | {with_spread([u / 1e9 for u in useful], 1)} | {100 * median(useful) / peak:.0f}% "
            f"| {with_spread([e / 1e9 for e in executed], 1)} | {100 * median(executed) / peak:.0f}% |"
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
            f"| {_ratio_cell(results, task, base)} | {with_spread(_step_seconds(results, task), 1)} "
            f"| {with_spread(results.peaks(task))} |"
        )
    return "\n".join(lines)


class _SettingsView:
    """Attribute access to a settings dict, for helpers written against BenchSettings."""

    def __init__(self, values: dict) -> None:
        self.__dict__.update(values)


def build_sections(results: dict, environment: dict) -> dict[str, str]:
    view = Results(results)
    sections = {SETUP_HEADING: setup_section(view, environment)}
    if "training" in results["parts"]:
        sections[TRAINING_HEADING] = training_section(view)
        sections[MACHINE_HEADING] = machine_section(view)
    if "eval" in results["parts"]:
        sections[EVAL_HEADING] = eval_section(view)
    if "scaling" in results["parts"]:
        sections[SCALING_HEADING] = scaling_section(view)
    return {heading: text for heading, text in sections.items() if text}
