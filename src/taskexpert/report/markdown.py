"""summary.md: the results table, the sensitivity verdict, the figures and the jobs without results."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskexpert.report.collect import DONE, MISSING, PRUNED
from taskexpert.report.measures import metric_label
from taskexpert.report.study_tables import study_cells, study_header
from taskexpert.report.summarize import method_name
from taskexpert.report.tables import (
    describe_context,
    format_value,
    group_cells,
    group_header,
    mean_std_cell,
    sensitivity_cells,
    sensitivity_header,
    shows_unfinished,
)

if TYPE_CHECKING:
    from taskexpert.report.build import Report


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_escape(cell) for cell in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(_escape(cell) for cell in row) + " |" for row in rows]
    return lines


def job_counts(report: Report) -> str:
    counts = {status: sum(job.status == status for job in report.jobs) for status in (DONE, PRUNED, MISSING)}
    invalid = len(report.jobs) - sum(counts.values())
    parts = [f"{counts[DONE]} done", f"{counts[PRUNED]} pruned", f"{counts[MISSING]} without metrics.json"]
    if invalid:
        parts.append(f"{invalid} unreadable")
    text = f"{len(report.jobs)} job directories: " + ", ".join(parts)
    not_started = sum(len(plan.not_started) for plan in report.plans)
    planned = [plan.planned_jobs for plan in report.plans if plan.planned_jobs is not None]
    if planned:
        text += f"; {sum(planned)} planned in multirun.yaml"
    if not_started:
        text += f", {not_started} never started"
    return text + "."


def _results_section(report: Report) -> list[str]:
    lines = ["## Results", ""]
    lines.append(
        "Mean ± sample standard deviation (ddof=1) over seeds; a configuration with a single seed shows its value "
        "alone (no spread to estimate). `seeds` counts the jobs with results; pruned jobs and jobs without "
        "metrics.json are not averaged (`no results`)."
    )
    lines.append("")
    unfinished = shows_unfinished(report.groups)
    header = group_header(report.varying, unfinished) + [
        metric_label(metric, report.titles) for metric in report.metrics
    ]
    rows = [
        group_cells(group, unfinished)
        + [mean_std_cell(group.mean.get(m), group.std.get(m)) for m in report.metrics]
        for group in report.groups
    ]
    return lines + markdown_table(header, rows) + [""]


def _sensitivity_section(report: Report) -> list[str]:
    lines = [f"## Sensitivity to the PEFT hyperparameter ({report.judged_on})", ""]
    lines.append(
        "Range = max − min of the configuration means across the method's grid; std of means = their sample "
        "standard deviation; seed std = the seed-to-seed standard deviation, averaged over the grid (the noise "
        "level to compare the range with)."
    )
    lines.append("")
    several_contexts = len({describe_context(verdict.context) for verdict in report.verdicts}) > 1
    for context_text in dict.fromkeys(describe_context(verdict.context) for verdict in report.verdicts):
        if several_contexts:
            lines += [f"### {context_text}", ""]
        series = [item for item in report.series if describe_context(item.context) == context_text]
        if series:
            lines += markdown_table(sensitivity_header(), [sensitivity_cells(item) for item in series]) + [""]
        for verdict in report.verdicts:
            if describe_context(verdict.context) == context_text:
                lines += [f"**{verdict.text}**" if verdict.less_sensitive else verdict.text, ""]
    for figure in report.figures:
        lines += [f"![{figure.stem}]({figure.name})", ""]
    return lines


def _study_section(report: Report) -> list[str]:
    study = report.study
    lines = [f"## Verdict ({report.judged_on})", ""]
    for verdict in study.verdicts:
        prefix = f"[{describe_context(verdict.context)}] " if verdict.context else ""
        lines += [
            f"{prefix}**{line}**" if verdict.best and index == 0 else prefix + line
            for index, line in enumerate(verdict.lines)
        ]
        lines.append("")
    lines += ["## Arms", ""]
    lines.append(
        "Metric: mean ± sample standard deviation (ddof=1) over seeds. Diff: the arm's metric minus the baseline "
        "arm `none`'s, paired by test item id within seed and averaged over seeds, with the 95% percentile "
        f"interval of a paired bootstrap over test items ({study.draws:,} draws, seed {study.bootstrap_seed}): "
        "an interval above 0 is a gain beyond noise, below 0 a loss beyond noise. Records: teacher records "
        "trained on; teacher calls: the calls the arm's data took, paid or answered from the teacher cache (what "
        "making it from scratch costs; the calls one run paid depend on what the cache held, and stay in "
        "data_arm.json); gain / 1k calls: diff × 1000 / calls (per USD: diff / cost, when priced)."
    )
    lines.append("")
    rows = [study_cells(arm, study) for arm in study.arms]
    lines += markdown_table(study_header(study, report.titles), rows) + [""]
    for figure in report.figures:
        lines += [f"![{figure.stem}]({figure.name})", ""]
    return lines


def _missing_section(report: Report) -> list[str]:
    lines = ["## Jobs without results", ""]
    unfinished = [job for job in report.jobs if job.status != DONE]
    not_started = [overrides for plan in report.plans for overrides in plan.not_started]
    if not unfinished and not not_started:
        return lines + ["None: every job finished.", ""]
    if unfinished:
        arm_of = {job.job: arm.label for arm in report.study.arms for job in arm.jobs} if report.study else {}
        header = ["job", *(["arm"] if arm_of else []), "status", "method", "hyperparameter", "value", "seed"]
        header.append("reason")
        rows = [
            [
                job.job,
                *([arm_of.get(job.job, "")] if arm_of else []),
                job.status,
                method_name(job.method),
                job.hyperparameter or "",
                format_value(job.value),
                "" if job.seed is None else str(job.seed),
                job.reason,
            ]
            for job in unfinished
        ]
        lines += markdown_table(header, rows) + [""]
    if not_started:
        lines += ["Planned in multirun.yaml but never started (no job directory):", ""]
        lines += [f"- `{' '.join(overrides)}`" for overrides in not_started] + [""]
    return lines


def metric_line(report: Report) -> str:
    """Which metric the jobs optimised (their task's) and which one the figure and verdict show."""
    optimized = ", ".join(f"`{metric}`" for metric in report.optimized) or "not recorded"
    return f"Optimised metric: {optimized}; the figure and verdict use {report.judged_on}."


def summary_markdown(report: Report) -> str:
    lines = ["# Sweep report", "", f"Sweep directory: `{report.sweep_dir}`", "", job_counts(report), ""]
    if report.fixed:
        fixed = ", ".join(f"`{key}={value}`" for key, value in report.fixed.items())
        lines += [f"The same in every job: {fixed}.", ""]
    lines += [metric_line(report), ""]
    if report.study is not None:
        lines[0] = "# Augmentation study report"
        lines += _study_section(report)
    else:
        lines += _results_section(report)
        lines += _sensitivity_section(report)
    lines += _missing_section(report)
    if report.notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in report.notes] + [""]
    return "\n".join(lines)
