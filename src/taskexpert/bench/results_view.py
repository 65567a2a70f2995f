"""Benchmark results grouped for the report: runs by task, paired ratios, verdicts, FLOP rates, run notes."""

from __future__ import annotations

from collections import defaultdict

from taskexpert.bench.flops import executed_flops, useful_flops
from taskexpert.bench.stats import median, paired_ratios, ratio_text, with_spread
from taskexpert.bench.tasks import MATMUL_TASK, TrainArm, parse_eval_task


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

    def training_arms(self, among: list[TrainArm] | None = None) -> list[TrainArm]:
        """The training arms that ran (in run order), optionally only those `among` a part's arms."""
        ran = [TrainArm.parse(task) for task in self.by_task if task.startswith("train:")]
        return ran if among is None else [arm for arm in ran if arm in among]

    def eval_runs(self) -> list[tuple[str, dict]]:
        """(adapter, result) of each evaluation task."""
        return [
            (parse_eval_task(task)[0], runs[0]["result"])
            for task, runs in self.by_task.items()
            if task.startswith("eval:")
        ]

    def matmul_rate(self, bf16: bool) -> float:
        """The best round's matmul FLOP/s in the precision an arm computes in: load only ever lowers a matmul
        rate, so the highest round is the closest to what the cores can do (a median let one disturbed round of two
        inflate every arm's share of it)."""
        return max(
            [run["result"]["bf16_flops" if bf16 else "fp32_flops"] for run in self.by_task[MATMUL_TASK]]
        )


def baseline_b(arm: TrainArm) -> str:
    """The Trainer at the same precision: its fp32, or its usual bf16 recipe (`bf16=True`, fp32 base)."""
    return TrainArm("hf_trainer", arm.peft, "bf16-mixed" if arm.bf16 else "fp32").name


def baseline_c(arm: TrainArm) -> str | None:
    return TrainArm("pad512", "lora", "fp32").name if (arm.peft, arm.precision) == ("lora", "fp32") else None


def ratio_cell(results: Results, task: str, baseline: str | None, key: str = "tokens_per_second") -> str:
    if baseline is None or not results.has(baseline):
        return "—"
    if key == "peak_rss_mb":
        return ratio_text(paired_ratios(results.peaks(task), results.peaks(baseline)))
    return ratio_text(paired_ratios(results.values(task, key), results.values(baseline, key)))


def padding_share(results: Results, task: str) -> str:
    runs = results.by_task[task]
    shares = [1 - run["result"]["real_tokens"] / run["result"]["padded_tokens"] for run in runs]
    return f"{100 * median(shares):.0f}%"


def step_seconds(results: Results, task: str) -> list[float]:
    return [run["result"]["seconds"] / run["result"]["measured_steps"] for run in results.by_task[task]]


def run_note(results: Results, prefixes: tuple[str, ...]) -> str:
    """When, with which command, and under what load a section's figures were taken."""
    loads = [run["load_before"] for run in results.raw["runs"] if run["task"].startswith(prefixes)]
    meta = results.raw["meta"]
    return (
        f"Measured {meta['date']} with `{meta['command']}`; 1-minute load average at the start of these runs: "
        f"{with_spread(loads, 2)} on {meta['cores']} cores (other work on the machine included)."
    )


def verdict(ratios: list[float], target: float, at_least: bool = True) -> str:
    if not ratios:
        return "not measured"
    value = median(ratios)
    met = value >= target if at_least else value <= target
    return f"{'met' if met else 'MISSED'} ({value:.2f}x)"


def arm_flops(results: Results, arm: TrainArm) -> tuple[list[float], list[float]]:
    """(useful, executed) FLOP/s of each round of a training arm."""
    useful, executed = [], []
    for run in results.by_task[arm.name]:
        result = run["result"]
        useful.append(useful_flops(result["dims"], result["shapes"]) / result["seconds"])
        executed.append(executed_flops(result["dims"], result["shapes"]) / result["seconds"])
    return useful, executed
