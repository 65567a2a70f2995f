"""The study loop: ask a batch of trials, launch them as Hydra jobs, tell Optuna how each ended, repeat."""

from __future__ import annotations

import logging
import math
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import CategoricalDistribution, check_distribution_compatibility
from optuna.trial import Trial, TrialState

from taskexpert.utils.atomic import atomic_write_text
from taskexpert.utils.secrets import redact_text
from taskexpert.utils.sqlite_locks import DatabaseLockedError

from . import _study
from ._distinct import DistinctSampler, FinitePoints, finite_points, held_param_sets
from ._errors import SweepAbortedError, SweepConfigError, SweepStorageLockedError
from ._factories import (
    build_pruner,
    build_sampler,
    pruner_name,
    pruner_target,
    sampler_name,
    sampler_seed,
)
from ._liveness import OWNER_ATTR, Heartbeat, current_owner
from ._passwords import keep_passwords_out_of_jobs
from ._results import study_summary, write_results
from ._search_space import SearchSpace, format_value, parse_search_space

log = logging.getLogger(__name__)

TRIAL_KEY = "optuna_trial"  # the job config key that names its trial (see _TrialOverrides)
ERROR_TEXT_LIMIT = 2000  # characters of an error kept as a trial attribute


def run_study(
    settings: Any,
    arguments: list[str],
    config: DictConfig,
    hydra_context: Any,
    launcher: Any,
    validate_batch: Callable[[Sequence[Sequence[str]]], None],
) -> None:
    try:
        _run_study(settings, arguments, config, hydra_context, launcher, validate_batch)
    except DatabaseLockedError as error:  # locked through every retry: one line, no traceback
        raise SweepStorageLockedError(str(error)) from None


def _run_study(
    settings: Any,
    arguments: list[str],
    config: DictConfig,
    hydra_context: Any,
    launcher: Any,
    validate_batch: Callable[[Sequence[Sequence[str]]], None],
) -> None:
    _check_settings(settings)
    space = parse_search_space(settings.params, arguments, hydra_context.config_loader)
    if not space.params:
        log.warning("nothing to search: no key of hydra.sweeper.params or the command line is a sweep")
    is_grid = sampler_name(settings.sampler) == "grid"
    points = finite_points(space)
    n_trials = _n_trials(settings.n_trials, space, is_grid, points if settings.distinct_params else None)
    # the grid sampler is built to check its keywords; the loop enqueues the grid's points itself (_next_trial)
    grid_sampler = build_sampler(settings.sampler, space.grid()) if is_grid else None
    pruner_spec = pruner_target(settings.pruner)
    labels = (sampler_name(settings.sampler), pruner_name(settings.pruner))

    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    url = _study.storage_url(settings.storage, sweep_dir)
    job_url = keep_passwords_out_of_jobs(config, space, url)
    atomic_write_text(sweep_dir / "multirun.yaml", redact_text(OmegaConf.to_yaml(config)))
    name = settings.study_name or _study.default_study_name(sweep_dir, str(config.hydra.job.name))
    storage = _study.open_storage(url, settings.lock_timeout)
    # the grid's values are handed out exactly as written, including float ranges
    distributions = (
        {param.name: CategoricalDistribution(param.grid_values) for param in space.params}
        if is_grid
        else space.distributions()
    )
    sampler = grid_sampler or DistinctSampler(
        lambda seed: build_sampler(settings.sampler, seed=seed),
        sampler_seed(settings.sampler),
        distributions,
        points,
        distinct=settings.distinct_params,
    )
    study = _study.load_or_create_study(
        storage, name, settings.direction, sampler, build_pruner(settings.pruner)
    )
    _check_search_space(study, distributions)
    recovered = _study.recover_interrupted(study, settings.stale_after)
    log.info(
        "Optuna study %r in %s: %s, %s sampler, %s pruner, %d trials (%d finished, %d interrupted ones re-queued)",
        name, _study.redacted(url), settings.direction, *labels, n_trials, _study.count_trials(study).finished,
        recovered,
    )  # fmt: skip
    trial_overrides = _TrialOverrides(job_url, name, pruner_spec, settings.lock_timeout)
    with Heartbeat(storage, settings.heartbeat_interval) as heartbeat:
        while True:
            _study.recover_interrupted(study, settings.stale_after)  # also those of other, dead sweepers
            counts = _study.count_trials(study)
            remaining = n_trials - counts.finished - counts.running
            if remaining <= 0:
                break
            trials = []
            for _ in range(min(settings.n_jobs, remaining)):
                trial = _next_trial(study, distributions, points, is_grid, settings.distinct_params)
                if trial is None:
                    break
                trials.append(trial)
            if not trials:
                log.info(
                    "every point of the search space has run or is running: the study ends with %d trials",
                    counts.finished,
                )
                break
            heartbeat.track([trial._trial_id for trial in trials])
            try:
                returns = _launch(trials, space, trial_overrides, launcher, validate_batch)
            except BaseException:
                for (
                    trial
                ) in trials:  # stopped by Ctrl-C, SIGTERM or a launcher error: the next run redoes them
                    _study.mark_interrupted(study, study._storage.get_trial(trial._trial_id), requeue=True)
                write_results(sweep_dir, study_summary(study, url, n_trials, *labels))
                raise
            finally:
                heartbeat.track([])
            for trial, job_return in zip(trials, returns, strict=True):
                _tell(study, trial, job_return)
            write_results(sweep_dir, study_summary(study, url, n_trials, *labels))
            _check_failure_rate(study, settings)
    summary = study_summary(study, url, n_trials, *labels)
    write_results(sweep_dir, summary)
    log.info(
        "Study %r done: %s; best value %s with %s",
        name,
        summary["trials"],
        summary["best_value"],
        summary["best_params"],
    )


def _check_settings(settings: Any) -> None:
    if not 0.0 <= settings.max_failure_rate <= 1.0:
        raise SweepConfigError(
            f"hydra.sweeper.max_failure_rate must lie in [0, 1], got {settings.max_failure_rate}"
        )
    if settings.n_jobs < 1:
        raise SweepConfigError(f"hydra.sweeper.n_jobs must be at least 1, got {settings.n_jobs}")
    if settings.heartbeat_interval <= 0 or settings.stale_after <= settings.heartbeat_interval:
        raise SweepConfigError(
            "hydra.sweeper.stale_after must exceed hydra.sweeper.heartbeat_interval, and both be positive "
            f"(got {settings.stale_after} and {settings.heartbeat_interval})"
        )


def _n_trials(
    n_trials: int | None, space: SearchSpace, is_grid: bool, distinct_points: FinitePoints | None
) -> int:
    if not is_grid:
        if n_trials is None or n_trials < 1:
            raise SweepConfigError(f"hydra.sweeper.n_trials must be a positive number, got {n_trials}")
        if distinct_points is not None and n_trials > distinct_points.size:
            log.warning(
                "hydra.sweeper.n_trials=%d exceeds the %d points of the search space: the study ends once each "
                "has run (hydra.sweeper.distinct_params=false allows repeats)",
                n_trials,
                distinct_points.size,
            )
        return n_trials
    grid_size = space.grid_size()
    if n_trials is None or n_trials >= grid_size:
        return grid_size
    log.warning("hydra.sweeper.n_trials=%d covers only part of the %d-point grid", n_trials, grid_size)
    return n_trials


def _check_search_space(study: optuna.Study, distributions: dict[str, Any]) -> None:
    """Optuna refuses to change a parameter's kind, scale or choices within a study: say so before asking."""
    earlier: dict[str, Any] = {}
    for trial in study.get_trials(deepcopy=False):
        earlier.update(trial.distributions)
    for name, distribution in distributions.items():
        if name not in earlier:
            continue
        try:
            check_distribution_compatibility(earlier[name], distribution)
        except ValueError as error:
            raise SweepConfigError(
                f"hydra.sweeper.params.{name}: {error} Study {study.study_name!r} has {earlier[name]}; keep it, "
                "or start a new study (another hydra.sweep.dir or hydra.sweeper.study_name)"
            ) from None
    if earlier and set(earlier) != set(distributions):
        log.warning(
            "the searched keys %s differ from the study's earlier ones %s",
            sorted(distributions),
            sorted(earlier),
        )


def _next_trial(
    study: optuna.Study,
    distributions: dict[str, Any],
    points: FinitePoints | None,
    is_grid: bool,
    distinct: bool,
) -> Trial | None:
    """The next trial: a queued one first; for a grid, the first grid point nobody holds. None when every point
    of a finite space is held (a grid always; other samplers with distinct_params)."""
    queued = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    if points is not None and (is_grid or distinct) and not queued:
        held = held_param_sets(study)
        if is_grid:
            point = next(points.unheld(held), None)
            if point is None:
                return None
            study.enqueue_trial(point)
        elif points.held_count(held) >= points.size:
            return None
    return _ask(study, distributions)


def _ask(study: optuna.Study, distributions: dict[str, Any]) -> Trial:
    trial = study.ask(fixed_distributions=distributions)
    trial.set_user_attr(OWNER_ATTR, current_owner())
    return trial


class _TrialOverrides:
    """The overrides that tell a job which trial it is, so its pruning callback can report to it."""

    def __init__(
        self, storage_url: str, study_name: str, pruner_spec: dict[str, Any], lock_timeout: float
    ) -> None:
        self._common = [
            f"++{TRIAL_KEY}.storage={format_value(storage_url)}",
            f"++{TRIAL_KEY}.study_name={format_value(study_name)}",
            f"++{TRIAL_KEY}.pruner={format_value(pruner_spec)}",
            f"++{TRIAL_KEY}.lock_timeout={format_value(float(lock_timeout))}",
        ]

    def for_trial(self, trial: Trial) -> list[str]:
        return [
            *self._common,
            f"++{TRIAL_KEY}.trial_id={trial._trial_id}",
            f"++{TRIAL_KEY}.number={trial.number}",
        ]


def _launch(
    trials: list[Trial],
    space: SearchSpace,
    trial_overrides: _TrialOverrides,
    launcher: Any,
    validate_batch: Callable[[Sequence[Sequence[str]]], None],
) -> list[JobReturn]:
    """Job number = trial number, so job directories never collide across resumes or sweepers of one sweep dir."""
    batch = []
    for trial in trials:
        overrides = space.overrides_for(trial.params)
        trial.set_user_attr("overrides", overrides)
        batch.append([*overrides, *trial_overrides.for_trial(trial)])
    try:
        validate_batch(batch)
    except Exception as error:
        for trial in trials:
            trial.set_user_attr(_study.FAIL_REASON_ATTR, _study.INVALID_CONFIG)
            trial.set_user_attr(_study.ERROR_ATTR, _error_text(error))
            _tell_state(trial.study, trial, None, TrialState.FAIL)
        raise SweepConfigError(f"the jobs' configs cannot be composed: {error}") from error
    returns: list[JobReturn] = []
    start = 0
    for end in range(1, len(trials) + 1):  # one launch per run of consecutive trial numbers
        if end == len(trials) or trials[end].number != trials[end - 1].number + 1:
            returns += launcher.launch(batch[start:end], initial_job_idx=trials[start].number)
            start = end
    return returns


def _tell(study: optuna.Study, trial: Trial, job_return: JobReturn) -> None:
    job_dir = _job_dir(job_return)
    if job_dir:
        trial.set_user_attr("job_dir", job_dir)
    state, value, error = _outcome(job_return)
    if state == TrialState.FAIL:
        trial.set_user_attr(
            _study.FAIL_REASON_ATTR, "invalid_value" if job_return.status == JobStatus.COMPLETED else "error"
        )
        trial.set_user_attr(_study.ERROR_ATTR, error)
        log.warning("trial %d failed: %s", trial.number, error)
    elif state == TrialState.PRUNED:
        log.info("trial %d pruned: %s", trial.number, error)
    _tell_state(study, trial, value if state == TrialState.COMPLETE else None, state)


def _tell_state(study: optuna.Study, trial: Trial, value: float | None, state: TrialState) -> None:
    try:
        study.tell(trial, value, state=state)
    except RuntimeError as stop_error:  # the grid sampler calls Study.stop() once its grid is done
        if "Study.stop" not in str(stop_error):
            raise


def _outcome(job_return: JobReturn) -> tuple[TrialState, float | None, str]:
    if job_return.status == JobStatus.COMPLETED:
        value = job_return.return_value
        try:
            number = float(value)
        except (TypeError, ValueError):
            return TrialState.FAIL, None, f"the job returned {value!r}, not a number"
        if math.isnan(number):
            return TrialState.FAIL, None, "the job returned NaN"
        return TrialState.COMPLETE, number, ""
    error = job_return._return_value  # what the job raised; the public property re-raises it
    if isinstance(error, optuna.TrialPruned):
        return TrialState.PRUNED, None, str(error)
    if isinstance(error, BaseException):
        log.debug("".join(traceback.format_exception(error)))
        return TrialState.FAIL, None, _error_text(error)
    return TrialState.FAIL, None, f"the job ended with status {job_return.status.name}"


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:ERROR_TEXT_LIMIT]


def _job_dir(job_return: JobReturn) -> str | None:
    try:
        return str(job_return.hydra_cfg.hydra.runtime.output_dir)
    except Exception:
        return None


def _check_failure_rate(study: optuna.Study, settings: Any) -> None:
    counts = _study.count_trials(study)
    if counts.finished < settings.min_trials_for_failure_rate or counts.finished == 0:
        return
    rate = counts.failed / counts.finished
    if rate > settings.max_failure_rate:
        failed = [
            trial
            for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
            if trial.user_attrs.get(_study.FAIL_REASON_ATTR) not in _study.NOT_COUNTED
        ]
        last_error = failed[-1].user_attrs.get(_study.ERROR_ATTR, "") if failed else ""
        raise SweepAbortedError(
            f"{counts.failed} of {counts.finished} finished trials failed ({rate:.0%} > "
            f"hydra.sweeper.max_failure_rate={settings.max_failure_rate}); last error: {last_error}. "
            "Each failed trial keeps its error in the user attribute 'error' and its log in its job directory."
        )
