"""Build the report of a sweep: collect the jobs, aggregate, judge sensitivity, write tables and figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from taskexpert.report.arms import is_study
from taskexpert.report.bootstrap import DEFAULT_DRAWS
from taskexpert.report.collect import DONE, Job, ReportError, collect_jobs, split_settings
from taskexpert.report.markdown import summary_markdown
from taskexpert.report.measures import (
    MetricChoice,
    calibrated_jobs,
    calibration_columns,
    choose_metric,
    measure_titles,
    metric_label,
    optimized_metrics,
    summary_metrics,
)
from taskexpert.report.planned import SweepPlan, read_plans
from taskexpert.report.plot_augmentation import write_augmentation_figure
from taskexpert.report.plots import write_figures
from taskexpert.report.study import Study, analyse_study
from taskexpert.report.study_tables import write_study_csv
from taskexpert.report.summarize import (
    Group,
    Series,
    Verdict,
    sensitivity_series,
    sensitivity_verdicts,
    summarize,
)
from taskexpert.report.tables import write_runs_csv, write_summary_csv
from taskexpert.utils.atomic import atomic_write_text

OPTUNA_RESULTS = "optimization_results.yaml"


@dataclass
class Report:
    """Everything the report shows; `written` lists the files in the output directory."""

    sweep_dir: Path
    out_dir: Path
    jobs: list[Job]
    varying: list[str]  # override keys that differ between jobs: extra grouping columns
    fixed: dict[str, str]  # override keys with the same value in every job
    metrics: list[str]  # the aggregated metrics (table columns): the jobs' tasks' headline measures
    choice: MetricChoice  # the metric of the figure and the verdict: by default the one the jobs optimised
    titles: dict[str, str]  # measure -> title, from the jobs' tasks
    optimized: list[
        str
    ]  # what the jobs optimised (returned to their sweeper): their tasks' metrics by default
    groups: list[Group]
    series: list[Series]
    verdicts: list[Verdict]
    plans: list[SweepPlan]
    study: Study | None = None  # an augmentation study (jobs with data_arm.json): its arms and verdict
    notes: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    @property
    def metric(self) -> str:
        """The metric of the figure and the verdict (of the first task, when each task has its own)."""
        return self.choice.metric

    @property
    def judged_on(self) -> str:
        """`test exact match`, or per task `trec: test macro-F1, gsm8k: test exact match`."""
        if not self.choice.per_task:
            return metric_label(self.choice.metric, self.titles)
        return ", ".join(
            f"{task}: {metric_label(metric, self.titles)}" for task, metric in self.choice.per_task.items()
        )


def _optuna_notes(sweep_dir: Path, optimized: list[str]) -> list[str]:
    path = sweep_dir / OPTUNA_RESULTS
    if not path.is_file():
        return []
    try:
        results = OmegaConf.to_container(OmegaConf.load(path))
    except Exception as error:
        return [f"{path}: cannot be read ({error})"]
    if not isinstance(results, dict) or "best_value" not in results:
        return []
    params = ", ".join(f"{key}={value}" for key, value in (results.get("best_params") or {}).items())
    value = (
        f"{optimized[0]} {results['best_value']}" if len(optimized) == 1 else f"value {results['best_value']}"
    )
    return [f"{OPTUNA_RESULTS}: best {value} with {params or 'no parameters'}."]


def analyse(
    sweep_dir: str | Path,
    metric: str | None = None,
    out_dir: str | Path | None = None,
    draws: int = DEFAULT_DRAWS,
) -> Report:
    """Read and aggregate a sweep without writing anything; `draws`: the paired bootstrap's, for a study."""
    sweep_dir = Path(sweep_dir)
    jobs = collect_jobs(sweep_dir)
    varying, fixed = split_settings(jobs)
    try:
        choice = choose_metric(jobs, metric)
    except ValueError as error:
        raise ReportError(f"{sweep_dir}: {error}") from None
    titles = measure_titles(jobs)
    metrics = summary_metrics(jobs)
    metrics += calibration_columns(jobs, metrics)
    metrics += [chosen for chosen in choice.metrics if chosen not in metrics]
    groups = summarize(jobs, varying, metrics)
    series = sensitivity_series(groups, choice)
    notes = choice.notes + [
        f"job {job.job}: {job.task_problem}; its numbers are in runs.csv only."
        for job in jobs
        if job.task_problem
    ]
    calibrated = calibrated_jobs(jobs)
    if calibrated:
        done = sum(job.status == DONE for job in jobs)
        notes.append(
            f"{len(calibrated)} of {done} finished jobs decide with calibrated label scores (eval.calibration): "
            "their validation and test columns are the calibrated decision (validation: on the items the offsets "
            "were fitted on); the (uncalibrated) columns are the plain argmax of the same runs."
        )
    if not any(job.status == DONE for job in jobs):
        notes.append("no job has finished yet: the tables list the configurations found, without results.")
    plans = read_plans(sweep_dir, jobs)
    notes += [plan.note for plan in plans if plan.note]
    optimized = optimized_metrics(jobs)
    notes += _optuna_notes(sweep_dir, optimized)
    study = None
    if is_study(jobs):
        if draws < 1:
            raise ReportError(
                f"--bootstrap {draws}: the paired bootstrap needs at least 1 draw (default 1000)"
            )
        study = analyse_study(jobs, choice, titles, draws)
        notes += study.notes
    return Report(
        sweep_dir=sweep_dir,
        out_dir=Path(out_dir) if out_dir is not None else sweep_dir,
        jobs=jobs,
        varying=varying,
        fixed=fixed,
        metrics=metrics,
        choice=choice,
        titles=titles,
        optimized=optimized,
        groups=groups,
        series=series,
        verdicts=sensitivity_verdicts(groups, series, titles),
        plans=plans,
        study=study,
        notes=notes,
    )


def build_report(
    sweep_dir: str | Path,
    out_dir: str | Path | None = None,
    metric: str | None = None,
    draws: int = DEFAULT_DRAWS,
) -> Report:
    """Write summary.csv, runs.csv, the figures and summary.md into `out_dir` (default: the sweep directory).
    An augmentation study's summary.csv has one row per arm, and its figure is augmentation.png."""
    report = analyse(sweep_dir, metric, out_dir, draws)
    out = report.out_dir
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out}: the output path is a file, not a directory (pass a directory to --out)")
    if report.study is not None:
        report.written.append(write_study_csv(out / "summary.csv", report.study))
    else:
        report.written.append(
            write_summary_csv(out / "summary.csv", report.groups, report.varying, report.metrics)
        )
    report.written.append(write_runs_csv(out / "runs.csv", report.jobs, report.varying))
    if report.study is not None:
        figure = write_augmentation_figure(out, report.study, report.titles)
        report.figures = [figure] if figure is not None else []
    else:
        plotted = [metric for metric in report.metrics if "/uncalibrated/" not in metric]
        report.figures = write_figures(out, report.series, report.groups, plotted, report.titles)
    report.written += report.figures
    report.written.append(atomic_write_text(out / "summary.md", summary_markdown(report)))
    return report
