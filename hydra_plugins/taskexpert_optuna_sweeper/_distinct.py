"""Trials that do not repeat what the study already holds.

A seeded sampler restarted after a kill would replay the draws of trials 0, 1, ... (and two sweepers sharing a
study would draw the same stream). So a seeded sampler is rebuilt for every trial from its seed and the trial's
number: a resumed study continues the stream, deterministically, instead of replaying it.

A parameter set is held by a finished trial that counts toward n_trials, a running one or a queued one.
Interrupted trials and trials whose config could not be composed hold nothing: their points may run again.
`DistinctSampler` redraws a held set a few times; a finite space then takes a random point nobody holds.
"""

from __future__ import annotations

import logging
import math
import random
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from ._search_space import SearchSpace
from ._study import FAIL_REASON_ATTR, NOT_COUNTED

log = logging.getLogger(__name__)

DRAW_ATTEMPTS = 20  # redraws of the wrapped sampler before a finite space takes an unheld point at random
_HOLDING_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)

ParamsKey = tuple[tuple[str, Any], ...]


def _normal(value: Any) -> Any:
    """Floats rounded, so that a sampled 0.30000000000000004 equals the written 0.3."""
    return float(f"{value:.12g}") if isinstance(value, float) else value


def params_key(params: Mapping[str, Any]) -> ParamsKey:
    """A parameter set as a hashable key."""
    return tuple(sorted((name, _normal(value)) for name, value in params.items()))


def _holds(trial: FrozenTrial) -> bool:
    if trial.state in _HOLDING_STATES:
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get(FAIL_REASON_ATTR) not in NOT_COUNTED


def _fixed_params(trial: FrozenTrial) -> Mapping[str, Any]:
    return trial.system_attrs.get("fixed_params") or {}


def held_param_sets(study: optuna.Study, except_number: int | None = None) -> set[ParamsKey]:
    """The parameter sets the study holds; a queued trial holds the values it was enqueued with."""
    # from the storage, not `study.get_trials`: pruners such as Hyperband hand samplers a filtered study
    trials = study._storage.get_all_trials(study._study_id, deepcopy=False)
    return {
        params_key(trial.params or _fixed_params(trial))
        for trial in trials
        if trial.number != except_number and _holds(trial) and (trial.params or _fixed_params(trial))
    }


def trial_seed(seed: int, trial_number: int) -> int:
    """A seed of its own for each trial, derived from the study's seed and the trial's number."""
    return int(np.random.SeedSequence([seed, trial_number]).generate_state(1)[0])


class FinitePoints:
    """The points of a search space whose every parameter has a finite list of values.

    Point i is the i-th of the nested loops over the lists, the first parameter outermost (Hydra's grid order).
    """

    def __init__(self, values: Mapping[str, list[Any]]) -> None:
        self._names = list(values)
        self._values = [list(values[name]) for name in self._names]
        self._allowed = [{_normal(value) for value in values} for values in self._values]
        self.size = math.prod(len(vs) for vs in self._values)

    def point(self, index: int) -> dict[str, Any]:
        point: dict[str, Any] = {}
        for name, values in zip(reversed(self._names), reversed(self._values), strict=True):
            index, position = divmod(index, len(values))
            point[name] = values[position]
        return {name: point[name] for name in self._names}

    def contains(self, key: ParamsKey) -> bool:
        by_name = dict(key)
        return set(by_name) == set(self._names) and all(
            by_name[name] in allowed for name, allowed in zip(self._names, self._allowed, strict=True)
        )

    def held_count(self, held: set[ParamsKey]) -> int:
        return sum(1 for key in held if self.contains(key))

    def unheld(self, held: set[ParamsKey], start: int = 0) -> Iterator[dict[str, Any]]:
        """The points nobody holds, in grid order from point `start` on, wrapping around."""
        for offset in range(self.size):
            point = self.point((start + offset) % self.size)
            if params_key(point) not in held:
                yield point


class DistinctSampler(BaseSampler):
    """Wraps the configured sampler: per-trial seeds, and (when `distinct`) no parameter set the study holds.

    All searched parameters are drawn together in `sample_relative` (the wrapped sampler's own relative and
    independent draws), so a whole set can be checked and drawn again. Enqueued trials keep their values.
    """

    def __init__(
        self,
        build: Callable[[int | None], BaseSampler],
        seed: int | None,
        distributions: Mapping[str, BaseDistribution],
        points: FinitePoints | None,
        distinct: bool = True,
        attempts: int = DRAW_ATTEMPTS,
    ) -> None:
        self._build, self._seed = build, seed
        self._base = build(seed)
        self._distributions = dict(distributions)
        self._points, self._attempts = points, attempts if distinct else 1
        self._distinct = distinct
        self._rng = random.Random(seed)

    def reseed_rng(self) -> None:
        self._base.reseed_rng()
        self._rng.seed()

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self._seed is not None:
            seed = trial_seed(self._seed, trial.number)
            with warnings.catch_warnings():  # e.g. "multivariate is experimental", said once already
                warnings.simplefilter("ignore")
                self._base = self._build(seed)
            self._rng.seed(seed)
        self._base.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {} if _fixed_params(trial) else dict(self._distributions)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        if not self._distinct:
            return self._draw(study, trial, search_space)
        held = held_param_sets(study, except_number=trial.number)
        params: dict[str, Any] = {}
        for _ in range(self._attempts):
            params = self._draw(study, trial, search_space)
            if params_key(params) not in held:
                return params
        if self._points is not None and set(search_space) == set(self._distributions):
            for point in self._points.unheld(held, start=self._rng.randrange(self._points.size)):
                log.info(
                    "trial %d: the sampler kept drawing held parameter sets; %s instead", trial.number, point
                )
                return point
        log.warning("trial %d repeats the parameter set %s: no other one was found", trial.number, params)
        return params

    def _draw(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        base_relative = {
            name: distribution
            for name, distribution in self._base.infer_relative_search_space(study, trial).items()
            if name in search_space
        }
        relative = self._base.sample_relative(study, trial, base_relative) if base_relative else {}
        return {
            name: relative[name]
            if name in relative
            else self._base.sample_independent(study, trial, name, distribution)
            for name, distribution in search_space.items()
        }

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._base.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        self._base.after_trial(study, trial, state, values)


def finite_points(space: SearchSpace) -> FinitePoints | None:
    """The points of the search space when every parameter has a finite list of values, else None."""
    if not space.params or any(param.grid_values is None for param in space.params):
        return None
    return FinitePoints(space.grid())
