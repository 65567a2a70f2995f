"""The augmentation study's verdict: per data arm the metric over seeds, the paired difference to the baseline arm
`none` with its bootstrap interval, what the teacher's data cost, and one line saying which arm (if any) helped."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field

from taskexpert.report.arm_result import ArmResult, count, signed
from taskexpert.report.arms import BASELINE_ARM, ArmFile, read_arm_file
from taskexpert.report.bootstrap import BOOTSTRAP_SEED, CONFIDENCE, DEFAULT_DRAWS, PairedDifference
from taskexpert.report.collect import DONE, Job
from taskexpert.report.measures import SPLIT_NAMES, MetricChoice, metric_label
from taskexpert.report.pairing import compare_with_baseline
from taskexpert.report.summarize import method_name

# The order of the study's arms in tables and figures (the contract's options); others follow by name.
ARM_ORDER = (BASELINE_ARM, "rewrite", "new", "combined", "llm2llm", "rebase", "mix")
# Settings that make the arm, not the context an arm is compared in.
ARM_SETTING_PREFIXES = ("data_arm", "augment", "data.extra_train")


def _is_arm_setting(key: str) -> bool:
    return any(key == prefix or key.startswith(prefix + ".") for prefix in ARM_SETTING_PREFIXES)


@dataclass
class StudyVerdict:
    context: dict[str, str]
    lines: list[str]
    best: ArmResult | None = None  # the arm whose interval lies above 0 with the largest gain
    worse: list[ArmResult] = field(default_factory=list)  # arms whose interval lies below 0


@dataclass
class Study:
    arms: list[ArmResult]
    verdicts: list[StudyVerdict]
    draws: int
    bootstrap_seed: int
    context_keys: list[str]  # the keys that tell contexts apart (empty: one context)
    notes: list[str] = field(default_factory=list)


def _arm_rank(arm: ArmFile) -> tuple[int, str, int]:
    rank = ARM_ORDER.index(arm.name) if arm.name in ARM_ORDER else len(ARM_ORDER)
    return rank, arm.name, arm.rounds if arm.rounds is not None else 1 << 30


def _full_context(job: Job) -> dict[str, str]:
    peft = method_name(job.method) + (f" {job.hyperparameter}={job.value:g}" if job.value is not None else "")
    settings = {key: value for key, value in job.settings.items() if not _is_arm_setting(key)}
    return {"model": job.model, "peft": peft, **settings}


def _representative(files: list[ArmFile], label: str, notes: list[str]) -> ArmFile:
    """The arm's data_arm.json numbers: the same in every job of the arm, else their mean (and a note)."""
    readable = [item for item in files if not item.problem] or files
    chosen = readable[0]
    teacher = {}
    for name in {*chosen.teacher, *(key for item in readable for key in item.teacher)}:
        values = [item.teacher.get(name) for item in readable]
        known = [value for value in values if value is not None]
        teacher[name] = statistics.fmean(known) if known else None
        if len(set(values)) > 1:
            notes.append(
                f"arm {label}: teacher {name} differs between its jobs ({values}); the mean is shown."
            )
    records = [item.records for item in readable if item.records is not None]
    if len(set(records)) > 1:
        notes.append(f"arm {label}: records differ between its jobs ({records}); the mean is shown.")
    return ArmFile(
        name=chosen.name,
        methods=chosen.methods,
        rounds=chosen.rounds,
        records=statistics.fmean(records) if records else None,
        teacher=teacher,
        rounds_detail=chosen.rounds_detail,
    )


def _items_text(difference: PairedDifference, split: str) -> str:
    seeds = len(difference.seeds)
    low, high = min(difference.items), max(difference.items)
    items = f"{low}" if low == high else f"{low}–{high}"
    where = SPLIT_NAMES.get(split, split)
    return f"{seeds} seed{'s' if seeds != 1 else ''}, {items} {where} items per seed"


def _interval(difference: PairedDifference) -> str:
    return f"{signed(difference.difference)} [{signed(difference.low)}, {signed(difference.high)}]"


def _cost_text(arm: ArmResult) -> tuple[str, str]:
    """("at 30 teacher calls", ""): the calls the arm's data took, paid or found in the teacher cache. What one
    run paid depends on what the cache held (another arm's answers, a killed run's), so the verdict, like the
    data, does not; data_arm.json keeps the paid calls."""
    return f"at {count(arm.teacher('answers'))} teacher calls", ""


def _verdict(
    context: dict[str, str], arms: list[ArmResult], titles: Mapping[str, str], draws: int
) -> StudyVerdict:
    compared = [arm for arm in arms if not arm.is_baseline and arm.difference is not None]
    if not compared:
        return StudyVerdict(
            context,
            [
                f"No verdict: no arm has predictions paired by seed with the baseline arm {BASELINE_ARM} "
                "(see the diff column for why)."
            ],
        )
    metric = compared[0].metric
    label = metric_label(metric, titles)
    split = metric.split("/", 1)[0]
    method = f"{int(CONFIDENCE * 100)}% paired bootstrap interval, {draws:,} draws"
    better = [arm for arm in compared if arm.difference.above_zero]
    worse = [arm for arm in compared if arm.difference.below_zero]
    lines = []
    best = max(better, key=lambda arm: arm.difference.difference) if better else None
    if best is not None:
        lines.append(
            f"{best.label} raised {label} by {_interval(best.difference)} over plain fine-tuning "
            f"{_cost_text(best)[0]} ({_cost_text(best)[1]}{_items_text(best.difference, split)}; {method})."
        )
    else:
        widest = max(compared, key=lambda arm: len(arm.difference.seeds))
        lines.append(
            f"No arm beat the baseline beyond noise: every {label} interval reaches 0 or below "
            f"({_items_text(widest.difference, split)}; {method})."
        )
    for arm in worse:
        lines.append(
            f"{arm.label} lowered {label} by {_interval(arm.difference)} against plain fine-tuning "
            f"{_cost_text(arm)[0]}: worse beyond noise."
        )
    return StudyVerdict(context, lines, best, worse)


def analyse_study(
    jobs: list[Job],
    choice: MetricChoice,
    titles: Mapping[str, str],
    draws: int = DEFAULT_DRAWS,
    bootstrap_seed: int = BOOTSTRAP_SEED,
) -> Study:
    """Group the jobs by context and arm, and compare every arm with the baseline of its context."""
    notes: list[str] = []
    files = {job.job: read_arm_file(job) for job in jobs}
    notes += [files[job.job].problem for job in jobs if files[job.job].problem]
    contexts = {job.job: _full_context(job) for job in jobs}
    keys = list(dict.fromkeys(key for context in contexts.values() for key in context))
    context_keys = [key for key in keys if len({context.get(key) for context in contexts.values()}) > 1]
    grouped: dict[tuple, list[Job]] = {}
    for job in jobs:
        context = {key: contexts[job.job].get(key, "") for key in context_keys}
        grouped.setdefault((tuple(context.items()), files[job.job].key), []).append(job)
    arms = []
    for (context_items, _), members in grouped.items():
        context = dict(context_items)
        representative = _representative(
            [files[job.job] for job in members], files[members[0].job].name, notes
        )
        metric = choice.of(members[0].task)
        done = [job for job in members if job.status == DONE and metric in job.metrics]
        values = [job.metrics[metric] for job in done]
        arms.append(
            ArmResult(
                context=context,
                arm=representative,
                metric=metric,
                jobs=members,
                seeds=[job.seed for job in done],
                mean=statistics.fmean(values) if values else None,
                std=statistics.stdev(values) if len(values) > 1 else None,
            )
        )
    arms.sort(key=lambda arm: (list(arm.context.values()), _arm_rank(arm.arm)))
    verdicts = []
    for context in list(dict.fromkeys(tuple(arm.context.items()) for arm in arms)):
        in_context = [arm for arm in arms if tuple(arm.context.items()) == context]
        compare_with_baseline(in_context, draws, bootstrap_seed)
        verdicts.append(_verdict(dict(context), in_context, titles, draws))
    return Study(arms, verdicts, draws, bootstrap_seed, context_keys, notes)
