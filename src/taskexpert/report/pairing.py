"""Pairing an arm's jobs with the baseline's, seed by seed and test item by item, for the paired bootstrap."""

from __future__ import annotations

from taskexpert.report.arm_result import ArmResult
from taskexpert.report.arms import BASELINE_ARM, PREDICTIONS_FILE, read_test_rows
from taskexpert.report.bootstrap import PairedBootstrap, SeedPair, TaskMetric, pair_rows
from taskexpert.report.collect import DONE, Job

CONSISTENCY = 1e-6  # metrics.json and the metric recomputed from predictions.jsonl agree to this


class _Rows:
    """Each job's predictions of the judged split, read once, and checked against its metrics.json: predictions
    of another run (an older job's file) would give an interval about the wrong numbers."""

    def __init__(self, metric: TaskMetric) -> None:
        self.metric, self.split, self._rows = metric, metric.prefix.rstrip("/"), {}

    def of(self, job: Job) -> list[dict]:
        if job.job not in self._rows:
            rows = read_test_rows(job, self.split)
            recorded = job.metrics.get(self.metric.metric)
            if recorded is not None:
                recomputed = self.metric.value(rows)
                if abs(recomputed - recorded) > CONSISTENCY:
                    raise ValueError(
                        f"{job.path / PREDICTIONS_FILE}: its {self.split} predictions give {self.metric.metric} "
                        f"{recomputed:.4f} but metrics.json says {recorded:.4f}; they are not of the same run "
                        "(rerun the job)"
                    )
            self._rows[job.job] = rows
        return self._rows[job.job]


def _pair(arm: ArmResult, baseline: ArmResult, bootstrap: PairedBootstrap, rows: _Rows) -> None:
    """Set the arm's paired difference to the baseline, or say why it has none."""
    baseline_by_seed: dict[int | None, Job] = {}
    for job in baseline.jobs:
        if job.status == DONE:
            baseline_by_seed.setdefault(job.seed, job)
    pairs, unpaired, problems = [], [], []
    for job in arm.jobs:
        if job.status != DONE:
            continue
        partner = baseline_by_seed.get(job.seed)
        if partner is None:
            unpaired.append(job.seed)
            continue
        try:
            arm_rows, baseline_rows = pair_rows(rows.of(job), rows.of(partner))
        except (ValueError, KeyError) as error:
            problems.append(str(error.args[0]))
            continue
        if not arm_rows:
            problems.append(f"seed {job.seed}: no item id in common with {BASELINE_ARM}'s job {partner.job}")
            continue
        pairs.append(SeedPair(job.seed, arm_rows, baseline_rows))
    missing = f"seed {', '.join(str(seed) for seed in unpaired)} not in {BASELINE_ARM}" if unpaired else ""
    if not pairs:
        why = "; ".join(filter(None, [missing, *problems])) or "no finished job"
        arm.pairing = f"no baseline pairs ({why})"
        return
    try:
        arm.difference = bootstrap.difference(pairs)
    except KeyError as error:
        arm.pairing = f"no interval: {error.args[0]}"
        return
    arm.pairing = "; ".join(filter(None, [f"unpaired: {missing}" if missing else "", *problems]))


def compare_with_baseline(arms: list[ArmResult], draws: int, bootstrap_seed: int) -> None:
    """Pair every arm of one context with its baseline arm `none`, seed by seed (see bootstrap.py)."""
    baselines = [arm for arm in arms if arm.is_baseline]
    others = [arm for arm in arms if not arm.is_baseline]
    if not baselines:
        for arm in others:
            arm.pairing = f"no baseline pairs (no arm {BASELINE_ARM} in this context)"
        return
    baseline = baselines[0]
    task = next((job.definition for job in baseline.jobs if job.definition is not None), None)
    if task is None:
        for arm in others:
            arm.pairing = f"no interval: the task of the {BASELINE_ARM} jobs cannot be read"
        return
    metric = TaskMetric(task, baseline.metric)
    bootstrap, rows = PairedBootstrap(metric, draws, bootstrap_seed), _Rows(metric)
    for arm in others:
        _pair(arm, baseline, bootstrap, rows)
