"""The figures: metric against the PEFT hyperparameter (the paper's figure), and per-method robustness bars."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure

from taskexpert.report.collect import FULL_FINE_TUNING
from taskexpert.report.measures import metric_label
from taskexpert.report.summarize import Group, Series, group_context, method_name
from taskexpert.report.tables import describe_context

COLUMNS = 3


def save_png(figure: Figure, path: Path) -> Path:
    """Render to a temporary file beside `path`, then rename: a reader never sees half a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; a figure is as readable as any file
        figure.savefig(temporary, format="png", dpi=120, bbox_inches="tight")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _panels(count: int, panel_size: tuple[float, float]) -> tuple[Figure, list]:
    columns = min(count, COLUMNS)
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(panel_size[0] * columns, panel_size[1] * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel().tolist()
    for unused in axes[count:]:
        unused.set_visible(False)
    return figure, axes[:count]


def _seed_note(series: list[Series]) -> str:
    counts = sorted({group.n_seeds for item in series for group in item.points})
    seeds = f"n = {counts[0]}" if len(counts) == 1 else f"n = {counts[0]}–{counts[-1]}"
    return (
        f"Points: mean over seeds; error bars: ±1 sample std over seeds ({seeds} per point; none when n = 1)."
    )


def _draw_full_fine_tuning(axis, groups: list[Group], metric: str) -> None:
    for group in groups:
        mean, std = group.mean.get(metric), group.std.get(metric)
        if mean is None:
            continue
        axis.axhline(mean, color="0.35", linestyle="--", label=f"full fine-tuning (n = {group.n_seeds})")
        if std is not None:
            axis.axhspan(mean - std, mean + std, color="0.35", alpha=0.12)


def sensitivity_figure(
    series: list[Series], groups: list[Group], titles: Mapping[str, str] | None = None
) -> Figure | None:
    """Metric against the hyperparameter value on a log2 axis, one line per method, one panel per context
    (each series is seen through its own metric: its task's)."""
    plotted = [item for item in series if item.points]
    if not plotted:
        return None
    contexts = list(dict.fromkeys(describe_context(item.context) for item in plotted))
    labels = list(dict.fromkeys(item.label for item in plotted))
    # one colour per line, the same in every panel
    colours = {label: f"C{index % 10}" for index, label in enumerate(labels)}
    figure, axes = _panels(len(contexts), (6.4, 4.6))
    for axis, context in zip(axes, contexts, strict=True):
        in_context = [item for item in plotted if describe_context(item.context) == context]
        metric = in_context[0].metric
        values = sorted({value for item in in_context for value in item.values})
        for item in in_context:
            errors = [math.nan if std is None else std for std in item.seed_stds]
            axis.errorbar(
                item.values,
                item.means,
                yerr=errors,
                marker="o",
                capsize=4,
                linewidth=1.8,
                color=colours[item.label],
                label=f"{item.label} ({item.hyperparameter})",
            )
        full = [
            g
            for g in groups
            if g.method == FULL_FINE_TUNING and describe_context(group_context(g)) == context
        ]
        _draw_full_fine_tuning(axis, full, metric)
        logarithmic = bool(values) and min(values) > 0  # both Dr. LLaMA grids double: 32, 64, 128, 256
        if logarithmic:
            axis.set_xscale("log", base=2)
            axis.minorticks_off()
        axis.set_xticks(values, [f"{value:g}" for value in values])
        hyperparameters = " / ".join(dict.fromkeys(f"{i.hyperparameter} ({i.label})" for i in in_context))
        axis.set_xlabel(f"{hyperparameters}, log2 scale" if logarithmic else hyperparameters)
        axis.set_ylabel(metric_label(metric, titles))
        axis.set_title(context, fontsize="medium")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize="small")
    judged = {item.metric for item in plotted}
    measured = metric_label(judged.pop(), titles) if len(judged) == 1 else "each task's metric"
    figure.suptitle(f"Sensitivity of {measured} to the PEFT hyperparameter", fontweight="bold")
    figure.text(0.5, -0.02, _seed_note(plotted), ha="center", va="top", fontsize="small", color="0.3")
    return figure


def _largest_spread(series: list[Series], metrics: list[str]) -> float:
    """The tallest bar of any robustness figure, so that all of them share one y scale and compare by eye."""
    heights = [0.0]
    for item in series:
        for metric in metrics:
            view = item.for_metric(metric)
            heights += [view.spread or 0.0, *(std or 0.0 for std in view.seed_stds)]
    return max(heights)


def robustness_figure(
    series: list[Series],
    metrics: list[str],
    y_limit: float | None = None,
    titles: Mapping[str, str] | None = None,
) -> Figure | None:
    """Per metric: the seed std at each grid value next to the range of the means across the grid."""
    plotted = [item for item in series if len(item.points) > 0]
    if not plotted:
        return None
    figure, axes = _panels(len(plotted), (8.6, 4.4))
    for axis, item in zip(axes, plotted, strict=True):
        shown = [metric for metric in metrics if item.for_metric(metric).points]
        values = sorted({value for metric in shown for value in item.for_metric(metric).values})
        colours = colormaps["Blues"]([0.35 + 0.55 * i / max(len(values) - 1, 1) for i in range(len(values))])
        width = 0.8 / (len(values) + 1)
        for index, value in enumerate(values):
            heights = []
            for metric in shown:
                view = item.for_metric(metric)
                std = view.seed_stds[view.values.index(value)] if value in view.values else None
                heights.append(0.0 if std is None else std)
            positions = [m + (index - len(values) / 2) * width for m in range(len(shown))]
            axis.bar(
                positions,
                heights,
                width,
                color=colours[index],
                label=f"seed std, {item.hyperparameter}={value:g}",
            )
        spreads = [item.for_metric(metric).spread for metric in shown]
        positions = [m + (len(values) / 2) * width for m in range(len(shown))]
        bars = axis.bar(
            positions,
            [0.0 if spread is None else spread for spread in spreads],
            width,
            color="tab:orange",
            edgecolor="black",
            label="range of the means over the grid",
        )
        axis.bar_label(bars, labels=["–" if s is None else f"{s:.3f}" for s in spreads], fontsize="x-small")
        axis.set_xticks(
            range(len(shown)), [metric_label(metric, titles).replace(" ", "\n", 1) for metric in shown]
        )
        axis.set_ylabel("spread (metric units)")
        axis.set_title(describe_context(item.context | item.variant), fontsize="medium")
        axis.grid(True, axis="y", alpha=0.3)
        axis.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        if y_limit:
            axis.set_ylim(0, y_limit)
    method = plotted[0].method
    figure.suptitle(
        f"{method_name(method)[:1].upper() + method_name(method)[1:]}: seed noise vs. sensitivity to "
        f"{plotted[0].hyperparameter}",
        fontweight="bold",
    )
    note = "Bars: seed-to-seed sample std at each grid value, and max − min of the means across the grid."
    if y_limit:
        note += " The y axis is shared by all robustness figures of the report."
    figure.text(0.5, -0.02, note, ha="center", va="top", fontsize="small", color="0.3")
    return figure


def write_figures(
    out_dir: Path,
    series: list[Series],
    groups: list[Group],
    metrics: list[str],
    titles: Mapping[str, str] | None = None,
) -> list[Path]:
    """sensitivity.png and robustness_<method>.png for every method with a hyperparameter grid that has results."""
    written = []
    figure = sensitivity_figure(series, groups, titles)
    if figure is not None:
        written.append(save_png(figure, out_dir / "sensitivity.png"))
    y_limit = 1.12 * _largest_spread(series, metrics)  # room for the value labels
    for method in dict.fromkeys(item.method for item in series):
        figure = robustness_figure(
            [item for item in series if item.method == method], metrics, y_limit, titles
        )
        if figure is not None:
            written.append(save_png(figure, out_dir / f"robustness_{method}.png"))
    return written
