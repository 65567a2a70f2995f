"""The "Evaluation throughput" section: label scoring against generate-and-parse, in fp32 and bf16."""

from __future__ import annotations

from taskexpert.bench.results_view import Results, run_note, verdict
from taskexpert.bench.stats import median, paired_ratios, ratio_text, with_spread

EVAL_HEADING = "## Evaluation throughput"


def eval_section(results: Results) -> str:
    lines = [
        EVAL_HEADING,
        "",
        "Examples per second on the same full-length examples and the same adapter (taught the answer format first in a "
        f"short untimed fp32 run), batch size {results.raw['settings']['eval_batch_size']}, generation up to "
        f"{results.raw['settings']['eval_max_new_tokens']} new tokens, greedy. Label scoring: one forward pass, logits "
        "at the last position only. Generate-and-parse: `generate` with its KV cache for LoRA; for prefix tuning our "
        "own KV-cached greedy loop (see README: `generate` drops the prefix). bf16 rows: the same fp32 adapter on the "
        "base stored in bf16, as a `bf16-base` run evaluates; all rows of an adapter interleaved in one process.",
        "",
        "| adapter | precision | label scoring ex/s | generate-and-parse ex/s | label scoring vs generate "
        "| predictions differ | parse failures | new tokens per example |",
        "|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for adapter, result in results.eval_runs():
        for precision, measured in result["by_precision"].items():
            scoring, generating = (
                measured["examples_per_second"][k] for k in ("label_scoring", "generate_and_parse")
            )
            ratios = paired_ratios(scoring, generating)
            lines.append(
                f"| {adapter} | {precision} | {with_spread(scoring, 2)} | {with_spread(generating, 2)} "
                f"| {ratio_text(ratios)} | {100 * measured['disagreement_rate']:.0f}% "
                f"| {100 * measured['parse_failure_rate']:.0f}% | {measured['mean_new_tokens']:.1f} |"
            )
            if precision == "fp32":
                verdicts.append(
                    f"- {adapter}: label scoring at least 10x generate-and-parse: {verdict(ratios, 10.0)}."
                )
    bf16_lines = eval_bf16_table(results)
    lines += ["", "Target:", *verdicts, *_eval_bound(results)]
    if bf16_lines:
        lines += ["", *bf16_lines]
    lines += ["", run_note(results, ("eval:",))]
    return "\n".join(lines)


def eval_bf16_ratios(result: dict, method: str) -> list[float]:
    """Round-by-round bf16 / fp32 examples per second of one method."""
    rates = {p: result["by_precision"][p]["examples_per_second"][method] for p in ("fp32", "bf16")}
    return paired_ratios(rates["bf16"], rates["fp32"])


def eval_bf16_table(results: Results) -> list[str]:
    """bf16 against fp32 evaluation of the same adapter: speed and agreement; empty where bf16 did not run."""
    rows = [(adapter, result) for adapter, result in results.eval_runs() if "bf16" in result["by_precision"]]
    if not rows:
        return []
    lines = [
        "bf16 against fp32 (same adapter, same examples):",
        "",
        "| adapter | label scoring bf16 / fp32 | generate-and-parse bf16 / fp32 | label predictions agree "
        "| largest label log-prob difference | generated labels agree |",
        "|---|---|---|---|---|---|",
    ]
    for adapter, result in rows:
        agreement = result["bf16_vs_fp32"]
        lines.append(
            f"| {adapter} | {ratio_text(eval_bf16_ratios(result, 'label_scoring'))} "
            f"| {ratio_text(eval_bf16_ratios(result, 'generate_and_parse'))} "
            f"| {100 * agreement['label_agreement']:.0f}% | {agreement['max_label_score_difference']:.3f} "
            f"| {100 * agreement['generated_label_agreement']:.0f}% |"
        )
    return lines


def _eval_bound(results: Results) -> list[str]:
    """Why label scoring cannot be much faster than a cached decoder of short answers: both pay the prompt pass."""
    lora = [result for adapter, result in results.eval_runs() if adapter == "lora"]
    if not lora:
        return []
    result = lora[0]
    seconds = result["by_precision"]["fp32"]["seconds"]
    prompt = median(seconds["label_scoring"])
    decode = median(seconds["generate_and_parse"]) - prompt
    steps = result["by_precision"]["fp32"]["mean_new_tokens"]
    return [
        "",
        f"Why: both methods pay for the same forward pass over the prompt ({result['mean_prompt_tokens']:.0f} tokens "
        f"on average); generate-and-parse then adds {steps:.0f} one-token steps on its KV cache. Here (fp32) the prompt "
        f"pass took {prompt:.1f} s for {result['examples']} examples and the decoding steps {decode:.1f} s more, so no "
        "label scorer can be more than (prompt + decoding) / prompt faster than a cached decoder of answers this short; "
        "10x would need answers whose decoding costs nine prompt passes (long free-text answers, or a decoder without "
        "a KV cache). What label scoring saves besides time: no parse failures, and a probability for every label.",
    ]
