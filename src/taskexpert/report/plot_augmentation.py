"""augmentation.png: the metric against the teacher calls each arm's data took, the baseline as a band, and
beside it the paired difference to the baseline with its bootstrap interval. LLM2LLM arms that train on different
numbers of rounds are one line, a point per round."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure

from taskexpert.report.arm_result import ArmResult
from taskexpert.report.measures import metric_label
from taskexpert.report.plots import save_png
from taskexpert.report.study import Study
from taskexpert.report.tables import describe_context

AUGMENTATION_FIGURE = "augmentation.png"


def _line_name(arm: ArmResult) -> str:
    """Arms of one method (or method list) are one line; LLM2LLM's rounds are its points."""
    return " + ".join(arm.arm.methods) or arm.name


def _answers(arm: ArmResult) -> float:
    answers = arm.teacher("answers")
    return float(answers) if answers is not None else 0.0


def _lines(arms: list[ArmResult]) -> dict[str, list[ArmResult]]:
    lines: dict[str, list[ArmResult]] = {}
    for arm in arms:
        lines.setdefault(_line_name(arm), []).append(arm)
    return {name: sorted(members, key=_answers) for name, members in lines.items()}


def _annotate_rounds(axis, members: list[ArmResult], heights: list[float], colour: str) -> None:
    for arm, height in zip(members, heights, strict=True):
        made = len(arm.arm.rounds_detail)
        text = f"r{arm.arm.rounds}" if arm.arm.rounds is not None else f"r1..{made}" if made else ""
        if text and not math.isnan(height):
            axis.annotate(
                text,
                (_answers(arm), height),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize="x-small",
                color=colour,
            )


def _draw_metric(axis, baseline: ArmResult | None, arms: list[ArmResult], colours: dict[str, str]) -> None:
    if baseline is not None and baseline.mean is not None:
        spread = (
            f": mean ± std, n = {len(baseline.seeds)}"
            if baseline.std is not None
            else f", n = {len(baseline.seeds)}"
        )
        axis.axhline(baseline.mean, color="0.35", linestyle="--", label=f"none (no teacher data){spread}")
        if baseline.std is not None:
            axis.axhspan(baseline.mean - baseline.std, baseline.mean + baseline.std, color="0.35", alpha=0.12)
    for name, members in _lines(arms).items():
        shown = [arm for arm in members if arm.mean is not None]
        if not shown:
            continue
        means = [arm.mean for arm in shown]
        errors = [math.nan if arm.std is None else arm.std for arm in shown]
        _draw_arm_line(axis, shown, means, errors, colours[name], name)


def _draw_arm_line(axis, shown: list[ArmResult], values: list[float], errors, colour: str, name: str) -> None:
    """One method's arms against the teacher calls they took, with error bars and their rounds labelled."""
    axis.errorbar(
        [_answers(arm) for arm in shown],
        values,
        yerr=errors,
        marker="o",
        capsize=4,
        linewidth=1.6,
        color=colour,
        label=name,
    )
    _annotate_rounds(axis, shown, values, colour)


def _draw_difference(axis, arms: list[ArmResult], colours: dict[str, str]) -> None:
    axis.axhline(0.0, color="0.35", linestyle="--", label="no difference")
    for name, members in _lines(arms).items():
        shown = [arm for arm in members if arm.difference is not None]
        if not shown:
            continue
        differences = [arm.difference.difference for arm in shown]
        below = [arm.difference.difference - arm.difference.low for arm in shown]
        above = [arm.difference.high - arm.difference.difference for arm in shown]
        _draw_arm_line(axis, shown, differences, [below, above], colours[name], name)


def augmentation_figure(study: Study, titles: Mapping[str, str] | None = None) -> Figure | None:
    """One row per context: the metric (mean ± std over seeds) and the paired difference (95% interval)."""
    compared = [arm for arm in study.arms if not arm.is_baseline and arm.mean is not None]
    if not compared:
        return None
    contexts = list(dict.fromkeys(tuple(arm.context.items()) for arm in study.arms))
    colours = {name: f"C{index % 10}" for index, name in enumerate(_lines(compared))}
    figure = Figure(figsize=(12.8, 4.6 * len(contexts)), layout="constrained")
    rows = figure.subplots(len(contexts), 2, squeeze=False)
    for (metric_axis, difference_axis), context in zip(rows, contexts, strict=True):
        in_context = [arm for arm in study.arms if tuple(arm.context.items()) == context]
        baseline = next((arm for arm in in_context if arm.is_baseline), None)
        others = [arm for arm in in_context if not arm.is_baseline]
        label = metric_label(in_context[0].metric, titles)
        _draw_metric(metric_axis, baseline, others, colours)
        _draw_difference(difference_axis, others, colours)
        title = describe_context(dict(context))
        metric_axis.set_ylabel(label)
        metric_axis.set_title(
            f"{label}: mean ± std over seeds" + (f" ({title})" if title else ""), fontsize="medium"
        )
        difference_axis.set_ylabel(f"{label} − none")
        difference_axis.set_title(
            f"paired difference to none, {study.draws:,}-draw bootstrap 95% interval", fontsize="medium"
        )
        for axis in (metric_axis, difference_axis):
            axis.set_xlim(left=0)  # the baseline took no teacher calls
            axis.set_xlabel("teacher calls the arm's data took")
            axis.grid(True, alpha=0.3)
            axis.legend(fontsize="small")
    figure.suptitle("Is augmentation worth it? The metric against the teacher's work", fontweight="bold")
    note = (
        "Points: arms (LLM2LLM: rN = trained on rounds 1..N). Band: the baseline's mean ± std over seeds. "
        "Right: the difference is paired by test item within seed, averaged over seeds."
    )
    figure.text(0.5, -0.02, note, ha="center", va="top", fontsize="small", color="0.3")
    return figure


def write_augmentation_figure(
    out_dir: Path, study: Study, titles: Mapping[str, str] | None = None
) -> Path | None:
    figure = augmentation_figure(study, titles)
    return None if figure is None else save_png(figure, out_dir / AUGMENTATION_FIGURE)
